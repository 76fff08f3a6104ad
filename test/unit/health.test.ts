// Health probes against real servers started here (UDP echo, a tiny DNS server and dnsmasq when
// installed, TCP, HTTP, commands), each success and failure path and the bound of its timeout; and
// the HealthChecker's state machine with an injected probe: rise/fall, events, update(), passive
// failures, and stop() leaving nothing behind. Everything runs on 127.0.0.1 and ::1, without root.
import { toolSkip } from '../helpers/privileged.js';

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  HealthChecker,
  SETPRIV,
  buildDnsQuery,
  execArgv,
  parseDnsHeader,
  probe,
  unprivilegedArgv,
} from '../../src/daemon/health.js';
import type { HealthEvent, ProbeResult, ProbeTarget } from '../../src/daemon/health.js';
import type { HealthConfig } from '../../src/model/config-health.js';
import { startEchoServers } from '../../src/lab/echo-server.js';

const V4 = '127.0.0.1';
const V6 = '::1';
const target = (port: number, address = V4): ProbeTarget => ({
  address,
  port,
  family: address.includes(':') ? 6 : 4,
});
const base = { interval: 2, timeout: 1, rise: 2, fall: 3 };
const udp = (extra: Partial<HealthConfig> = {}): HealthConfig => ({
  ...base,
  type: 'udp',
  send: 'xlb-health',
  ...extra,
});
const dns = (extra: Partial<HealthConfig> = {}): HealthConfig => ({
  ...base,
  type: 'dns',
  name: 'health.test.',
  qtype: 'A',
  rcode: 'NOERROR',
  ...extra,
});
const tcp = (extra: Partial<HealthConfig> = {}): HealthConfig => ({ ...base, type: 'tcp', ...extra });
const http = (extra: Partial<HealthConfig> = {}): HealthConfig => ({
  ...base,
  type: 'http',
  path: '/healthz',
  status: 200,
  ...extra,
});
const exec = (command: string[], extra: Partial<HealthConfig> = {}): HealthConfig => ({
  ...base,
  type: 'exec',
  command,
  ...extra,
});

/** Slack allowed past a probe's timeout (timers, process start). */
const SLACK_MS = 400;

function assertOk(r: ProbeResult, what: string): void {
  assert.ok(r.ok, `${what}: ${r.ok ? '' : r.reason}`);
  assert.ok(r.ms >= 0);
}
function assertFails(r: ProbeResult, reason: RegExp, maxMs: number): void {
  assert.ok(!r.ok, 'the probe succeeded');
  assert.match(r.reason, reason);
  assert.ok(r.ms <= maxMs, `took ${r.ms} ms, more than ${maxMs} ms`);
}
/** A timeout failure: not before the timeout, not much after it. */
function assertTimedOut(r: ProbeResult, reason: RegExp, timeoutS: number): void {
  assertFails(r, reason, timeoutS * 1000 + SLACK_MS);
  assert.ok(r.ms >= timeoutS * 1000 - 20, `failed after ${r.ms} ms, before the ${timeoutS}s timeout`);
}

function bindUdp(address: string, port = 0): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}
const closeUdp = (s: Socket): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

/** A UDP port with nothing bound to it (bound once and released). */
async function deadUdpPort(address: string): Promise<number> {
  const s = await bindUdp(address);
  const { port } = s.address();
  await closeUdp(s);
  return port;
}

function listenTcp(server: TcpServer | HttpServer, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve((server.address() as AddressInfo).port));
  });
}
const closeServer = (server: TcpServer | HttpServer): Promise<void> =>
  new Promise((resolve) => server.close(() => resolve()));

async function deadTcpPort(address: string): Promise<number> {
  const server = createTcpServer();
  const port = await listenTcp(server, address);
  await closeServer(server);
  return port;
}

// ---- udp ---------------------------------------------------------------------------------------

