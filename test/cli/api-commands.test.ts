// The API commands of the CLI (status, service, backend, top, config) run for real against a
// small in-test daemon: an HTTP server on a unix socket (and on TCP) that implements the
// REST routes from an in-memory state. Checks human and --json output, the requests sent,
// error mapping (ApiError -> exit 1 with its code, usage -> exit 2) and the fix hint for an
// unreachable daemon. The CLI runs as a child process; the server answers from this one, so
// children are awaited (spawn), never run synchronously.
import { httpStatus } from '../../src/api/errors.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ApiClient, defaultSocket, errorFromResponse } from '../../src/api/client.js';
import {
  ApiError,
  type BackendView,
  type ErrorCode,
  type ServiceView,
  type StatsView,
  type StatusView,
} from '../../src/daemon/contract.js';
import { fit, rates, renderTop, topFrame } from '../../src/cli/commands/top.js';
import { Reasons } from '../../src/abi/abi.js';
import { CLI } from '../helpers/proc.js';
import { backendView as backend } from '../helpers/views.js';

// ---- the in-test daemon --------------------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  body: unknown;
  auth: string | undefined;
}

function initialServices(): ServiceView[] {
  return [
    {
      name: 'dns',
      vip: '192.0.2.1',
      port: 53,
      protocol: 'udp',
      family: 4,
      mode: 'nat',
      scheduler: 'maglev',
      packets: 3000,
      bytes: 192000,
      backends: [
        backend('10.0.0.1', 53, { packets: 2000, bytes: 128000, flows: 7 }),
        backend('10.0.0.2', 53, {
          packets: 1000,
          bytes: 64000,
          weight: 2,
          drained: true,
          active: false,
          flows: 1,
        }),
        backend('10.0.0.3', 53, { health: 'unhealthy', active: false, healthTransitions: 3 }),
      ],
    },
    {
      name: 'dns6',
      vip: 'fd00::100',
      port: 53,
      protocol: 'udp',
      family: 6,
      mode: 'fullnat',
      scheduler: 'round-robin',
      packets: 0,
      bytes: 0,
      backends: [backend('fd00::1', 53, { health: 'unknown' })],
    },
  ];
}

class FakeDaemon {
  services = initialServices();
  generation = 7;
  changes: string[] = [];
  reloadProblems: { path: string; line?: number; message: string }[] = [];
  token: string | undefined;
  /** The config file's first problem while it is invalid. */
  fileProblem: string | undefined;
  seen: Seen[] = [];
  reasons = Object.fromEntries(Reasons.map((r) => [r, { packets: 0, bytes: 0 }])) as StatsView['reasons'];

  reset(): void {
    this.services = initialServices();
    this.generation = 7;
    this.changes = [];
    this.reloadProblems = [];
    this.token = undefined;
    this.fileProblem = undefined;
    this.seen = [];
  }

  status(): StatusView {
    return {
      instance: 'default',
      version: '0.1.0',
      pid: 4242,
      startedAt: '2024-05-01T12:00:00.000Z',
      generation: this.generation,
      configFile: '/etc/xlb/xlb.yaml',
      configValid: this.fileProblem === undefined,
      ...(this.fileProblem
        ? { configInvalidSince: '2024-05-01T12:30:00.000Z', configProblem: this.fileProblem }
        : {}),
      drift: this.changes.length > 0,
      ready: true,
      interfaces: [
        { name: 'eth0', mode: 'native', hooks: { xdp: 'link', tcIngress: 'classic', tcEgress: 'classic' } },
        { name: 'lo', mode: 'generic', hooks: { xdp: 'link' } },
      ],
      kernel: {
        release: '6.1.0-57-amd64',
        forced: [],
        features: [
          { name: 'xdp_link', what: 'XDP through bpf_link', since: '5.9', available: true, forced: false },
          {
            name: 'tcx',
            what: 'tcx',
            since: '6.6',
            fallback: 'classic TC',
            available: false,
            forced: false,
          },
        ],
      },
      services: this.services.length,
      backends: this.services.reduce((n, s) => n + s.backends.length, 0),
      adopted: false,
    };
  }

  /** Every read of the stats counts traffic: 100 packets of 64 bytes per backend that is up. */
  stats(): StatsView {
    for (const s of this.services) {
      for (const b of s.backends.filter((x) => x.active)) {
        b.packets += 100;
        b.bytes += 6400;
        s.packets += 100;
        s.bytes += 6400;
        this.reasons[s.mode === 'nat' ? 'nat' : 'fullnat'].packets += 100;
      }
    }
    return {
      generation: this.generation,
      at: new Date().toISOString(),
      reasons: this.reasons,
      services: this.services,
    };
  }

  yaml(): string {
    const lines = ['interfaces: [eth0, eth1]', 'services:'];
    for (const s of this.services) {
      lines.push(`  - name: ${s.name}`, `    vip: "${s.vip}"`, `    port: ${s.port}`, '    backends:');
      for (const b of s.backends)
        lines.push(`      - { address: "${b.address}", port: ${b.port}, weight: ${b.weight} }`);
    }
    return `${lines.join('\n')}\n`;
  }

