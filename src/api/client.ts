// The REST API's client: JSON over HTTP on the daemon's unix socket (or TCP), one method
// per route. Error bodies become ApiError with the server's code, message and details;
// a daemon that cannot be reached becomes an Error that says how to fix it.
import { httpStatus } from './errors.js';
import http from 'node:http';
import https from 'node:https';
import { instancePaths } from '../util/host.js';
import {
  ApiError,
  ErrorCodes,
  type BackendInput,
  type BackendView,
  type DriftView,
  type ErrorCode,
  type ServiceInput,
  type ServiceView,
  type StatsView,
  type StatusView,
} from '../daemon/contract.js';

export interface ApiClientOptions {
  /** Unix socket of the daemon (the default when neither is given: the default instance's). */
  socket?: string;
  /** http://host:port (or https://) of the daemon; wins over `socket`. */
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Responses larger than this are refused (a config dump of 4,096 services fits easily). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** The unix socket of an instance's daemon: /run/xlb/NAME.sock (XLB_RUN_DIR moves it). */
export function defaultSocket(instance: string): string {
  return instancePaths(instance).socket;
}

interface Response {
  status: number;
  contentType: string;
  body: string;
}

/** What to do about a connection error, by errno. */
const HINTS: Record<string, string> = {
  EACCES:
    "run as root, or as a member of the socket's group (the daemon's --api-socket-group; ls -l shows it)",
  EPERM:
    "run as root, or as a member of the socket's group (the daemon's --api-socket-group; ls -l shows it)",
  ETIMEDOUT: 'is the daemon busy or stopped? (systemctl status xlb)',
};
const connectHint = (code: string | undefined): string =>
  (code === undefined ? undefined : HINTS[code]) ?? 'is `xlb daemon` running? (systemctl status xlb)';

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** The code of an error body without one: the only code with that HTTP status, else XLB_INTERNAL. */
function codeOfStatus(status: number): ErrorCode {
  const codes = (Object.keys(ErrorCodes) as ErrorCode[]).filter((c) => httpStatus[c] === status);
  return codes.length === 1 && codes[0] ? codes[0] : 'XLB_INTERNAL';
}

/** An error response as ApiError: the server's code/message/details when the body has them. */
export function errorFromResponse(status: number, body: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (error && typeof error.message === 'string') {
    if (isErrorCode(error.code)) return new ApiError(error.code, error.message, error.details);
    return new ApiError('XLB_INTERNAL', `${String(error.code)}: ${error.message}`, error.details);
  }
  const text = body.trim().slice(0, 200);
  return new ApiError(codeOfStatus(status), `the daemon answered HTTP ${status}${text ? `: ${text}` : ''}`);
}

export class ApiClient {
  private readonly target: { socketPath: string } | { url: URL };
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ApiClientOptions = {}) {
    if (opts.url !== undefined) {
      const url = new URL(opts.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`--url ${opts.url}: use http://HOST:PORT or https://HOST:PORT`);
      }
      this.target = { url };
    } else {
      this.target = { socketPath: opts.socket ?? defaultSocket('default') };
    }
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Where requests go, for messages: the socket path or the URL's origin. */
  get where(): string {
    return 'socketPath' in this.target ? this.target.socketPath : this.target.url.origin;
  }

