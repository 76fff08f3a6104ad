// The daemon's REST API: Fastify routes over DaemonApi (contract.ts) for exactly the operations
// of openapi.ts, bearer-token auth, one JSON error shape for every failure
// ({ error: { code, message, details } }) and listeners on a unix socket and/or TCP.
import { httpStatus } from './errors.js';

import { createHash, timingSafeEqual } from 'node:crypto';
import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import { BlockList, connect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { fastify } from 'fastify';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify';
import { ApiError, ErrorCodes } from '../daemon/contract.js';
import type { BackendInput, DaemonApi, ServiceInput } from '../daemon/contract.js';
import { OPERATIONS, openApiDocument, schemas } from './openapi.js';
import type { Operation, OperationId } from './openapi.js';
import { formatPath } from '../model/config-schema.js';
import { runDirFix } from '../util/host.js';
import { accessHint } from '../util/users.js';

export interface RequestRecord {
  method: string;
  url: string;
  status: number;
  ms: number;
}

export interface ApiServerOptions {
  daemon: DaemonApi;
  /** Unix socket path (default: none). */
  socket?: string;
  /** The group the socket is given to (mode 0660: its members may use the API); default the daemon's. */
  socketGid?: number;
  /** TCP listen address and port; default host 127.0.0.1. */
  host?: string;
  port?: number;
  /**
   * Bearer token; required for TCP on every address, loopback included (any local user, and a
   * browser page through DNS rebinding, can reach a loopback port). When set, every route but
   * /healthz and /readyz requires `Authorization: Bearer <token>`, on the socket too.
   */
  token?: string;
  /**
   * The Host header values a TCP listener answers (others get XLB_FORBIDDEN: DNS rebinding). The
   * listen address with its port, and `localhost:PORT` on loopback, are always allowed; these
   * add names (e.g. the one Prometheus scrapes), with or without a port.
   */
  allowedHosts?: string[];
  /** Called for every request (method, url, status, ms): the daemon logs it. */
  onRequest?: (r: RequestRecord) => void;
  /** Called with every unexpected error (answered XLB_INTERNAL): the daemon logs it. Default: stderr. */
  onError?: (error: unknown, r: { method: string; url: string }) => void;
}

export const DEFAULT_HOST = '127.0.0.1';
const SOCKET_MODE = 0o660;
const BODY_LIMIT = 1024 * 1024;
/** Fastify's Ajv defaults coerce types and silently drop unknown fields: a request must be exact. */
const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false } as const;
const INTERNAL_MESSAGE = 'an unexpected error; see the daemon log';
/** Longest path segment routed (service names are at most 63, backend ids about 50). */
const MAX_PARAM_LENGTH = 256;

// ---- building --------------------------------------------------------------------------------

/** The API with its routes registered, not listening (inject() drives it in tests). */
export function buildApi(opts: ApiServerOptions, hosts?: HostCheck): FastifyInstance {
  checkExposure(opts);
  const onError = opts.onError ?? logToStderr;
  const app = fastify({
    logger: false,
    exposeHeadRoutes: false,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ajv: { customOptions: AJV_OPTIONS },
    // Errors Fastify answers before a route runs: the same JSON shape as every other error.
    frameworkErrors: (error, req, reply) => {
      const message = /param/i.test(error.code)
        ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters: no service or backend has such a name`
        : `the URL ${JSON.stringify(req.url.slice(0, 200))} is not valid (bad percent-encoding): encode the name or id with encodeURIComponent`;
      void sendError(reply, new ApiError('XLB_BAD_REQUEST', message));
    },
    clientErrorHandler: answerClientError,
    // A request without Host is answered in the error shape (the TCP listener's Host check
    // refuses it; Node's own check would answer a bare 400).
    http: { requireHostHeader: false },
  });
  if (hosts !== undefined) app.addHook('onRequest', hostCheck(hosts));
  acceptJsonOnly(app);
  app.setErrorHandler((error: unknown, req, reply) => sendError(reply, toApiError(error, req, onError)));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new ApiError('XLB_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`)),
  );
  if (opts.token !== undefined) app.addHook('onRequest', bearerAuth(opts.token));
  if (opts.onRequest !== undefined) app.addHook('onResponse', requestLog(opts.onRequest, onError));
  for (const op of OPERATIONS) app.route(routeOf(op, opts.daemon));
  return app;
}