  service(name: string): ServiceView {
    const s = this.services.find((x) => x.name === name);
    if (!s) throw new ApiError('XLB_NOT_FOUND', `no service '${name}'`);
    return s;
  }

  backend(name: string, id: string): BackendView {
    const b = this.service(name).backends.find((x) => x.id === id);
    if (!b) throw new ApiError('XLB_NOT_FOUND', `no backend '${id}' in service '${name}'`);
    return b;
  }

  changed(line: string): void {
    this.generation++;
    this.changes.push(line);
  }
}

const daemon = new FakeDaemon();

function reply(res: ServerResponse, status: number, body?: unknown, type = 'application/json'): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type }).end(text);
}

function invalid(message: string, path: string): ApiError {
  return new ApiError('XLB_INVALID_CONFIG', 'the change makes the configuration invalid', [
    { path, message },
  ]);
}

function addService(body: Record<string, unknown>): ServiceView {
  const { name, vip, port, mode, scheduler, backends } = body as {
    name: string;
    vip: string;
    port: number;
    mode?: string;
    scheduler?: string;
    backends?: { address: string; port?: number; weight?: number }[];
  };
  if (daemon.services.some((s) => s.name === name))
    throw new ApiError('XLB_CONFLICT', `service '${name}' exists`);
  if (mode === 'bogus')
    throw invalid("mode must be local, nat, fullnat or dsr, got 'bogus'", 'services[2].mode');
  const s: ServiceView = {
    name,
    vip,
    port,
    protocol: 'udp',
    family: vip.includes(':') ? 6 : 4,
    mode: mode ?? 'local',
    scheduler: scheduler ?? 'maglev',
    packets: 0,
    bytes: 0,
    backends: (backends ?? []).map((b) => backend(b.address, b.port ?? port, { weight: b.weight ?? 1 })),
  };
  daemon.services.push(s);
  daemon.changed(`+ service ${name}`);
  return s;
}

function patchBackend(name: string, id: string, body: { weight?: number; drain?: boolean }): BackendView {
  const b = daemon.backend(name, id);
  if (body.weight !== undefined) {
    b.weight = body.weight;
    b.active = b.weight > 0 && b.health !== 'unhealthy';
    daemon.changed(`~ weight of ${id} in ${name}`);
  } else if (body.drain !== undefined) {
    b.drained = body.drain;
    b.active = !body.drain;
    daemon.changed(`~ drain of ${id} in ${name}`);
  } else throw new ApiError('XLB_BAD_REQUEST', 'give weight or drain');
  return b;
}

/** The routes: [status, body] of a request, or an ApiError. */
function route(method: string, path: string, body: unknown): [number, unknown] {
  const svc = /^\/v1\/services\/([^/]+)$/.exec(path);
  const bes = /^\/v1\/services\/([^/]+)\/backends$/.exec(path);
  const be = /^\/v1\/services\/([^/]+)\/backends\/([^/]+)$/.exec(path);
  const name = decodeURIComponent((svc ?? bes ?? be)?.[1] ?? '');
  const id = decodeURIComponent(be?.[2] ?? '');
  const key = `${method} ${svc ? '/v1/services/:name' : bes ? '/v1/services/:name/backends' : be ? 'backend' : path}`;
  switch (key) {
    case 'GET /healthz':
      return [200, { status: 'ok' }];
    case 'GET /readyz':
      return [200, { ready: true }];
    case 'GET /v1/status':
      return [200, daemon.status()];
    case 'GET /v1/stats':
      return [200, daemon.stats()];
    case 'GET /v1/drift':
      return [200, { drift: daemon.changes.length > 0, changes: daemon.changes }];
    case 'GET /v1/config':
      return [200, daemon.yaml()];
    case 'GET /metrics':
      return [
        200,
        '# HELP xlb_config_generation x\n# TYPE xlb_config_generation gauge\nxlb_config_generation 7\n',
      ];
    case 'POST /v1/reload':
      if (daemon.reloadProblems.length > 0) {
        throw new ApiError('XLB_RELOAD_FAILED', '/etc/xlb/xlb.yaml has 2 problems', daemon.reloadProblems);
      }
      daemon.generation++;
      daemon.changes = [];
      return [200, daemon.status()];
    case 'GET /v1/services':
      return [200, daemon.services];
    case 'POST /v1/services':
      return [201, addService(body as Record<string, unknown>)];
    case 'GET /v1/services/:name':
      return [200, daemon.service(name)];
    case 'DELETE /v1/services/:name':
      daemon.service(name);
      daemon.services = daemon.services.filter((s) => s.name !== name);
      daemon.changed(`- service ${name}`);
      return [204, undefined];
    case 'POST /v1/services/:name/backends': {
      const s = daemon.service(name);
      const input = body as { address: string; port?: number; weight?: number };
      const b = backend(input.address, input.port ?? s.port, {
        weight: input.weight ?? 1,
        health: 'unknown',
      });
      if (s.backends.some((x) => x.id === b.id)) throw new ApiError('XLB_CONFLICT', `backend ${b.id} exists`);
      s.backends.push(b);
      daemon.changed(`+ backend ${b.id} of ${name}`);
      return [201, b];
    }
    case 'DELETE backend': {
      daemon.backend(name, id);
      const s = daemon.service(name);
      s.backends = s.backends.filter((b) => b.id !== id);
      daemon.changed(`- backend ${id} of ${name}`);
      return [204, undefined];
    }
    case 'PATCH backend':
      return [200, patchBackend(name, id, body as { weight?: number; drain?: boolean })];
    default:
      throw new ApiError('XLB_NOT_FOUND', `no route ${method} ${path}`);
  }
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const auth = req.headers.authorization;
    daemon.seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      body: text ? JSON.parse(text) : undefined,
      auth,
    });
    try {
      if (daemon.token !== undefined && auth !== `Bearer ${daemon.token}` && !path.endsWith('z')) {
        throw new ApiError('XLB_UNAUTHORIZED', 'a bearer token is required (Authorization: Bearer TOKEN)');
      }
      if (path === '/v1/teapot') return reply(res, 418, 'short and stout', 'text/plain');
      const [status, body] = route(req.method ?? '', path, text ? JSON.parse(text) : undefined);
      const type =
        path === '/v1/config' ? 'text/yaml' : path === '/metrics' ? 'text/plain' : 'application/json';
      reply(res, status, body, type);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError('XLB_INTERNAL', String(e));
      const error = {
        code: err.code,
        message: err.message,
        ...(err.details ? { details: err.details } : {}),
      };
      reply(res, httpStatus[err.code], { error });
    }
  });
}