describe('udp probe', () => {
  const echo: Record<string, { port: number; close: () => Promise<void> }> = {};
  let pong: Socket;
  let silent: Socket;
  before(async () => {
    for (const address of [V4, V6]) {
      const port = await deadUdpPort(address);
      const servers = await startEchoServers({ ports: [port], address });
      echo[address] = { port, close: () => servers.close() };
    }
    pong = await bindUdp(V4);
    pong.on('message', (_m, r) =>
      pong.send('noise', r.port, r.address, () => pong.send('pong!', r.port, r.address)),
    );
    silent = await bindUdp(V4);
  });
  after(async () => {
    await Promise.all(Object.values(echo).map((e) => e.close()));
    await closeUdp(pong);
    await closeUdp(silent);
  });

  test('an echo server answers, over IPv4 and IPv6', async () => {
    for (const address of [V4, V6]) {
      const r = await probe(udp({ send: 'ping' }), target(echo[address]!.port, address));
      assertOk(r, address);
      assert.ok(r.ms < 500);
    }
  });

  test('expect: a reply containing it passes (others are skipped); none containing it fails at the timeout', async () => {
    const port = pong.address().port;
    assertOk(await probe(udp({ expect: 'pong' }), target(port)), 'expect pong');
    const r = await probe(udp({ expect: 'pang', timeout: 0.3 }), target(port));
    assertTimedOut(r, /no reply within 0\.3s \(ignored reply without "pang": pong!\)/, 0.3);
  });

  test('a port with nothing listening fails fast: ICMP port unreachable', async () => {
    for (const address of [V4, V6]) {
      const r = await probe(udp(), target(await deadUdpPort(address), address));
      assertFails(r, /port unreachable/, 300);
    }
  });

  test('a server that does not answer: the probe ends at its timeout', async () => {
    const port = silent.address().port;
    assertTimedOut(await probe(udp({ timeout: 0.4 }), target(port)), /^no reply within 0\.4s$/, 0.4);
    assertTimedOut(await probe(udp({ timeout: 1 }), target(port)), /^no reply within 1s$/, 1);
  });

  test('port: probes that port instead of the backend', async () => {
    const dead = await deadUdpPort(V4);
    assertOk(await probe(udp({ port: echo[V4]!.port }), target(dead)), 'cfg.port');
  });

  test('an abort signal ends the probe at once', async () => {
    const port = silent.address().port;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    assertFails(await probe(udp({ timeout: 5 }), target(port), ac.signal), /^aborted$/, 50 + SLACK_MS);
    const pre = new AbortController();
    pre.abort();
    assertFails(await probe(udp({ timeout: 5 }), target(port), pre.signal), /^aborted$/, 100);
  });
});

// ---- dns ---------------------------------------------------------------------------------------

interface TinyDns {
  port: number;
  queries: Buffer[];
  close(): Promise<void>;
}

/**
 * Answers 'health.test.' with NOERROR and any other name with NXDOMAIN (header and question only).
 * mode 'wrong-id-first' first sends a response with another id; 'wrong-id' only that; 'no-qr' a
 * message without QR.
 */
async function tinyDns(
  address: string,
  mode: 'normal' | 'wrong-id-first' | 'wrong-id' | 'no-qr',
): Promise<TinyDns> {
  const s = await bindUdp(address);
  const queries: Buffer[] = [];
  s.on('message', (q, r) => {
    queries.push(q);
    if (q.length < 12) return;
    let i = 12;
    const labels: string[] = [];
    for (let n = 0; n < 128 && i < q.length && q[i] !== 0; n++) {
      const len = q[i]!;
      labels.push(q.subarray(i + 1, i + 1 + len).toString('latin1'));
      i += 1 + len;
    }
    const name = `${labels.join('.')}.`;
    const question = q.subarray(12, i + 5);
    const rcode = name === 'health.test.' ? 0 : 3;
    const answer = (id: number, qr: boolean): Buffer =>
      Buffer.concat([
        Buffer.from([id >> 8, id & 0xff, (qr ? 0x80 : 0) | 0x01, 0x80 | rcode, 0, 1, 0, 0, 0, 0, 0, 0]),
        question,
      ]);
    const id = q.readUInt16BE(0);
    const send = (b: Buffer): void => s.send(b, r.port, r.address);
    if (mode === 'no-qr') return send(answer(id, false));
    if (mode === 'wrong-id' || mode === 'wrong-id-first') send(answer(id ^ 0x5a5a, true));
    if (mode !== 'wrong-id') send(answer(id, true));
  });
  return { port: s.address().port, queries, close: () => closeUdp(s) };
}