/** Refuses TCP without a token, on any address, and a token that cannot travel in a header. */
export function checkExposure(opts: Pick<ApiServerOptions, 'token' | 'host' | 'port'>): void {
  if (opts.token !== undefined && !/^[\x21-\x7e]+$/.test(opts.token)) {
    throw new Error(
      'the API token must be non-empty printable ASCII without spaces (it is sent in an HTTP header); ' +
        'pass another --api-token-file or XLB_API_TOKEN',
    );
  }
  if (opts.token === undefined && (opts.host !== undefined || opts.port !== undefined)) {
    const host = opts.host ?? DEFAULT_HOST;
    throw new Error(
      `binding ${host} needs a token: pass --api-token-file or XLB_API_TOKEN ` +
        (isLoopback(host)
          ? '(loopback too: every local user, and a web page through DNS rebinding, can reach a local port; ' +
            'the unix socket needs none: its file mode decides who may use it)'
          : '(or use the unix socket only)'),
    );
  }
}

/** The Host header values a TCP listener answers; filled once the port is known. */
export type HostCheck = Set<string>;

/** The Host values of a listener on `host`:`port`, plus `extra` names. Lowercase. */
export function allowedHostValues(host: string, port: number, extra: readonly string[] = []): HostCheck {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const literal = bare.includes(':') ? `[${bare}]` : bare;
  const out = new Set([`${literal}:${port}`.toLowerCase()]);
  if (isLoopback(bare)) out.add(`localhost:${port}`);
  for (const name of extra) {
    const n = name.toLowerCase();
    const withPort = /^(\[[^\]]+\]|[^:]+):\d+$/.test(n);
    out.add(withPort ? n : `${n.includes(':') && !n.startsWith('[') ? `[${n}]` : n}:${port}`);
  }
  return out;
}

/** DNS rebinding: a page of another origin reaches the port under its own name: refused. */
function hostCheck(allowed: HostCheck) {
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const host = (req.headers.host ?? '').toLowerCase();
    if (allowed.has(host)) return done();
    const first = [...allowed][0] ?? '';
    done(
      new ApiError(
        'XLB_FORBIDDEN',
        `${host === '' ? 'no Host header' : `the Host header ${JSON.stringify(host.slice(0, 100))} is not this API's address`}: ` +
          `send requests to http://${first}/ (other names are refused against DNS rebinding; the daemon's ` +
          '--api-host NAME admits one)',
      ),
    );
  };
}

/** A request Node's HTTP parser refused (malformed, headers too large): the one error shape. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // Bytes after a request that said `Connection: close` (e.g. a body its method does not carry):
  // that request is being answered, and its answer closes the connection; a second answer now
  // would be read as the first one's.
  if (err.code === 'HPE_CLOSED_CONNECTION') return;
  // A parse error after a response went out on this connection (bytes after a request the
  // answer closed): nothing more may be written, or the client would read a second answer.
  if (!socket.writable || (socket as Duplex & { bytesWritten?: number }).bytesWritten !== 0) {
    socket.destroy();
    return;
  }
  const large = err.code === 'HPE_HEADER_OVERFLOW';
  const status = large ? 431 : err.code === 'HPE_URI_TOO_LONG' ? 414 : 400;
  const message = large
    ? 'the request line and headers are too large (16 KiB at most): shorten the URL or the headers'
    : `malformed HTTP request (${err.code ?? err.message}): send HTTP/1.1`;
  const body = JSON.stringify({ error: { code: 'XLB_BAD_REQUEST', message } });
  socket.end(
    `HTTP/1.1 ${status} ${large ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8 or ::1 (also IPv4-mapped); a host name is not an address, so never loopback. */
export function isLoopback(host: string): boolean {
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** JSON bodies only; an empty body (e.g. POST /v1/reload) is no body whatever its content type. */
function acceptJsonOnly(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body.toString();
    if (text === '') done(null, undefined);
    else void parseJson(req, text, done); // the default parser is synchronous
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (body.length === 0) return done(null, undefined);
    const type = req.headers['content-type'] ?? '';
    done(
      new ApiError(
        'XLB_BAD_REQUEST',
        `unsupported content type ${JSON.stringify(type)}: send JSON with Content-Type: application/json`,
      ),
      undefined,
    );
  });
}

// ---- routes ----------------------------------------------------------------------------------

type Handler = (daemon: DaemonApi, req: FastifyRequest) => unknown;

interface RouteConfig {
  open?: boolean;
  hint?: string;
}

const paramsOf = (req: FastifyRequest): { name: string; id: string } =>
  req.params as { name: string; id: string };

let document: object | undefined;