// ---- running the CLI -----------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'xlb-api-cli-'));
const socket = join(dir, 'test.sock');
const servers: Server[] = [];
let tcpUrl = '';

interface Run {
  status: number | null;
  out: string;
  err: string;
}

/** Runs the real CLI (a child) while this process keeps serving the API. */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        XLB_API_TOKEN: '',
        XLB_TOKEN_FILE: join(dir, 'no-token'),
        XLB_RUN_DIR: dir,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

const xlb = (...args: string[]) => run([...args, '--socket', socket]);

async function ok(...args: string[]): Promise<string> {
  const r = await xlb(...args);
  assert.equal(r.status, 0, `xlb ${args.join(' ')}: ${r.err}`);
  return r.out;
}

async function json<T>(...args: string[]): Promise<T> {
  return JSON.parse(await ok(...args, '--json')) as T;
}

async function failsWith(args: string[], code: ErrorCode, status = 1): Promise<Run> {
  const r = await xlb(...args);
  assert.equal(r.status, status, `xlb ${args.join(' ')}: ${r.out}${r.err}`);
  assert.match(r.err, new RegExp(`^xlb: error: .* \\(${code}\\)$`, 'm'));
  return r;
}

async function usageError(args: string[], re: RegExp): Promise<void> {
  const r = await xlb(...args);
  assert.equal(r.status, 2, `xlb ${args.join(' ')}: ${r.err}`);
  assert.match(r.err, /^xlb: error: /);
  assert.match(r.err, re);
}

const last = (method: string) => [...daemon.seen].reverse().find((s) => s.method === method);

function listen(server: Server, where: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'string') server.listen(where, resolve);
    else server.listen(where, '127.0.0.1', resolve);
  });
}

before(async () => {
  const unix = createServer(handle);
  const tcp = createServer(handle);
  servers.push(unix, tcp);
  await listen(unix, socket);
  await listen(tcp, 0);
  tcpUrl = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
});

after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => daemon.reset());

// ---- tests ----------------------------------------------------------------------------------------

