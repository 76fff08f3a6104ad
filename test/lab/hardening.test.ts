// The daemon under hostile local users and unlucky operators: the API cannot be used to run a
// program, a local user reaches neither the socket nor TCP without the token, another origin
// (DNS rebinding) is refused, a refused change changes nothing, a bad file is loud, a refused
// start leaves nothing attached, stale pins heal by themselves, and dsr health checks probe what
// clients reach.
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../src/api/client.js';
import { withNetns } from '../../src/kernel/netns.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { xdpQuery } from '../../src/kernel/xdp.js';
import { nsArgv, nsSh, nsSpawn, sh } from '../../src/lab/exec.js';
import { createLab, type Lab } from '../../src/lab/lab.js';
import { createNetns, deleteNetns, removeStaleNetns } from '../../src/lab/netns.js';
import { instancePaths } from '../../src/util/host.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript, startListener } from '../helpers/proc.js';
import { tcPathLabel } from '../helpers/tc-path.js';

const PREFIX = 'xlbh-';
const PORT = 5300;
const BPORT = 5301;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

interface Answer {
  status?: number;
  body?: string;
  error?: string;
}

/** Polls until `pred` holds. */
async function until(
  what: string,
  pred: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`waited ${timeoutMs} ms in vain for ${what}`);
}