const HANDLERS: { readonly [K in OperationId]: Handler } = {
  health: () => ({ status: 'ok' }),
  readiness: (d) => {
    if (!d.ready()) throw new ApiError('XLB_NOT_READY', ErrorCodes.XLB_NOT_READY.meaning);
    return { ready: true };
  },
  openapi: () => (document ??= openApiDocument()),
  metrics: (d) => d.metrics(),
  status: (d) => d.status(),
  stats: (d) => d.stats(),
  drift: (d) => d.drift(),
  config: (d) => d.dumpConfig(),
  reload: (d) => d.reload(),
  listServices: (d) => d.services(),
  addService: (d, req) => d.addService(req.body as ServiceInput),
  getService: (d, req) => d.service(paramsOf(req).name),
  removeService: (d, req) => d.removeService(paramsOf(req).name),
  addBackend: (d, req) => d.addBackend(paramsOf(req).name, req.body as BackendInput),
  removeBackend: (d, req) => d.removeBackend(paramsOf(req).name, paramsOf(req).id),
  patchBackend: (d, req) => patchBackend(d, paramsOf(req), req.body as { weight?: number; drain?: boolean }),
};

/** The body holds exactly one of weight and drain (the schema makes sure). */
function patchBackend(
  d: DaemonApi,
  p: { name: string; id: string },
  body: { weight?: number; drain?: boolean },
): unknown {
  if (body.weight !== undefined) return d.setWeight(p.name, p.id, body.weight);
  return body.drain === true ? d.drain(p.name, p.id) : d.undrain(p.name, p.id);
}

function schemaOf(op: Operation): FastifySchema {
  return {
    ...(op.params !== undefined ? { params: op.params } : {}),
    ...(op.body !== undefined ? { body: schemas[op.body] } : {}),
    ...(op.success.schema !== undefined
      ? { response: { [op.success.status]: schemas[op.success.schema] } }
      : {}),
  };
}

function routeOf(op: Operation & { operationId: OperationId }, daemon: DaemonApi): RouteOptions {
  const handle = HANDLERS[op.operationId];
  const config: RouteConfig = { open: op.open === true, ...(op.hint !== undefined ? { hint: op.hint } : {}) };
  return {
    method: op.method,
    url: op.url,
    schema: schemaOf(op),
    config,
    handler: async (req, reply) => {
      const result = await handle(daemon, req);
      reply.code(op.success.status);
      if (op.success.text !== undefined) reply.type(op.success.text);
      return op.success.status === 204 ? reply.send() : result;
    },
  };
}

const routeConfig = (req: FastifyRequest): RouteConfig => req.routeOptions.config as RouteConfig;

// ---- auth and logging ------------------------------------------------------------------------

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive). */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')?.[1];
}

/** Compares digests, so the comparison takes the same time whatever the given token. */
function bearerAuth(token: string) {
  const expected = digest(token);
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (routeConfig(req).open === true) return done();
    const given = bearerToken(req.headers.authorization);
    if (given === undefined) {
      return done(
        new ApiError(
          'XLB_UNAUTHORIZED',
          "this API needs a token: send 'Authorization: Bearer <token>' with the daemon's " +
            '--api-token-file (or XLB_API_TOKEN)',
        ),
      );
    }
    if (!timingSafeEqual(digest(given), expected)) {
      return done(
        new ApiError(
          'XLB_UNAUTHORIZED',
          "the bearer token is wrong: use the daemon's token (xlb --token-file FILE, or XLB_API_TOKEN)",
        ),
      );
    }
    done();
  };
}

function requestLog(log: (r: RequestRecord) => void, onError: NonNullable<ApiServerOptions['onError']>) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    try {
      log({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime });
    } catch (e) {
      onError(e, { method: req.method, url: req.url });
    }
    done();
  };
}

function logToStderr(error: unknown, r: { method: string; url: string }): void {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`xlb api: ${r.method} ${r.url}: ${text}\n`);
}

// ---- errors ----------------------------------------------------------------------------------

function isApiError(e: unknown): e is ApiError {
  if (e instanceof ApiError) return true;
  const o = e as { name?: unknown; code?: unknown } | null;
  return (
    typeof o === 'object' && o?.name === 'ApiError' && typeof o.code === 'string' && o.code in ErrorCodes
  );
}

interface AjvIssue {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}
interface FastifyClientError {
  code: string;
  statusCode: number;
  message: string;
  validation?: AjvIssue[];
  validationContext?: string;
}

/** Fastify's own 4xx errors: schema validation, JSON parsing, body size, content type. */
function isFastifyClientError(e: unknown): e is FastifyClientError {
  const o = e as Partial<FastifyClientError> | null;
  return (
    typeof o === 'object' &&
    typeof o?.code === 'string' &&
    o.code.startsWith('FST_') &&
    typeof o.statusCode === 'number' &&
    o.statusCode >= 400 &&
    o.statusCode < 500
  );
}