describe('ApiClient', () => {
  it('defaults to /run/xlb/NAME.sock (XLB_RUN_DIR moves it) and checks the name', () => {
    assert.equal(defaultSocket('test'), join(process.env.XLB_RUN_DIR ?? '/run/xlb', 'test.sock'));
    assert.throws(() => defaultSocket('../etc'), /instance name '..\/etc' is invalid/);
  });

  it('calls every route and returns the views', async () => {
    const api = new ApiClient({ socket });
    assert.equal((await api.status()).generation, 7);
    assert.equal((await api.services()).length, 2);
    assert.equal((await api.service('dns')).backends.length, 3);
    assert.equal((await api.stats()).services[0]?.name, 'dns');
    assert.equal((await api.drift()).drift, false);
    assert.match(await api.config(), /^interfaces: \[eth0, eth1\]/);
    assert.match(await api.metrics(), /^# HELP/);
    assert.equal(await api.healthy(), true);
    assert.equal(await api.ready(), true);
    const s = await api.addService({ name: 'web', vip: '192.0.2.2', port: 80 });
    assert.equal(s.family, 4);
    assert.equal((await api.addBackend('web', { address: 'fd00::9', port: 80 })).id, '[fd00::9]:80');
    assert.equal((await api.setWeight('web', '[fd00::9]:80', 5)).weight, 5);
    assert.equal((await api.drain('web', '[fd00::9]:80')).drained, true);
    assert.equal((await api.undrain('web', '[fd00::9]:80')).drained, false);
    assert.equal(last('PATCH')?.url, '/v1/services/web/backends/%5Bfd00%3A%3A9%5D%3A80');
    await api.removeBackend('web', '[fd00::9]:80');
    await api.removeService('web');
    assert.equal((await api.reload()).generation, 15);
  });

  it("turns error bodies into ApiError with the server's code, message and details", async () => {
    const api = new ApiClient({ socket });
    await assert.rejects(api.service('nope'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'XLB_NOT_FOUND');
      assert.equal(httpStatus[e.code], 404);
      assert.equal(e.message, "no service 'nope'");
      return true;
    });
    daemon.reloadProblems = [{ path: 'services[0].port', line: 4, message: 'port must be 1 to 65535' }];
    await assert.rejects(api.reload(), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'XLB_RELOAD_FAILED');
      assert.deepEqual(e.details, daemon.reloadProblems);
      return true;
    });
    await assert.rejects(api.request('GET', '/v1/teapot'), /the daemon answered HTTP 418: short and stout/);
  });

  it('maps bodies without a known code by HTTP status', () => {
    assert.equal(
      errorFromResponse(401, '{"statusCode":401,"error":"Unauthorized"}').code,
      'XLB_UNAUTHORIZED',
    );
    assert.equal(errorFromResponse(503, '').code, 'XLB_NOT_READY');
    assert.equal(errorFromResponse(502, '<html>bad gateway</html>').code, 'XLB_INTERNAL');
    const odd = errorFromResponse(400, '{"error":{"code":"XLB_NEW_THING","message":"m"}}');
    assert.equal(odd.code, 'XLB_INTERNAL');
    assert.match(odd.message, /XLB_NEW_THING: m/);
  });

  it('sends the bearer token, and works over TCP', async () => {
    daemon.token = 's3cret';
    await assert.rejects(new ApiClient({ url: tcpUrl }).status(), { code: 'XLB_UNAUTHORIZED' });
    assert.equal((await new ApiClient({ url: tcpUrl, token: 's3cret' }).status()).instance, 'default');
    assert.equal(last('GET')?.auth, 'Bearer s3cret');
  });

  it('says how to fix an unreachable daemon, and times out', async () => {
    const missing = join(dir, 'missing.sock');
    await assert.rejects(
      new ApiClient({ socket: missing }).status(),
      new RegExp(
        `^Error: cannot reach the xlb daemon at ${missing} \\(ENOENT\\): is \`xlb daemon\` running\\?`,
      ),
    );
    const silent = createServer(() => undefined);
    const path = join(dir, 'silent.sock');
    await listen(silent, path);
    try {
      await assert.rejects(
        new ApiClient({ socket: path, timeoutMs: 200 }).status(),
        /did not answer within 200 ms/,
      );
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('xlb API commands: help and usage', () => {
  it('lists the new commands in xlb --help', async () => {
    const r = await run(['--help']);
    for (const c of ['status', 'service', 'backend', 'top', 'config'])
      assert.match(r.out, new RegExp(`^  ${c} `, 'm'));
  });

  const helps = [
    ['status'],
    ['service', 'ls'],
    ['service', 'show'],
    ['service', 'add'],
    ['service', 'rm'],
    ['backend', 'add'],
    ['backend', 'rm'],
    ['backend', 'drain'],
    ['backend', 'undrain'],
    ['backend', 'weight'],
    ['top'],
    ['config', 'dump'],
    ['config', 'reload'],
    ['config', 'drift'],
  ];
  it('describes every command with --help', async () => {
    for (const args of helps) {
      const r = await run([...args, '--help']);
      assert.equal(r.status, 0, r.err);
      assert.match(r.out, new RegExp(`^usage: xlb ${args.join(' ')}`));
      for (const o of ['--instance', '--socket', '--url', '--token', '--json', '--help'])
        assert.match(r.out, new RegExp(o));
    }
    for (const group of ['service', 'backend', 'config']) {
      const r = await run([group, '--help']);
      assert.equal(r.status, 0);
      assert.match(r.out, new RegExp(`^usage: xlb ${group} `));
      assert.equal((await run([group])).status, 2, `xlb ${group} without a subcommand`);
      assert.equal((await run(['help', group])).status, 0);
    }
  });

  const usageErrors: [string[], RegExp][] = [
    [['service', 'frob'], /service: unknown subcommand 'frob'/],
    [['service', 'add', 'web', '--port', '80'], /--vip ADDR is required/],
    [['service', 'add', 'web', '--vip', '192.0.2.2'], /--port P is required/],
    [
      ['service', 'add', 'web', '--vip', '192.0.2.2', '--port', '99999'],
      /--port must be a whole number from 1 to 65535/,
    ],
    [
      ['service', 'add', 'web', '--vip', '1.2.3.4', '--port', '80', '--backend', '10.0.0.1:80@x'],
      /weight must be/,
    ],
    [
      ['service', 'add', 'web', '--vip', '1.2.3.4', '--port', '80', '--backend', '10.0.0.1:0'],
      /port of '10.0.0.1:0'/,
    ],
    [['service', 'rm'], /service rm: missing argument/],
    [['service', 'ls', '--bogus'], /Unknown option '--bogus'/],
    [['backend', 'add', 'dns'], /backend add: missing argument/],
    [['backend', 'rm', 'dns', '10.0.0.1'], /needs a port: ADDR:PORT/],
    [['backend', 'rm', 'dns', 'fd00::1'], /needs a port/],
    [['backend', 'weight', 'dns', '10.0.0.1:53', 'heavy'], /weight must be a whole number from 0 to 65535/],
    [['backend', 'weight', 'dns', '10.0.0.1:53'], /missing argument/],
    [['backend', 'add', 'dns', '10.0.0.9:53', '--weight', '70000'], /--weight must be a whole number/],
    [['top', '--interval', '0'], /--interval must be 0.1 to 3600 seconds/],
    [['top', '--interval', 'soon'], /--interval must be/],
    [['config', 'dump', 'extra'], /unexpected argument 'extra'/],
    [['status', '--url', 'http://127.0.0.1:1'], /give --socket or --url, not both/],
  ];
  for (const [args, re] of usageErrors) {
    it(`\`xlb ${args.join(' ')}\` is a usage error (exit 2), nothing sent`, async () => {
      await usageError(args, re);
      assert.deepEqual(
        daemon.seen.filter((s) => s.method !== 'GET'),
        [],
      );
    });
  }

  it('rejects a bad --url and a bad --instance as usage errors', async () => {
    const r = await run(['status', '--url', 'not a url']);
    assert.equal(r.status, 2);
    assert.match(r.err, /--url must be a URL/);
    const i = await run(['status', '--instance', '../x']);
    assert.equal(i.status, 2);
    assert.match(i.err, /instance name '..\/x' is invalid/);
  });
});

describe('xlb status', () => {
  it('prints instance, generation, readiness, drift, interfaces and counts', async () => {
    const out = await ok('status');
    assert.match(out, /^instance +default \(pid 4242, xlb 0\.1\.0\)$/m);
    assert.match(out, /^generation +7$/m);
    assert.match(out, /^ready +yes$/m);
    assert.match(out, /^drift +no$/m);
    assert.match(out, /^adopted +no$/m);
    assert.match(
      out,
      /^interfaces +eth0: xdp link \(native\), tc ingress classic TC, tc egress classic TC; lo: xdp link \(generic\)$/m,
    );
    assert.match(out, /^kernel +Linux 6\.1\.0-57-amd64$/m);
    assert.match(out, /^features +2 probed, 1 missing: tcx \(Linux 6\.6\) -> classic TC$/m);
    assert.match(out, /^services +2$/m);
    assert.match(out, /^backends +4$/m);
  });

  it('--json prints the API view', async () => {
    assert.deepEqual(await json('status'), daemon.status());
  });

  it('lists the drift when the running configuration differs from the file', async () => {
    daemon.changes = ['+ service web', '~ weight of 10.0.0.1:53 in dns: 1 -> 3'];
    const out = await ok('status');
    assert.match(out, /^drift +yes: the running configuration differs from the file$/m);
    assert.match(out, /^ {2}\+ service web$/m);
    assert.match(out, /^ {2}~ weight of 10\.0\.0\.1:53 in dns: 1 -> 3$/m);
  });

  it('finds the socket of --instance under the run directory, over TCP with --url, with tokens', async () => {
    const byName = await run(['status', '--instance', 'test']);
    assert.equal(byName.status, 0, byName.err);
    assert.match(byName.out, /^generation +7$/m);
    daemon.token = 'tok';
    const denied = await run(['status', '--url', tcpUrl]);
    assert.equal(denied.status, 1);
    assert.match(denied.err, /^xlb: error: a bearer token is required .*\(XLB_UNAUTHORIZED\)$/m);
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'xlb-token-')), 'token');
    writeFileSync(tokenFile, 'tok\n', { mode: 0o600 });
    assert.equal((await run(['status', '--url', tcpUrl, '--token-file', tokenFile])).status, 0);
    assert.equal(
      (await run(['status', '--url', tcpUrl, '--token', 'tok'])).status,
      2,
      'no token on command lines',
    );
    assert.equal((await run(['status', '--url', tcpUrl], { XLB_API_TOKEN: 'tok' })).status, 0);
    assert.equal(last('GET')?.auth, 'Bearer tok');
  });

  it('says how to fix an unreachable daemon (exit 1)', async () => {
    const missing = join(dir, 'nothing.sock');
    const r = await run(['status', '--socket', missing]);
    assert.equal(r.status, 1);
    assert.equal(
      r.err.trim(),
      `xlb: error: cannot reach the xlb daemon at ${missing} (ENOENT): is \`xlb daemon\` running? (systemctl status xlb)`,
    );
    const byName = await run(['service', 'ls', '--instance', 'other']);
    assert.match(
      byName.err,
      new RegExp(`cannot reach the xlb daemon at ${join(dir, 'other.sock')} \\(ENOENT\\)`),
    );
  });
});

