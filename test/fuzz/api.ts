// The API fuzzer: requests made from the OpenAPI document (every path and method, parameters
// and bodies from the schemas, then mutated: wrong types, unknown fields, missing ones, huge or
// odd values, bad percent-encoding, wrong methods, content types, tokens and Host headers, and
// raw malformed HTTP), sent to a real daemon. Every answer must be below 500 and, when it is an
// error, in the one error shape with a known code; a refused request must leave the daemon's
// configuration and generation as they were.
import { connect } from 'node:net';
import { request } from 'node:http';
import { ErrorCodes } from '../../src/daemon/contract.js';
import { openApiDocument } from '../../src/api/openapi.js';
import { int, pick, rng } from '../helpers/random.js';

export interface ApiTarget {
  /** The daemon's TCP address (http://HOST:PORT) and socket. */
  url: string;
  socket: string;
  token: string;
  /** Names of existing services and ids of their backends (to aim at real objects sometimes). */
  services: () => Promise<{ name: string; backends: string[] }[]>;
}

export interface ApiFinding {
  seed: number;
  index: number;
  request: string;
  status: number;
  body: string;
  check: string;
}

export interface ApiFuzzResult {
  calls: number;
  byStatus: Record<string, number>;
  findings: ApiFinding[];
  /** Refused mutating requests whose snapshot was compared before and after. */
  refusedChecked: number;
}

interface Req {
  via: 'tcp' | 'socket';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}
interface Res {
  status: number;
  body: string;
  contentType: string;
  /** The server closed the connection while an oversized body was still being sent (a refusal). */
  cutOff?: boolean;
}

/**
 * A large body may be refused before it is read whole (above the 1 MiB limit, or by a refusal
 * such as a wrong token that comes before the body is read): the server answers and closes while
 * the client still writes, and the client sees EPIPE or a reset instead of the answer.
 */
const EARLY_ANSWER_BYTES = 64 * 1024;

type Schema = Record<string, unknown>;
const doc = openApiDocument() as {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
};

function deref(s: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  return doc.components.schemas[ref.split('/').pop() ?? ''] ?? {};
}

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'lo\u0000x',
  '../../etc/passwd',
  '%00',
  '🙂',
  'x'.repeat(5000),
  '192.0.2.1',
  '::1',
  'fd00::1',
  '*',
  '0.0.0.0',
  '255.255.255.255',
  '1e400',
  '{}',
  '[]',
  'null',
  '<script>',
  "'; DROP TABLE x; --",
];
const ODD_NUMBERS = [
  0,
  -1,
  1,
  53,
  65535,
  65536,
  2 ** 31,
  2 ** 53,
  -(2 ** 53),
  0.5,
  1e308,
  Number.MAX_SAFE_INTEGER,
];