  status(): Promise<StatusView> {
    return this.json<StatusView>('GET', '/v1/status');
  }
  stats(): Promise<StatsView> {
    return this.json<StatsView>('GET', '/v1/stats');
  }
  drift(): Promise<DriftView> {
    return this.json<DriftView>('GET', '/v1/drift');
  }
  async config(): Promise<string> {
    return (await this.request('GET', '/v1/config')).body;
  }
  reload(): Promise<StatusView> {
    return this.json<StatusView>('POST', '/v1/reload');
  }
  async services(): Promise<ServiceView[]> {
    const r = await this.json<ServiceView[] | { services: ServiceView[] }>('GET', '/v1/services');
    return Array.isArray(r) ? r : r.services;
  }
  service(name: string): Promise<ServiceView> {
    return this.json<ServiceView>('GET', servicePath(name));
  }
  addService(input: ServiceInput): Promise<ServiceView> {
    return this.json<ServiceView>('POST', '/v1/services', input);
  }
  async removeService(name: string): Promise<void> {
    await this.request('DELETE', servicePath(name));
  }
  addBackend(service: string, input: BackendInput): Promise<BackendView> {
    return this.json<BackendView>('POST', `${servicePath(service)}/backends`, input);
  }
  async removeBackend(service: string, id: string): Promise<void> {
    await this.request('DELETE', backendPath(service, id));
  }
  setWeight(service: string, id: string, weight: number): Promise<BackendView> {
    return this.json<BackendView>('PATCH', backendPath(service, id), { weight });
  }
  drain(service: string, id: string): Promise<BackendView> {
    return this.json<BackendView>('PATCH', backendPath(service, id), { drain: true });
  }
  undrain(service: string, id: string): Promise<BackendView> {
    return this.json<BackendView>('PATCH', backendPath(service, id), { drain: false });
  }
  async metrics(): Promise<string> {
    return (await this.request('GET', '/metrics')).body;
  }
  /** GET /healthz and /readyz: true on 2xx, false on 503 (not ready). */
  async healthy(): Promise<boolean> {
    return this.probe('/healthz');
  }
  async ready(): Promise<boolean> {
    return this.probe('/readyz');
  }

  private async probe(path: string): Promise<boolean> {
    try {
      await this.request('GET', path);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'XLB_NOT_READY') return false;
      throw e;
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    try {
      return JSON.parse(r.body) as T;
    } catch {
      throw new ApiError('XLB_INTERNAL', `${method} ${path}: the daemon's answer is not JSON`);
    }
  }

  /** One request; resolves on 2xx, rejects with ApiError otherwise. */
  request(method: string, path: string, body?: unknown): Promise<Response> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        reject(e);
        req.destroy();
      };
      const req = this.open(method, path, headers, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(new Error(`${method} ${path}: the daemon's answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
          } else chunks.push(c);
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(this.connectError(e)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status >= 200 && status < 300) {
            resolve({ status, contentType: res.headers['content-type'] ?? '', body: text });
          } else {
            reject(errorFromResponse(status, text));
          }
        });
      });
      req.setTimeout(this.timeoutMs, () => fail(this.connectError(timeoutError())));
      req.on('error', (e: NodeJS.ErrnoException) => fail(this.connectError(e)));
      req.end(payload);
    });
  }

  private open(
    method: string,
    path: string,
    headers: Record<string, string>,
    onResponse: (res: http.IncomingMessage) => void,
  ): http.ClientRequest {
    if ('socketPath' in this.target) {
      return http.request({ socketPath: this.target.socketPath, path, method, headers }, onResponse);
    }
    const { url } = this.target;
    const transport = url.protocol === 'https:' ? https : http;
    const base = url.pathname.replace(/\/$/, ''); // a daemon behind a path prefix
    return transport.request(new URL(`${base}${path}`, url), { method, headers }, onResponse);
  }

  private connectError(e: NodeJS.ErrnoException): Error {
    if (e.code === 'ETIMEDOUT') {
      return new Error(
        `the xlb daemon at ${this.where} did not answer within ${this.timeoutMs} ms: ${connectHint(e.code)}`,
      );
    }
    const code = e.code ?? e.message;
    return new Error(`cannot reach the xlb daemon at ${this.where} (${code}): ${connectHint(e.code)}`);
  }
}

function timeoutError(): NodeJS.ErrnoException {
  return Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });
}

function servicePath(name: string): string {
  return `/v1/services/${encodeURIComponent(name)}`;
}

function backendPath(service: string, id: string): string {
  return `${servicePath(service)}/backends/${encodeURIComponent(id)}`;
}