describe('xlb service', () => {
  it('ls prints a table of services with active/total backends and counters', async () => {
    const lines = (await ok('service', 'ls')).trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^name +address +mode +scheduler +backends +packets +bytes$/);
    assert.match(lines[1] ?? '', /^dns +192\.0\.2\.1:53 +nat +maglev +1\/3 +3000 +187\.5 KiB$/);
    assert.match(lines[2] ?? '', /^dns6 +\[fd00::100\]:53 +fullnat +round-robin +1\/1 +0 +0 B$/);
    assert.equal(lines[1]?.indexOf('192.0.2.1'), lines[2]?.indexOf('[fd00::100]'), 'columns aligned');
    assert.deepEqual(await json('service', 'ls'), daemon.services);
  });

  it('ls says so when there are no services', async () => {
    daemon.services = [];
    assert.match(await ok('service', 'ls'), /^no services/);
  });

  it('show prints one service and its backends', async () => {
    const out = await ok('service', 'show', 'dns');
    assert.match(out, /^address +192\.0\.2\.1:53\/udp$/m);
    assert.match(out, /^backend +weight +state +health +packets +bytes +flows$/m);
    assert.match(out, /^10\.0\.0\.1:53 +1 +active +healthy +2000 +125\.0 KiB +7$/m);
    assert.match(out, /^10\.0\.0\.2:53 +2 +drained +healthy +1000 +62\.5 KiB +1$/m);
    assert.match(out, /^10\.0\.0\.3:53 +1 +inactive +unhealthy +0 +0 B +-$/m);
    assert.deepEqual(await json('service', 'show', 'dns'), daemon.service('dns'));
  });

  it('add sends the service with its backends and prints it', async () => {
    const args = ['service', 'add', 'web', '--vip', '192.0.2.2', '--port', '80', '--mode', 'nat'];
    const out = await ok(
      ...args,
      '--scheduler',
      'round-robin',
      '--backend',
      '10.0.0.5:8080@3',
      '--backend',
      '10.0.0.6:8080',
    );
    assert.deepEqual(last('POST')?.body, {
      name: 'web',
      vip: '192.0.2.2',
      port: 80,
      mode: 'nat',
      scheduler: 'round-robin',
      backends: [
        { address: '10.0.0.5', port: 8080, weight: 3 },
        { address: '10.0.0.6', port: 8080 },
      ],
    });
    assert.match(out, /^added service web$/m);
    assert.match(out, /^10\.0\.0\.5:8080 +3 +active/m);
    const v6 = await json<ServiceView>(
      'service',
      'add',
      'web6',
      '--vip',
      'fd00::200',
      '--port',
      '53',
      '--backend',
      '[fd00::7]:53@2',
      '--backend',
      'fd00::8',
    );
    assert.deepEqual((last('POST')?.body as { backends: unknown }).backends, [
      { address: 'fd00::7', port: 53, weight: 2 },
      { address: 'fd00::8' },
    ]);
    assert.equal(v6.family, 6);
    assert.deepEqual(v6, daemon.service('web6'));
  });

  it('add of an existing service is XLB_CONFLICT (exit 1)', async () => {
    await failsWith(['service', 'add', 'dns', '--vip', '192.0.2.1', '--port', '53'], 'XLB_CONFLICT');
  });

  it('add of an invalid service prints every problem (exit 1)', async () => {
    const r = await failsWith(
      ['service', 'add', 'x', '--vip', '192.0.2.9', '--port', '53', '--mode', 'bogus'],
      'XLB_INVALID_CONFIG',
    );
    assert.match(r.err, /^ {2}- services\[2\]\.mode: mode must be local, nat, fullnat or dsr, got 'bogus'$/m);
    assert.equal(daemon.services.length, 2);
  });

  it('rm removes a service; an unknown one is XLB_NOT_FOUND (exit 1)', async () => {
    assert.equal(await ok('service', 'rm', 'dns6'), 'removed service dns6\n');
    assert.equal(last('DELETE')?.url, '/v1/services/dns6');
    assert.deepEqual(
      daemon.services.map((s) => s.name),
      ['dns'],
    );
    const r = await failsWith(['service', 'rm', 'dns6'], 'XLB_NOT_FOUND');
    assert.match(r.err, /^xlb: error: no service 'dns6' \(XLB_NOT_FOUND\)$/m);
    assert.deepEqual(await json('service', 'rm', 'dns'), {});
  });

  it('show of an unknown service is XLB_NOT_FOUND, with --json too', async () => {
    await failsWith(['service', 'show', 'nope'], 'XLB_NOT_FOUND');
    await failsWith(['service', 'show', 'nope', '--json'], 'XLB_NOT_FOUND');
  });
});