/** `xlb ARGS` in `ns`, as root: status, stdout, stderr. */
function xlb(ns: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const [cmd, argv] = nsArgv(ns, process.execPath, [CLI, ...args]);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const HOSTILE = `the daemon against hostile local users and bad input ${tcPathLabel()}`;
describe(HOSTILE, { skip: rootSkip() }, () => {
  let lab: Lab;
  let daemon: Proc;
  const procs: Proc[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-hard-'));
  const configPath = join(tmp, 'xlb.yaml');
  const tokenFile = join(tmp, 'api-token');
  const socket = join(tmp, 'api.sock');
  const instance = `hard-${process.pid}`;
  const tcpPort = 20000 + (process.pid % 20000);
  const url = `http://127.0.0.1:${tcpPort}`;
  const marker = join(tmp, 'ran-as-root');
  let token = '';
  let api: ApiClient;

  const config = (extra = '') =>
    [
      `interfaces: [${lab.lb.interfaces.map((i) => i.ifname).join(', ')}]`,
      'xdp_mode: native',
      // 18.5 MiB of flow tables and 16 KiB for rr: room for no 16 MiB maglev table more.
      'memory_limit: 32MiB',
      'services:',
      '  - name: rr',
      `    vip: ${lab.vip.v4}`,
      `    port: ${PORT}`,
      '    mode: nat',
      '    scheduler: round-robin',
      '    backends:',
      ...lab.backends.map((b) => `      - { address: ${b.v4}, port: ${BPORT} }`),
      extra,
    ].join('\n');

  /** A request from the load balancer's namespace; `as` nobody runs it as uid 65534. */
  const request = (args: string[], as: 'root' | 'nobody' = 'root'): Answer => {
    const cmd = as === 'root' ? [process.execPath] : ['setpriv', ...NOBODY, process.execPath];
    const out = nsSh(lab.lb.ns, cmd[0]!, [...cmd.slice(1), helperScript('http-request-cli.js'), ...args]);
    return JSON.parse(out) as Answer;
  };
  const errorCode = (a: Answer): string | undefined =>
    a.body ? (JSON.parse(a.body) as { error?: { code?: string } }).error?.code : undefined;

  before(async () => {
    removeStaleNetns(PREFIX);
    lab = createLab({ prefix: `${PREFIX}${process.pid}-n-`, mode: 'nat', backends: 2 });
    writeFileSync(configPath, config());
    chmodSync(tmp, 0o755); // a local user may look, as on a real host's /etc/xlb
    daemon = new Proc(
      nsSpawn(lab.lb.ns, process.execPath, [
        CLI,
        'daemon',
        '--config',
        configPath,
        '--instance',
        instance,
        '--api-socket',
        socket,
        '--api-listen',
        `127.0.0.1:${tcpPort}`,
        '--api-token-file',
        tokenFile,
        '--no-watch',
        '--no-health',
      ]),
    );
    procs.push(daemon);
    await daemon.waitFor(/"event":"ready"/, 30_000);
    token = sh('cat', [tokenFile]).trim();
    api = new ApiClient({ socket, token, timeoutMs: 20_000 });
  });

  after(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    if (lab) {
      const [cmd, args] = nsArgv(lab.lb.ns, process.execPath, [CLI, 'down', '--instance', instance]);
      spawnSync(cmd, args);
      lab.destroy();
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('made its token file itself, readable by root only', () => {
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.match(daemon.lines.join('\n'), /"event":"token_created"/);
    const r = spawnSync('setpriv', [...NOBODY, 'cat', tokenFile], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, 'uid 65534 cannot read the token');
  });

  it('a local user (uid 65534) reaches neither the socket nor the TCP API', () => {
    assert.deepEqual(request(['--socket', socket, 'GET', '/v1/status'], 'nobody'), { error: 'EACCES' });
    const exec = JSON.stringify({
      name: 'pwn',
      vip: lab.vip.v4,
      port: 9999,
      health: { type: 'exec', command: ['touch', marker] },
    });
    const tcp = request(['--url', url, 'POST', '/v1/services', exec], 'nobody');
    assert.equal(tcp.status, 401, tcp.body);
    assert.equal(errorCode(tcp), 'XLB_UNAUTHORIZED');
  });

  it('exec health checks never come through the API, not even with the token', async () => {
    const before = await api.status().then((s) => s.generation);
    const exec = JSON.stringify({
      name: 'pwn',
      vip: lab.vip.v4,
      port: 9999,
      mode: 'nat',
      backends: [{ address: lab.backends[0]!.v4, port: BPORT }],
      health: { type: 'exec', interval: '100ms', timeout: '50ms', command: ['touch', marker] },
    });
    for (const how of [
      ['--url', url],
      ['--socket', socket],
    ]) {
      const a = request([...how, 'POST', '/v1/services', exec, `Authorization: Bearer ${token}`]);
      assert.equal(a.status, 403, a.body);
      assert.equal(errorCode(a), 'XLB_FORBIDDEN');
      assert.match(a.body ?? '', /only be configured in the config file/);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(existsSync(marker), false, 'nothing ran');
    assert.equal((await api.status()).generation, before, 'nothing changed');
    assert.equal((await api.services()).length, 1);
  });

  it('a page of another origin (DNS rebinding) is refused on TCP; the API address is answered', () => {
    const rebound = request([
      '--url',
      url,
      'GET',
      '/v1/status',
      `Authorization: Bearer ${token}`,
      'Host: rebind.example',
    ]);
    assert.equal(rebound.status, 403);
    assert.equal(errorCode(rebound), 'XLB_FORBIDDEN');
    const ok = request(['--url', url, 'GET', '/v1/status', `Authorization: Bearer ${token}`]);
    assert.equal(ok.status, 200, ok.body);
  });

  it('a refused weight change changes nothing: a drained backend stays drained', async () => {
    const id = `${lab.backends[0]!.v4}:${BPORT}`;
    const drained = await api.drain('rr', id);
    assert.equal(drained.drained, true);
    const generation = (await api.status()).generation;
    await assert.rejects(api.setWeight('rr', id, 2), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'XLB_INVALID_CONFIG');
      return true;
    });
    const b = (await api.service('rr')).backends.find((x) => x.id === id)!;
    assert.deepEqual(
      [b.drained, b.weight, b.active],
      [true, 0, false],
      'still drained, weight 0, out of the table',
    );
    assert.equal((await api.status()).generation, generation);
    await api.undrain('rr', id);
  });

  it('a service over memory_limit is refused through the API with the estimate; nothing changed', async () => {
    const generation = (await api.status()).generation;
    const big = {
      name: 'big',
      vip: lab.vip.v4,
      port: 9998,
      mode: 'nat' as const,
      table_size: 1048573,
      backends: [{ address: lab.backends[0]!.v4, port: BPORT }],
    };
    await assert.rejects(api.addService(big), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'XLB_INVALID_CONFIG');
      assert.match(
        e.message,
        /the flow and scheduling tables would take an estimated 36\.5 MiB \([\d,]+ bytes\) of kernel memory, more than memory_limit 32\.0 MiB \(33,554,432 bytes\): .*'big' \(maglev table_size 1048573\) 16\.0 MiB/,
      );
      return true;
    });
    assert.equal((await api.status()).generation, generation, 'nothing changed');
    assert.deepEqual(
      (await api.services()).map((s) => s.name),
      ['rr'],
    );
  });

  it('a file with problems is loud: status, drift, metrics and config reload say so until it is fixed', async () => {
    writeFileSync(configPath, config().replace(`port: ${PORT}`, `port: ${PORT}x`));
    const reload = xlb(lab.lb.ns, ['config', 'reload', '--socket', socket, '--token-file', tokenFile]);
    assert.equal(reload.status, 1, reload.err);
    assert.match(reload.err, /services\[0\]\.port/);
    const status = await api.status();
    assert.equal(status.configValid, false);
    assert.match(status.configProblem ?? '', /services\[0\]\.port/);
    const shown = xlb(lab.lb.ns, ['status', '--socket', socket, '--token-file', tokenFile]);
    assert.match(shown.out, /^config +.*: INVALID since .*services\[0\]\.port/m);
    const drift = await api.drift();
    assert.equal(drift.fileValid, false);
    assert.match(drift.fileProblem ?? '', /^file invalid since .*services\[0\]\.port/);
    const driftCmd = xlb(lab.lb.ns, ['config', 'drift', '--socket', socket, '--token-file', tokenFile]);
    assert.equal(driftCmd.status, 1);
    assert.match(driftCmd.out, /the config file is invalid/);
    const metrics = await api.metrics();
    assert.match(metrics, /^xlb_config_last_reload_success 0$/m);
    assert.match(metrics, /^xlb_config_reload_failures_total 1$/m);

    writeFileSync(configPath, config());
    assert.equal(
      xlb(lab.lb.ns, ['config', 'reload', '--socket', socket, '--token-file', tokenFile]).status,
      0,
    );
    assert.equal((await api.status()).configValid, true);
    assert.match(await api.metrics(), /^xlb_config_last_reload_success 1$/m);
  });
});

describe(`refused starts and stale pins ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  const ns = `${PREFIX}${process.pid}-s`;
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-start-'));
  const configPath = join(tmp, 'xlb.yaml');
  const instance = `start-${process.pid}`;
  const procs: Proc[] = [];

  const makeNet = () => {
    createNetns(ns);
    nsSh(ns, 'ip', ['link', 'add', 'name', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    nsSh(ns, 'ip', ['link', 'set', 'v0', 'up']);
    nsSh(ns, 'ip', ['link', 'set', 'v1', 'up']);
    nsSh(ns, 'ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'v0']);
  };
  const attached = () => withNetns(`/run/netns/${ns}`, () => xdpQuery(ifindexOf('v0')));

  before(() => {
    removeStaleNetns(PREFIX);
    makeNet();
    writeFileSync(
      configPath,
      'interface: v0\nservices:\n  - { name: s, vip: 192.0.2.10, port: 53, mode: nat, backends: [{ address: 198.51.100.11, port: 53 }] }\n',
    );
  });
  after(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    xlb(ns, ['down', '--instance', instance]);
    deleteNetns(ns);
    rmSync(tmp, { recursive: true, force: true });
  });

  const daemonArgs = (extra: string[]) => [
    'daemon',
    '--config',
    configPath,
    '--instance',
    instance,
    '--no-health',
    ...extra,
  ];

  it('an exposure or a listener it refuses fails the start before anything is loaded or attached', () => {
    const exposed = xlb(
      ns,
      daemonArgs(['--api-socket', join(tmp, 'a.sock'), '--api-listen', '0.0.0.0:9477']),
      {
        XLB_API_TOKEN: '',
      },
    );
    assert.notEqual(exposed.status, 0);
    assert.match(exposed.err, /binding 0\.0\.0\.0 needs a token/);
    const loopback = xlb(
      ns,
      daemonArgs(['--api-socket', join(tmp, 'a.sock'), '--api-listen', '127.0.0.1:9477']),
      {
        XLB_API_TOKEN: '',
      },
    );
    assert.match(loopback.err, /needs a token: .*loopback too/);
    const file = join(tmp, 'not-a-socket');
    writeFileSync(file, 'keep');
    const socketFile = xlb(ns, daemonArgs(['--api-socket', file]));
    assert.equal(socketFile.status, 1);
    assert.match(socketFile.err, /exists and is not a socket/);
    assert.equal(attached(), undefined, 'no XDP program on v0');
    assert.equal(existsSync(instancePaths(instance).pinDir), false, 'nothing pinned');
    assert.equal(existsSync(instancePaths(instance).stateFile), false, 'no state');
  });

  it('pins left on an interface that was deleted and made again are replaced by themselves', async () => {
    const start = async () => {
      const p = new Proc(
        nsSpawn(ns, process.execPath, [CLI, ...daemonArgs(['--api-socket', join(tmp, 'd.sock')])]),
      );
      procs.push(p);
      await p.waitFor(/"event":"ready"/, 30_000);
      return p;
    };
    const first = await start();
    assert.ok(attached(), 'attached');
    assert.equal(await first.stop('SIGTERM'), 0);
    assert.ok(attached(), 'forwarding goes on without the daemon');
    deleteNetns(ns);
    makeNet(); // same names, new interfaces: the pinned links are defunct
    assert.equal(attached(), undefined);
    const second = await start();
    assert.match(
      second.lines.join('\n'),
      /v0: the links an earlier daemon pinned belong to an interface that is gone/,
    );
    assert.ok(attached(), 'attached anew');
    await second.stop('SIGTERM');
  });
});

describe(`dsr health checks probe what clients reach ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  let lab: Lab;
  const procs: Proc[] = [];
  const listeners = new Map<string, Proc>();
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-dsrh-'));
  const configPath = join(tmp, 'xlb.yaml');
  const socket = join(tmp, 'api.sock');
  const instance = `dsrh-${process.pid}`;
  const api = new ApiClient({ socket, timeoutMs: 20_000 });
  const HEALTH = '{ type: udp, interval: 500ms, timeout: 300ms, rise: 2, fall: 2 }';

  const health = async (service: string) =>
    Object.fromEntries((await api.service(service)).backends.map((b) => [b.address, b.health]));

  before(async () => {
    removeStaleNetns(PREFIX);
    lab = createLab({ prefix: `${PREFIX}${process.pid}-d-`, mode: 'dsr', backends: 3 });
    writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH }));
    for (const l of lab.listeners({ port: PORT })) {
      const p = await startListener(l, { quiet: true });
      procs.push(p);
      listeners.set(`${l.node}/${l.address}`, p);
    }
    const d = new Proc(
      nsSpawn(lab.lb.ns, process.execPath, [
        CLI,
        'daemon',
        '--config',
        configPath,
        '--instance',
        instance,
        '--api-socket',
        socket,
        '--no-watch',
      ]),
    );
    procs.push(d);
    await d.waitFor(/"event":"ready"/, 30_000);
  });
  after(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    if (lab) {
      const [cmd, args] = nsArgv(lab.lb.ns, process.execPath, [CLI, 'down', '--instance', instance]);
      spawnSync(cmd, args);
      lab.destroy();
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const family of ['v4', 'v6'] as const) {
    it(`IPv${family === 'v4' ? 4 : 6}: backends serving the VIP are healthy; one whose VIP listener stopped goes out`, async () => {
      const service = `lab-${family}`;
      await until('every backend healthy', async () =>
        Object.values(await health(service)).every((h) => h === 'healthy'),
      );
      await listeners.get(`be2/${lab.vip[family]}`)!.stop('SIGTERM');
      await until(
        'be2 unhealthy',
        async () => (await health(service))[lab.backends[1]![family]] === 'unhealthy',
      );
      const states = await health(service);
      assert.equal(states[lab.backends[0]![family]], 'healthy');
      assert.equal(states[lab.backends[2]![family]], 'healthy');
      const be2 = (await api.service(service)).backends.find((b) => b.address === lab.backends[1]![family])!;
      assert.equal(be2.active, false, 'out of the table');
    });
  }

  it("probing the backends' own addresses (target: backend) would take them all out: they serve only the VIP", async () => {
    writeFileSync(
      configPath,
      lab.xlbConfig({ port: PORT, health: HEALTH.replace('type: udp', 'type: udp, target: backend') }),
    );
    await api.reload();
    await until('every IPv4 backend unhealthy', async () =>
      Object.values(await health('lab-v4')).every((h) => h === 'unhealthy'),
    );
    writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH }));
    await api.reload();
    await until('be1 and be3 healthy again', async () => {
      const s = await health('lab-v4');
      return s[lab.backends[0]!.v4] === 'healthy' && s[lab.backends[2]!.v4] === 'healthy';
    });
  });
});