/** Maps anything thrown to the ApiError to answer with. */
function toApiError(
  error: unknown,
  req: FastifyRequest,
  onError: NonNullable<ApiServerOptions['onError']>,
): ApiError {
  if (isApiError(error)) return error;
  const hint = routeConfig(req).hint;
  if (isFastifyClientError(error)) {
    if (error.validation !== undefined)
      return validationError(error.validation, error.validationContext, hint);
    return new ApiError('XLB_BAD_REQUEST', withHint(error.message, hint));
  }
  onError(error, { method: req.method, url: req.url });
  return new ApiError('XLB_INTERNAL', INTERNAL_MESSAGE);
}

const withHint = (message: string, hint: string | undefined): string =>
  hint === undefined ? message : `${message}; ${hint}`;

function validationError(issues: AjvIssue[], where = 'body', hint?: string): ApiError {
  const details = issues.map((i) => ({ in: where, ...describeIssue(i) }));
  const first = details[0];
  const what = first === undefined ? 'is malformed' : `${first.path} ${first.message}`.trim();
  return new ApiError('XLB_BAD_REQUEST', withHint(`invalid request ${where}: ${what}`, hint), details);
}

/** An Ajv issue as { path, message } with the path in the config's notation (a.b[0].c). */
function describeIssue(i: AjvIssue): { path: string; message: string } {
  const segments = i.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const { missingProperty, additionalProperty } = i.params;
  if (typeof missingProperty === 'string') {
    return { path: formatPath([...segments, missingProperty]), message: 'is missing' };
  }
  if (typeof additionalProperty === 'string') {
    return { path: formatPath([...segments, additionalProperty]), message: 'is not a known field' };
  }
  return { path: formatPath(segments), message: i.message ?? 'is invalid' };
}

function sendError(reply: FastifyReply, e: ApiError): FastifyReply {
  if (e.code === 'XLB_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="xlb"');
  const error = {
    code: e.code,
    message: e.message,
    ...(e.details !== undefined ? { details: e.details } : {}),
  };
  return reply.code(httpStatus[e.code]).type('application/json; charset=utf-8').send({ error });
}

// ---- listening -------------------------------------------------------------------------------

export interface RunningApi {
  close(): Promise<void>;
  /** 'unix:/path' and/or 'http://host:port' (the port actually bound). */
  addresses: string[];
}

/** Listens on the unix socket (mode 0660, a stale socket file removed first) and/or TCP. */
export async function startApi(opts: ApiServerOptions): Promise<RunningApi> {
  if (opts.host !== undefined && opts.port === undefined) {
    throw new Error(`the API host ${opts.host} needs a TCP port too`);
  }
  if (opts.socket === undefined && opts.port === undefined) {
    throw new Error('the API needs somewhere to listen: give a unix socket path or a TCP port');
  }
  const apps: FastifyInstance[] = [];
  const addresses: string[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(apps.map((app) => app.close()));
  };
  try {
    if (opts.socket !== undefined) {
      const app = buildApi(opts);
      apps.push(app);
      addresses.push(await listenSocket(app, opts.socket, opts.socketGid));
    }
    if (opts.port !== undefined) {
      const hosts: HostCheck = new Set();
      const app = buildApi(opts, hosts);
      apps.push(app);
      const address = await listenTcp(app, opts.host ?? DEFAULT_HOST, opts.port);
      const url = new URL(address);
      for (const h of allowedHostValues(url.hostname, Number(url.port), opts.allowedHosts)) hosts.add(h);
      addresses.push(address);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { close, addresses };
}

async function listenSocket(app: FastifyInstance, path: string, gid: number | undefined): Promise<string> {
  try {
    await removeStaleSocket(path);
    await app.listen({ path });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw e;
    throw new Error(`cannot listen on the API socket ${path}: ${code} — ${accessHint(path, runDirFix())}`, {
      cause: e,
    });
  }
  // The group before the mode: until both are set, only the daemon's user can connect.
  if (gid !== undefined) await chown(path, -1, gid);
  await chmod(path, SOCKET_MODE);
  return `unix:${path}`;
}

async function listenTcp(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const a = app.server.address();
  if (a === null || typeof a === 'string')
    throw new Error(`the API listens on ${host}:${port} but has no address`);
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
}

/** Removes a socket file nobody listens on; refuses a live socket and anything not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket) {
    throw new Error(`${path} exists and is not a socket: remove it or choose another API socket path`);
  }
  if (await socketAnswers(path)) {
    throw new Error(`another process listens on ${path} (is another xlb daemon running?)`);
  }
  await unlink(path);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(e);
    });
  });
}