describe('xlb backend', () => {
  it('add sends address, port and weight', async () => {
    const out = await ok('backend', 'add', 'dns', '10.0.0.9:53', '--weight', '4');
    assert.deepEqual(last('POST')?.body, { address: '10.0.0.9', port: 53, weight: 4 });
    assert.equal(last('POST')?.url, '/v1/services/dns/backends');
    assert.equal(out, 'added backend 10.0.0.9:53 to dns (weight 4, active, health unknown)\n');
    const b = await json<BackendView>('backend', 'add', 'dns6', '[fd00::2]:53');
    assert.deepEqual(last('POST')?.body, { address: 'fd00::2', port: 53 });
    assert.deepEqual(b, daemon.backend('dns6', '[fd00::2]:53'));
    await failsWith(['backend', 'add', 'dns', '10.0.0.9:53'], 'XLB_CONFLICT');
    await failsWith(['backend', 'add', 'nope', '10.0.0.9:53'], 'XLB_NOT_FOUND');
  });

  it('drain, undrain and weight patch the backend (URL-encoded id)', async () => {
    assert.equal(
      await ok('backend', 'drain', 'dns', '10.0.0.1:53'),
      'drained backend 10.0.0.1:53 of dns (weight 1, drained, health healthy)\n',
    );
    assert.deepEqual(last('PATCH'), {
      method: 'PATCH',
      url: '/v1/services/dns/backends/10.0.0.1%3A53',
      body: { drain: true },
      auth: undefined,
    });
    assert.match(
      await ok('backend', 'undrain', 'dns', '10.0.0.1:53'),
      /^undrained backend 10\.0\.0\.1:53 of dns \(weight 1, active/,
    );
    assert.deepEqual(last('PATCH')?.body, { drain: false });
    const b = await json<BackendView>('backend', 'weight', 'dns6', '[fd00::1]:53', '9');
    assert.deepEqual(last('PATCH'), {
      method: 'PATCH',
      url: '/v1/services/dns6/backends/%5Bfd00%3A%3A1%5D%3A53',
      body: { weight: 9 },
      auth: undefined,
    });
    assert.equal(b.weight, 9);
    assert.match(
      await ok('backend', 'weight', 'dns', '10.0.0.1:53', '0'),
      /^backend 10\.0\.0\.1:53 of dns: weight 0/,
    );
  });

  it('rm removes the backend; an unknown one is XLB_NOT_FOUND (exit 1)', async () => {
    assert.equal(await ok('backend', 'rm', 'dns', '10.0.0.3:53'), 'removed backend 10.0.0.3:53 from dns\n');
    assert.equal(last('DELETE')?.url, '/v1/services/dns/backends/10.0.0.3%3A53');
    const r = await failsWith(['backend', 'rm', 'dns', '10.0.0.3:53'], 'XLB_NOT_FOUND');
    assert.match(r.err, /no backend '10\.0\.0\.3:53' in service 'dns'/);
    await failsWith(['backend', 'drain', 'dns', '10.9.9.9:53', '--json'], 'XLB_NOT_FOUND');
  });
});

describe('xlb config', () => {
  it('dump writes the running configuration to stdout, or to a file', async () => {
    assert.equal(await ok('config', 'dump'), daemon.yaml());
    const file = join(dir, 'dump.yaml');
    const r = await xlb('config', 'dump', '--output', file);
    assert.equal(r.status, 0, r.err);
    assert.equal(r.out, `wrote the running configuration to ${file}\n`);
    assert.equal(readFileSync(file, 'utf8'), daemon.yaml());
    const asJson = await json<{ services: { name: string }[] }>('config', 'dump');
    assert.deepEqual(
      asJson.services.map((s) => s.name),
      ['dns', 'dns6'],
    );
  });

  it('dump into a missing directory fails with the path (exit 1)', async () => {
    const r = await xlb('config', 'dump', '-o', join(dir, 'no', 'such', 'x.yaml'));
    assert.equal(r.status, 1);
    assert.match(r.err, /cannot write .*x\.yaml \(ENOENT\)/);
  });

  it('reload prints the new generation', async () => {
    assert.equal(await ok('config', 'reload'), 'reloaded /etc/xlb/xlb.yaml: generation 8 (was 7)\n');
    assert.equal(last('POST')?.url, '/v1/reload');
    assert.equal((await json<StatusView>('config', 'reload')).generation, 9);
  });

  it('reload of a file with problems prints every problem (exit 1)', async () => {
    daemon.reloadProblems = [
      { path: 'services[0].port', line: 4, message: 'port must be 1 to 65535, got 0' },
      { path: '', message: 'interfaces: eth9 does not exist' },
    ];
    const r = await failsWith(['config', 'reload'], 'XLB_RELOAD_FAILED');
    assert.match(r.err, /^xlb: error: \/etc\/xlb\/xlb\.yaml has 2 problems \(XLB_RELOAD_FAILED\)$/m);
    assert.match(r.err, /^ {2}- line 4: services\[0\]\.port: port must be 1 to 65535, got 0$/m);
    assert.match(r.err, /^ {2}- interfaces: eth9 does not exist$/m);
    assert.match(r.err, /the running configuration stays/);
    assert.equal(daemon.generation, 7);
  });

  it('drift lists the changes made over the API', async () => {
    assert.match(await ok('config', 'drift'), /^no drift/);
    await ok('backend', 'drain', 'dns', '10.0.0.1:53');
    assert.equal(
      await ok('config', 'drift'),
      'the running configuration differs from the config file:\n  ~ drain of 10.0.0.1:53 in dns\n',
    );
    assert.deepEqual(await json('config', 'drift'), {
      drift: true,
      changes: ['~ drain of 10.0.0.1:53 in dns'],
    });
  });
});

describe('xlb top', () => {
  it('--once prints one frame of rates from two samples an interval apart', async () => {
    const started = Date.now();
    const out = await ok('top', '--once', '--interval', '0.2');
    assert.ok(Date.now() - started >= 200);
    assert.equal(daemon.seen.filter((s) => s.url === '/v1/stats').length, 2);
    const lines = out.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      /^xlb top: instance default, generation 7, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(every 0\.2 s\)$/,
    );
    assert.match(lines[1] ?? '', /^verdicts\/s: nat \d/);
    assert.match(out, /^service \/ backend +state +health +weight +pps +bps +packets +flows$/m);
    // 100 packets of 64 bytes per ~0.2 s: ~500 pps, ~256 kb/s.
    const dns = /^dns 192\.0\.2\.1:53 +nat +1\/3 up +(\d+) +([\d.]+)kb\/s +3200 +8$/m.exec(out);
    assert.ok(dns, out);
    assert.ok(Number(dns[1]) > 100 && Number(dns[1]) <= 500, `pps ${dns[1]}`);
    assert.match(out, /^ {2}10\.0\.0\.1:53 +active +healthy +1 +\d+ +[\d.]+kb\/s +2200 +7$/m);
    assert.match(out, /^ {2}10\.0\.0\.2:53 +drained +healthy +2 +0 +0b\/s +1000 +1$/m);
    assert.match(out, /^ {2}10\.0\.0\.3:53 +inactive +unhealthy +1 +0 +0b\/s +0 +-$/m);
    assert.match(out, /^dns6 \[fd00::100\]:53 +fullnat +1\/1 up /m);
    assert.ok(!out.includes('\u001b['), 'no ANSI codes when stdout is not a terminal');
  });

  it('--once --json prints the frame as JSON', async () => {
    const f = await json<ReturnType<typeof topFrame>>('top', '--once', '--interval', '0.2');
    assert.equal(f.instance, 'default');
    assert.equal(f.services[0]?.name, 'dns');
    assert.ok((f.services[0]?.pps ?? 0) > 0);
    assert.equal(f.services[0]?.backends[1]?.state, 'drained');
    assert.equal(f.services[0]?.backends[0]?.flows, 7);
  });

  it('without --once prints a block per interval until stopped, then exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'top', '--interval', '0.1', '--socket', socket], {
      env: { ...process.env, XLB_RUN_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    let poll: NodeJS.Timeout | undefined;
    const threeBlocks = new Promise<void>((resolve) => {
      poll = setInterval(() => {
        if ((out.match(/^xlb top:/gm) ?? []).length >= 3) resolve();
      }, 20);
    });
    await Promise.race([threeBlocks, closed]);
    clearInterval(poll);
    assert.equal(child.exitCode, null, `still running: ${out}`);
    child.kill('SIGINT');
    assert.equal(await closed, 0);
    assert.match(out, /^\nxlb top:/m, 'blocks separated by a blank line');
  });

  it('exits 1 with the fix hint when the daemon is unreachable', async () => {
    const r = await run(['top', '--once', '--interval', '0.1', '--socket', join(dir, 'gone.sock')]);
    assert.equal(r.status, 1);
    assert.match(r.err, /cannot reach the xlb daemon at .*gone\.sock \(ENOENT\): is `xlb daemon` running\?/);
  });
});