/** A value for `schema`: mostly valid, sometimes odd. */
function value(schema: Schema, r: () => number, depth = 0): unknown {
  const s = deref(schema);
  if (Array.isArray(s.enum) && r() < 0.8) return pick(r, s.enum as unknown[]);
  if (Array.isArray(s.oneOf)) return value(pick(r, s.oneOf as Schema[]), r, depth);
  const type = Array.isArray(s.type) ? pick(r, s.type as string[]) : s.type;
  if (r() < 0.08) return oddValue(r, depth);
  switch (type) {
    case 'integer':
    case 'number': {
      const lo = typeof s.minimum === 'number' ? s.minimum : 0;
      const hi = typeof s.maximum === 'number' ? s.maximum : 70000;
      return r() < 0.85 ? int(r, lo, Math.min(hi, lo + 70000)) : pick(r, ODD_NUMBERS);
    }
    case 'boolean':
      return r() < 0.5;
    case 'string':
      return r() < 0.7
        ? pick(r, ['198.51.100.77', 'fd00:198::77', '192.0.2.99', 'svc-a', 'udp', 'nat', '53', '2s'])
        : pick(r, ODD_STRINGS);
    case 'array': {
      if (depth > 4) return [];
      const items = (s.items as Schema | undefined) ?? {};
      return Array.from({ length: int(r, 0, 3) }, () => value(items, r, depth + 1));
    }
    case 'object':
    default: {
      if (depth > 4) return {};
      const props = (s.properties as Record<string, Schema> | undefined) ?? {};
      const required = new Set((s.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      for (const [k, p] of Object.entries(props)) {
        if (required.has(k) ? r() < 0.95 : r() < 0.4) out[k] = value(p, r, depth + 1);
      }
      if (r() < 0.1)
        out[pick(r, ['extra', '__proto__', 'constructor', 'health', 'command'])] = oddValue(r, depth + 1);
      return out;
    }
  }
}

function oddValue(r: () => number, depth: number): unknown {
  switch (int(r, 0, 6)) {
    case 0:
      return null;
    case 1:
      return pick(r, ODD_NUMBERS);
    case 2:
      return pick(r, ODD_STRINGS);
    case 3:
      return depth > 3 ? [] : [oddValue(r, depth + 1)];
    case 4:
      return { type: 'exec', command: ['touch', '/tmp/xlb-api-fuzz-ran'] };
    case 5: {
      let deep: unknown = 1;
      for (let i = 0; i < int(r, 10, 2000); i++) deep = [deep];
      return deep;
    }
    default:
      return true;
  }
}

/** A body for the operation: JSON of a (mutated) schema value, or raw junk. */
function body(schema: Schema | undefined, r: () => number): { text: string; type: string } | undefined {
  const x = r();
  if (schema === undefined && x < 0.85) return undefined;
  if (x < 0.06) return { text: '{', type: 'application/json' };
  if (x < 0.09) return { text: 'name=x', type: 'application/x-www-form-urlencoded' };
  if (x < 0.11) return { text: 'x'.repeat(int(r, 1, 2_000_000)), type: 'application/json' };
  if (x < 0.13)
    return {
      text: JSON.stringify(value({}, r)),
      type: pick(r, ['text/plain', 'application/json; charset=latin1', '']),
    };
  return { text: JSON.stringify(value(schema ?? { type: 'object' }, r)), type: 'application/json' };
}

function segment(real: string[], r: () => number): string {
  const x = r();
  if (x < 0.55 && real.length > 0) return encodeURIComponent(pick(r, real));
  if (x < 0.7) return encodeURIComponent(pick(r, ODD_STRINGS));
  if (x < 0.8) return pick(r, ['%E0%A4%A', '%ZZ', '%', '%00', '..', '.', 'a%2Fb']);
  return encodeURIComponent(`x${int(r, 0, 999)}`);
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'];

async function makeRequest(target: ApiTarget, r: () => number): Promise<Req> {
  const paths = Object.entries(doc.paths);
  const [path, ops] = pick(r, paths);
  const methods = Object.keys(ops);
  const opMethod = pick(r, methods);
  const method = r() < 0.85 ? opMethod.toUpperCase() : pick(r, METHODS);
  const op = ops[opMethod];
  const schema = op?.requestBody?.content['application/json']?.schema;
  const services = await target.services();
  const names = services.map((s) => s.name);
  const ids = services.flatMap((s) => s.backends);
  let url = path.replace('{name}', () => segment(names, r)).replace('{id}', () => segment(ids, r));
  if (r() < 0.05) url += pick(r, ['/', '?x=1', '?%ZZ', '#frag', `?${'q'.repeat(3000)}`, '/extra']);
  if (r() < 0.03) url = `/${pick(r, ODD_STRINGS.map(encodeURIComponent))}`;
  const via = r() < 0.5 ? 'tcp' : 'socket';
  const headers: Record<string, string> = {};
  const auth = r();
  if (auth < 0.85) headers.authorization = `Bearer ${target.token}`;
  else if (auth < 0.92)
    headers.authorization = pick(r, ['Bearer wrong', 'Basic eA==', 'Bearer', `Bearer ${target.token}x`]);
  if (via === 'tcp' && r() < 0.08)
    headers.host = pick(r, ['evil.example', 'localhost', '127.0.0.1', '[::1]:1', '']);
  const b = body(schema, r);
  if (b !== undefined && b.type !== '') headers['content-type'] = b.type;
  return { via, method, path: url, headers, ...(b ? { body: b.text } : {}) };
}

function send(target: ApiTarget, q: Req): Promise<Res> {
  const where =
    q.via === 'socket'
      ? { socketPath: target.socket }
      : { host: new URL(target.url).hostname, port: Number(new URL(target.url).port) };
  return new Promise((resolve, reject) => {
    const req = request(
      { ...where, method: q.method, path: q.path, headers: q.headers, agent: false, timeout: 20_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c.length + text.length > 1e6 ? '' : c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            contentType: String(res.headers['content-type'] ?? ''),
          }),
        );
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(q.body);
  });
}

/** Raw bytes over TCP for what an HTTP client would not send. */
function sendRaw(target: ApiTarget, text: string): Promise<Res> {
  const u = new URL(target.url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    let out = '';
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => {
      const [head = '', ...rest] = out.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d+)/.exec(head)?.[1] ?? 0);
      const contentType = /content-type: *([^\r\n]+)/i.exec(head)?.[1] ?? '';
      resolve({ status, body: rest.join('\r\n\r\n'), contentType });
    });
    s.on('error', () => undefined);
    s.end(text);
  });
}