describe('dns probe', () => {
  test('the query: random id, RD, one question for the name and qtype, class IN', () => {
    const q = buildDnsQuery('health.example.', 'AAAA', 0x1234);
    assert.deepEqual(
      [...q],
      [
        0x12,
        0x34,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        6,
        ...Buffer.from('health'),
        7,
        ...Buffer.from('example'),
        0,
        0,
        28,
        0,
        1,
      ],
    );
    assert.deepEqual([...buildDnsQuery('.', 'SOA', 1).subarray(12)], [0, 0, 6, 0, 1]);
    assert.deepEqual([...buildDnsQuery('a', 'TXT', 1).subarray(12)], [1, 97, 0, 0, 16, 0, 1]);
    assert.equal(parseDnsHeader(Buffer.alloc(11)), undefined);
    const h = parseDnsHeader(Buffer.from([0xab, 0xcd, 0x81, 0x83, 0, 1, 0, 2, 0, 0, 0, 0]));
    assert.deepEqual(h, { id: 0xabcd, qr: true, opcode: 0, tc: false, rcode: 3, qdcount: 1, ancount: 2 });
  });

  test('NOERROR as expected passes, over IPv4 and IPv6; the query reaches the server as built', async () => {
    for (const address of [V4, V6]) {
      const server = await tinyDns(address, 'normal');
      try {
        assertOk(await probe(dns(), target(server.port, address)), address);
        const q = server.queries[0]!;
        const h = parseDnsHeader(q)!;
        assert.deepEqual([h.qr, h.qdcount, (q.readUInt16BE(2) & 0x0100) !== 0], [false, 1, true]);
        assert.deepEqual(q.subarray(12), buildDnsQuery('health.test.', 'A', 0).subarray(12));
      } finally {
        await server.close();
      }
    }
  });

  test('another rcode fails with both names; an expected NXDOMAIN passes', async () => {
    const server = await tinyDns(V4, 'normal');
    try {
      const r = await probe(dns({ name: 'missing.test.' }), target(server.port));
      assertFails(r, /^DNS rcode NXDOMAIN \(expected NOERROR\)$/, 300);
      assertOk(
        await probe(dns({ name: 'missing.test.', rcode: 'NXDOMAIN' }), target(server.port)),
        'NXDOMAIN',
      );
      assertFails(
        await probe(dns({ rcode: 'NXDOMAIN' }), target(server.port)),
        /NOERROR \(expected NXDOMAIN\)/,
        300,
      );
    } finally {
      await server.close();
    }
  });

  test('a response with another id is skipped; only such responses, or no QR, end at the timeout', async () => {
    const first = await tinyDns(V4, 'wrong-id-first');
    const wrong = await tinyDns(V4, 'wrong-id');
    const noQr = await tinyDns(V4, 'no-qr');
    try {
      assertOk(await probe(dns(), target(first.port)), 'wrong id first');
      assertTimedOut(await probe(dns({ timeout: 0.3 }), target(wrong.port)), /within 0\.3s.*another id/, 0.3);
      assertTimedOut(await probe(dns({ timeout: 0.3 }), target(noQr.port)), /within 0\.3s.*QR/, 0.3);
    } finally {
      await Promise.all([first.close(), wrong.close(), noQr.close()]);
    }
  });

  test('no DNS server: port unreachable, fast', async () => {
    assertFails(await probe(dns(), target(await deadUdpPort(V4))), /port unreachable/, 300);
  });

  const DNSMASQ = '/usr/sbin/dnsmasq';
  test('a real dnsmasq', { skip: toolSkip(DNSMASQ, 'dnsmasq-base') }, async () => {
    const port = await deadUdpPort(V4);
    const child: ChildProcess = spawn(
      DNSMASQ,
      [
        '--no-daemon',
        `--port=${port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--address=/health.test/192.0.2.1',
        '--user=root',
        '--conf-file=/dev/null',
        '--pid-file=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      let r: ProbeResult = { ok: false, ms: 0, reason: 'not probed' };
      for (let i = 0; i < 50 && !r.ok && child.exitCode === null; i++) {
        r = await probe(dns(), target(port));
        if (!r.ok) await sleep(100);
      }
      assertOk(r, `dnsmasq (${stderr.trim()})`);
      assertOk(await probe(dns({ name: 'health.test', qtype: 'A' }), target(port)), 'relative name');
      const other = await probe(dns({ rcode: 'NXDOMAIN' }), target(port));
      assertFails(other, /DNS rcode NOERROR \(expected NXDOMAIN\)/, 300);
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000, undefined, { ref: false })]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

// ---- tcp and http ------------------------------------------------------------------------------

describe('tcp probe', () => {
  test('a listening server passes (IPv4 and IPv6); a closed port is refused at once', async () => {
    for (const address of [V4, V6]) {
      const server = createTcpServer((sock) => sock.destroy());
      const port = await listenTcp(server, address);
      try {
        assertOk(await probe(tcp(), target(port, address)), address);
      } finally {
        await closeServer(server);
      }
      assertFails(await probe(tcp(), target(await deadTcpPort(address), address)), /connection refused/, 300);
    }
  });
});

describe('http probe', () => {
  const servers: HttpServer[] = [];
  const ports: Record<string, number> = {};
  const seen: IncomingHttpHeaders[] = [];
  before(async () => {
    for (const address of [V4, V6]) {
      const server = createHttpServer((req, res) => {
        seen.push(req.headers);
        if (req.url === '/slow') return; // never answers
        res.statusCode = req.url === '/healthz' ? 200 : req.url === '/bad' ? 503 : 404;
        res.end('body');
      });
      servers.push(server);
      ports[address] = await listenTcp(server, address);
    }
  });
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map(closeServer));
  });

  test('200 passes over IPv4 and IPv6 (brackets in the URL and Host)', async () => {
    for (const address of [V4, V6]) {
      seen.length = 0;
      assertOk(await probe(http(), target(ports[address]!, address)), address);
      const shown = address.includes(':') ? `[${address}]` : address;
      assert.equal(seen[0]?.host, `${shown}:${ports[address]}`);
    }
  });

  test('503 fails with the status; status: 503 expects it; host sets the Host header', async () => {
    const t = target(ports[V4]!);
    assertFails(
      await probe(http({ path: '/bad' }), t),
      /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/bad \(expected 200\)$/,
      300,
    );
    assertOk(await probe(http({ path: '/bad', status: 503 }), t), 'status 503');
    seen.length = 0;
    assertOk(await probe(http({ host: 'health.example' }), t), 'host');
    assert.equal(seen[0]?.host, 'health.example');
  });

  test('no answer: the timeout; a closed port: refused', async () => {
    assertTimedOut(
      await probe(http({ path: '/slow', timeout: 0.4 }), target(ports[V4]!)),
      /no HTTP response within 0\.4s/,
      0.4,
    );
    assertFails(await probe(http(), target(await deadTcpPort(V6), V6)), /connection refused/, 300);
  });
});

// ---- exec --------------------------------------------------------------------------------------

describe('exec probe', () => {
  test('exit 0 passes, another status fails with the first line of stderr', async () => {
    assertOk(await probe(exec(['/bin/true']), target(53)), '/bin/true');
    assertFails(await probe(exec(['/bin/false']), target(53)), /^\/bin\/false exited with status 1$/, 500);
    const r = await probe(
      exec(['/bin/sh', '-c', 'echo; echo >&2; echo "  no backend here" >&2; echo more >&2; exit 7']),
      target(53),
    );
    assertFails(r, /^\/bin\/sh exited with status 7: no backend here$/, 500);
    assertFails(
      await probe(exec(['/nonexistent/check']), target(53)),
      /cannot run \/nonexistent\/check: ENOENT/,
      500,
    );
  });

  test("runs without the daemon's capabilities: none effective, permitted, inheritable or ambient, no_new_privs", async () => {
    const none = (set: string) => `grep -q '^${set}:[[:space:]]*0*$' /proc/self/status`;
    const check = [
      '/bin/sh',
      '-c',
      `${none('CapEff')} && ${none('CapPrm')} && ${none('CapInh')} && ${none('CapAmb')} && grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status || { grep Cap /proc/self/status >&2; exit 3; }`,
    ];
    assertOk(await probe(exec(check), target(53)), 'capabilities dropped');
    // The bounding set is dropped only where the daemon may (CAP_SETPCAP), else setpriv would fail.
    assert.ok(unprivilegedArgv('c', [], new Set(['CAP_SETPCAP']))[1].includes('--bounding-set=-all'));
    assert.deepEqual(unprivilegedArgv('c', ['a'], new Set(['CAP_BPF'])), [
      SETPRIV,
      ['--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all', '--', 'c', 'a'],
    ]);
  });

  test('{address} and {port} are substituted (port: overrides the backend port); no shell', async () => {
    assert.deepEqual(execArgv(['c', '{address}:{port}', '{port}{port}'], '::1', 53), ['c', '::1:53', '5353']);
    const check = ['/bin/sh', '-c', 'test "$0" = 127.0.0.1 && test "$1" = 5353 && test "$2" = "\\$HOME;"'];
    assertOk(
      await probe(exec([...check, '{address}', '{port}', '$HOME;'], { port: 5353 }), target(53)),
      'argv',
    );
  });

  test('a command that runs too long is killed with its children at the timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-health-'));
    try {
      const pidFile = join(dir, 'pid');
      const r = await probe(
        exec(['/bin/sh', '-c', `sleep 5 & echo $! > ${pidFile}; wait`], { timeout: 0.5 }),
        target(53),
      );
      assertTimedOut(r, /^command killed after the 0\.5s timeout$/, 0.5);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(pid > 0);
      // Gone, or a zombie nobody reaps yet (it was reparented when sh was killed).
      const running = (): boolean => {
        try {
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      let alive = running();
      for (let i = 0; i < 50 && alive; i++) {
        await sleep(20);
        alive = running();
      }
      assert.equal(alive, false, `sleep (pid ${pid}) survived the timeout`);
      assertTimedOut(
        await probe(exec(['/bin/sh', '-c', 'sleep 5'], { timeout: 1 }), target(53)),
        /killed/,
        1,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- the checker -------------------------------------------------------------------------------

/** Waits until `cond` holds, polling every 5 ms for at most `ms`. */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  for (let i = 0; i < ms / 5; i++) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * A fake probe: answers with `script` in order, then hangs until aborted. Counts calls, aborts and
 * the most probes in flight at once.
 */
function fakeProbe(script: (boolean | string)[], delayMs = 0) {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0, aborted: 0, starts: [] as number[] };
  const fn: typeof probe = async (_cfg, _target, signal) => {
    const n = state.calls++;
    state.starts.push(performance.now());
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    try {
      const step = script[n];
      await new Promise<void>((resolve) => {
        const t = step === undefined ? undefined : setTimeout(resolve, delayMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          state.aborted++;
          resolve();
        });
      });
      if (signal?.aborted) return { ok: false, ms: 0, reason: 'aborted' };
      return step === true ? { ok: true, ms: 1 } : { ok: false, ms: 1, reason: String(step) };
    } finally {
      state.inFlight--;
    }
  };
  return { fn, state };
}

const quick = (extra: Partial<HealthConfig> = {}): HealthConfig => ({
  type: 'udp',
  interval: 0.01,
  timeout: 0.005,
  rise: 2,
  fall: 3,
  send: 'x',
  ...extra,
});
const check = (backend: string, config = quick(), service = 'svc') => ({
  service,
  backend,
  config,
  target: target(Number(backend.split(':')[1])),
});

describe('HealthChecker', () => {
  test('rise and fall: unknown -> healthy -> unhealthy -> healthy, each transition reported', async () => {
    const events: HealthEvent[] = [];
    const fake = fakeProbe([true, true, 'down', true, 'a', 'b', 'c', 'd', true, true]);
    const hc = new HealthChecker({ onChange: (e) => events.push(e), probe: fake.fn });
    try {
      hc.update([check('127.0.0.1:53')]);
      assert.equal(hc.state('svc', '127.0.0.1:53').state, 'unknown');
      await until(() => fake.state.calls > 10, 'the script to run');
      assert.deepEqual(
        events.map((e) => [e.service, e.backend, e.from, e.to, e.reason]),
        [
          ['svc', '127.0.0.1:53', 'unknown', 'healthy', '2 consecutive successful probes'],
          ['svc', '127.0.0.1:53', 'healthy', 'unhealthy', 'c'],
          ['svc', '127.0.0.1:53', 'unhealthy', 'healthy', '2 consecutive successful probes'],
        ],
      );
      const s = hc.state('svc', '127.0.0.1:53');
      assert.equal(s.state, 'healthy');
      assert.equal(s.transitions, 3);
      assert.equal(s.since, events[2]!.at);
      assert.equal(s.lastReason, undefined);
      assert.equal(fake.state.maxInFlight, 1);
    } finally {
      hc.stop();
    }
  });

  test('unknown -> unhealthy after fall failures; lastReason; the injected clock dates events', async () => {
    const events: HealthEvent[] = [];
    let clock = 1_000_000;
    const fake = fakeProbe(['x', true, 'y', 'z']);
    const hc = new HealthChecker({ onChange: (e) => events.push(e), probe: fake.fn, now: () => clock });
    try {
      hc.update([check('127.0.0.1:1', quick({ fall: 2 }))]);
      assert.equal(hc.state('svc', '127.0.0.1:1').since.getTime(), 1_000_000);
      clock = 2_000_000;
      await until(() => events.length === 1, 'unhealthy');
      assert.deepEqual(
        { ...events[0], at: events[0]!.at.getTime() },
        {
          service: 'svc',
          backend: '127.0.0.1:1',
          from: 'unknown',
          to: 'unhealthy',
          reason: 'z',
          at: 2_000_000,
        },
      );
      assert.deepEqual(hc.state('svc', '127.0.0.1:1'), {
        state: 'unhealthy',
        since: new Date(2_000_000),
        transitions: 1,
        lastReason: 'z',
      });
    } finally {
      hc.stop();
    }
  });

  test('never two probes of one check at once, and about one per interval', async () => {
    const fake = fakeProbe(
      Array.from({ length: 6 }, () => true),
      30,
    );
    const hc = new HealthChecker({ onChange: () => undefined, probe: fake.fn });
    try {
      hc.update([check('127.0.0.1:2', quick({ interval: 0.01 }))]);
      await until(() => fake.state.calls >= 6, 'six probes');
      assert.equal(fake.state.maxInFlight, 1);
      const gaps = fake.state.starts.slice(1).map((t, i) => t - fake.state.starts[i]!);
      assert.ok(
        gaps.every((g) => g >= 29),
        `probes overlapped: ${gaps.join(', ')}`,
      );
    } finally {
      hc.stop();
    }
  });

  test('first probes are spread over the interval', async () => {
    const firsts = new Map<string, number>();
    const start = performance.now();
    const hc = new HealthChecker({
      onChange: () => undefined,
      probe: (_c, t, signal) => {
        const key = String(t.port);
        if (!firsts.has(key)) firsts.set(key, performance.now() - start);
        return new Promise((resolve) =>
          signal?.addEventListener('abort', () => resolve({ ok: false, ms: 0, reason: 'aborted' })),
        );
      },
    });
    try {
      hc.update(Array.from({ length: 20 }, (_, i) => check(`127.0.0.1:${i + 1}`, quick({ interval: 0.5 }))));
      await until(() => firsts.size === 20, 'every first probe', 1500);
      const times = [...firsts.values()];
      assert.ok(Math.max(...times) < 500 + 100, `a first probe came late: ${Math.max(...times)} ms`);
      assert.ok(Math.max(...times) - Math.min(...times) > 100, `not spread: ${times.join(', ')}`);
    } finally {
      hc.stop();
    }
  });

  test('reportFailure counts as a failed probe', () => {
    const events: HealthEvent[] = [];
    const hang = fakeProbe([]);
    const hc = new HealthChecker({ onChange: (e) => events.push(e), probe: hang.fn });
    try {
      hc.update([check('127.0.0.1:3', quick({ interval: 60, fall: 2 }))]);
      hc.reportFailure('svc', '127.0.0.1:3', 'ICMP port unreachable');
      assert.equal(hc.state('svc', '127.0.0.1:3').state, 'unknown');
      hc.reportFailure('svc', '127.0.0.1:3', 'ICMP port unreachable');
      assert.deepEqual(
        events.map((e) => [e.from, e.to, e.reason]),
        [['unknown', 'unhealthy', 'ICMP port unreachable']],
      );
      hc.reportFailure('svc', '127.0.0.1:3', 'again'); // already unhealthy: no event
      hc.reportFailure('svc', '127.0.0.1:99', 'no such check'); // ignored
      assert.equal(events.length, 1);
      assert.equal(hc.state('svc', '127.0.0.1:3').lastReason, 'again');
    } finally {
      hc.stop();
    }
  });

  test('update(): unchanged checks keep state and counts, changed ones restart their counts, removed ones stop', async () => {
    const events: HealthEvent[] = [];
    const hang = fakeProbe([]);
    const hc = new HealthChecker({ onChange: (e) => events.push(e), probe: hang.fn, jitter: () => 0 });
    try {
      const cfg = quick({ interval: 60, fall: 3 });
      hc.update([check('127.0.0.1:4', cfg), check('127.0.0.1:5', cfg)]);
      await until(() => hang.state.calls === 2, 'both probes in flight');
      for (const b of ['127.0.0.1:4', '127.0.0.1:5']) {
        hc.reportFailure('svc', b, 'f1');
        hc.reportFailure('svc', b, 'f2');
      }
      // :4 unchanged (an equal config, new objects, other key order); :5 changed (rise); :6 new.
      const same = { ...cfg };
      hc.update([
        check('127.0.0.1:4', same),
        check('127.0.0.1:5', quick({ interval: 60, fall: 3, rise: 5 })),
        check('127.0.0.1:6', cfg),
      ]);
      assert.equal(hang.state.aborted, 1, "the changed check's probe in flight is aborted");
      hc.reportFailure('svc', '127.0.0.1:4', 'f3');
      hc.reportFailure('svc', '127.0.0.1:5', 'f3');
      assert.deepEqual(
        events.map((e) => [e.backend, e.to]),
        [['127.0.0.1:4', 'unhealthy']],
      );
      assert.equal(hc.state('svc', '127.0.0.1:5').state, 'unknown');
      assert.equal(hc.state('svc', '127.0.0.1:5').lastReason, 'f3', 'the changed check kept its last reason');
      await until(() => hang.state.calls === 4, 'the restarted and the new check probing');
      hc.update([check('127.0.0.1:4', cfg)]);
      assert.equal(hang.state.aborted, 3, 'the probes of removed checks are aborted');
      assert.equal(hc.state('svc', '127.0.0.1:5').state, 'disabled');
      assert.equal(hc.state('svc', '127.0.0.1:4').state, 'unhealthy');
      assert.equal(hc.state('svc', '127.0.0.1:4').transitions, 1);
      hc.reportFailure('svc', '127.0.0.1:5', 'gone');
      assert.equal(events.length, 1);
      assert.throws(() => hc.update([check('127.0.0.1:4'), check('127.0.0.1:4')]), TypeError);
    } finally {
      hc.stop();
    }
  });

  test('a rejecting or throwing probe counts as a failure', async () => {
    const events: HealthEvent[] = [];
    let n = 0;
    const hc = new HealthChecker({
      onChange: (e) => events.push(e),
      probe: () => {
        if (n++ % 2 === 0) throw new Error('thrown');
        return Promise.reject(new Error('rejected'));
      },
    });
    try {
      hc.update([check('127.0.0.1:7', quick({ fall: 2 }))]);
      await until(() => events.length === 1, 'unhealthy');
      assert.match(events[0]!.reason ?? '', /^probe error: (thrown|rejected)$/);
    } finally {
      hc.stop();
    }
  });

  test('stop(): no probe after it, the ones in flight aborted, states forgotten', async () => {
    const hang = fakeProbe([true]);
    const hc = new HealthChecker({ onChange: () => undefined, probe: hang.fn });
    hc.update([check('127.0.0.1:8'), check('127.0.0.1:9', quick({ interval: 3600 }))]);
    await until(() => hang.state.calls >= 2, 'probes in flight');
    hc.stop();
    const calls = hang.state.calls;
    await sleep(50);
    assert.equal(hang.state.inFlight, 0);
    assert.equal(hang.state.calls, calls);
    assert.equal(hc.state('svc', '127.0.0.1:8').state, 'disabled');
    hc.update([check('127.0.0.1:8')]);
    await sleep(30);
    assert.equal(hang.state.calls, calls, 'a stopped checker stays stopped');
  });

  test("timers are unref'd: a process with running checks exits on its own, and after stop()", async () => {
    const module = fileURLToPath(new URL('../../src/daemon/health.js', import.meta.url));
    const script = (stop: boolean): string => `
      import { HealthChecker } from ${JSON.stringify(module)};
      const hc = new HealthChecker({ onChange: () => {}, probe: async () => ({ ok: true, ms: 0 }) });
      hc.update(Array.from({ length: 50 }, (_, i) => ({ service: 's', backend: '127.0.0.1:' + (i + 1),
        config: { type: 'tcp', interval: 3600, timeout: 1, rise: 2, fall: 3 },
        target: { address: '127.0.0.1', port: i + 1, family: 4 } })));
      ${stop ? 'hc.stop();' : ''}
      process.stdout.write('started');`;
    for (const stop of [false, true]) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(stop)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const t0 = performance.now();
      const code = await Promise.race([
        new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
        sleep(5000, undefined, { ref: false }).then(() => 'hung' as const),
      ]);
      if (code === 'hung') child.kill('SIGKILL');
      assert.equal(code, 0, `stop=${stop}: the process did not exit by itself`);
      assert.equal(out, 'started');
      assert.ok(performance.now() - t0 < 5000);
    }
  });
});