describe('xlb top: frames', () => {
  const svc = (packets: number, bytes: number, over: Partial<ServiceView> = {}): ServiceView => ({
    ...initialServices()[0]!,
    packets,
    bytes,
    ...over,
  });
  const stats = (at: string, s: ServiceView[]): StatsView => ({
    generation: 3,
    at,
    reasons: Object.fromEntries(Reasons.map((r) => [r, { packets: 0, bytes: 0 }])) as StatsView['reasons'],
    services: s,
  });

  it('computes rates from the daemon timestamps; a counter that went down restarts', () => {
    const a = stats('2024-05-01T12:00:00.000Z', [svc(1000, 64000)]);
    const b = stats('2024-05-01T12:00:02.000Z', [svc(3000, 192000)]);
    const f = topFrame('x', a, b, 2);
    assert.equal(f.services[0]?.pps, 1000);
    assert.equal(f.services[0]?.bps, 512000);
    assert.deepEqual(rates({ packets: 10, bytes: 80 }, { packets: 500, bytes: 9000 }, 1), {
      pps: 10,
      bps: 640,
    });
    assert.deepEqual(rates({ packets: 10, bytes: 80 }, undefined, 1), { pps: 0, bps: 0 });
    assert.match(renderTop(f, 2), /^dns 192\.0\.2\.1:53 +nat +1\/3 up +1\.0k +512\.0kb\/s +3000 +8$/m);
  });

  it('fits a frame to the terminal', () => {
    const text = ['a'.repeat(50), 'b', 'c', 'd', 'e'].join('\n');
    assert.equal(fit(text, 10, 3), `${'a'.repeat(10)}\nb\n... 3 more lines (enlarge the terminal)`);
    assert.equal(fit('x\ny', undefined, undefined), 'x\ny');
  });
});