function rawRequest(target: ApiTarget, r: () => number): string {
  const host = new URL(target.url).host;
  const auth = `Authorization: Bearer ${target.token}\r\n`;
  return pick(r, [
    `GARBAGE\r\n\r\n`,
    `GET /v1/status HTTP/9.9\r\nHost: ${host}\r\n${auth}\r\n`,
    `FOO /v1/status HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
    `GET /v1/${'a'.repeat(20000)} HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
    `GET /v1/status HTTP/1.1\r\nHost: ${host}\r\nX: ${'b'.repeat(20000)}\r\n${auth}\r\n`,
    `POST /v1/services HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    `GET /v1/services/%E0%A4%A HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`,
    `GET /v1/status HTTP/1.1\r\n${auth}\r\n`,
  ]);
}

/** What a refused request must not change: the running configuration and the generation. */
async function snapshot(target: ApiTarget): Promise<string> {
  const headers = { authorization: `Bearer ${target.token}` };
  const config = await send(target, { via: 'socket', method: 'GET', path: '/v1/config', headers });
  const status = await send(target, { via: 'socket', method: 'GET', path: '/v1/status', headers });
  const generation = (JSON.parse(status.body) as { generation?: number }).generation;
  return `${generation}\n${config.body.replace(/generation \d+/, '')}`;
}

const CODES = new Set(Object.keys(ErrorCodes));

function check(res: Res, method: string): string | undefined {
  if (res.cutOff === true) return undefined;
  if (res.status === 0) return 'no HTTP answer';
  if (res.status >= 500) return `status ${res.status}`;
  if (res.status < 400) return undefined;
  if (!/^application\/json/.test(res.contentType))
    return `error with content type ${res.contentType || 'none'}`;
  if (method === 'HEAD') return res.body === '' ? undefined : 'a HEAD answer with a body';
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    return 'error body is not JSON';
  }
  const e = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Object.keys(parsed).join() !== 'error' ||
    e === undefined
  )
    return 'error body is not { error: … }';
  if (typeof e.code !== 'string' || !CODES.has(e.code)) return `unknown error code ${String(e.code)}`;
  if (typeof e.message !== 'string' || e.message === '') return 'error without a message';
  return undefined;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function fuzzApi(
  target: ApiTarget,
  opts: { calls: number; seed: number },
): Promise<ApiFuzzResult> {
  const r = rng(opts.seed);
  const result: ApiFuzzResult = { calls: 0, byStatus: {}, findings: [], refusedChecked: 0 };
  for (let i = 0; i < opts.calls; i++) {
    const raw = r() < 0.03;
    let described: string;
    let method = 'GET';
    let res: Res;
    let before: string | undefined;
    if (raw) {
      const text = rawRequest(target, r);
      described = `raw ${JSON.stringify(text.slice(0, 120))}`;
      res = await sendRaw(target, text);
    } else {
      const q = await makeRequest(target, r);
      method = q.method;
      described = `${q.via} ${q.method} ${q.path.slice(0, 200)} ${JSON.stringify(q.headers).slice(0, 200)} ${(q.body ?? '').slice(0, 200)}`;
      if (MUTATING.has(q.method)) before = await snapshot(target);
      try {
        res = await send(target, q);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const cutOff =
          (code === 'EPIPE' || code === 'ECONNRESET') && (q.body?.length ?? 0) > EARLY_ANSWER_BYTES;
        res = { status: cutOff ? 413 : 0, body: (e as Error).message, contentType: '', cutOff };
      }
      if (before !== undefined && res.status >= 400) {
        result.refusedChecked++;
        const after = await snapshot(target);
        if (after !== before) {
          result.findings.push({
            seed: opts.seed,
            index: i,
            request: described,
            status: res.status,
            body: res.body.slice(0, 500),
            check: 'a refused request changed the configuration',
          });
        }
      }
    }
    result.calls++;
    result.byStatus[res.status] = (result.byStatus[res.status] ?? 0) + 1;
    const problem = check(res, method);
    if (problem !== undefined) {
      result.findings.push({
        seed: opts.seed,
        index: i,
        request: described,
        status: res.status,
        body: res.body.slice(0, 500),
        check: problem,
      });
    }
  }
  return result;
}
