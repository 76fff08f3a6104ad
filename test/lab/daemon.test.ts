// The daemon in a two-arm nat lab, as an operator runs it: `xlb daemon` in the load
// balancer's namespace, driven through its unix socket. Reloads write only the difference
// and a bad file changes nothing; API changes are drift; health checks take a stopped
// backend out and bring it back in the time the config allows; SIGKILL, restart and an
// upgrade to a changed BPF object lose no packet and keep the counters; xlb down ends it.
// A local-mode service makes the TC egress program part of every round trip (it translates
// the replies), so the restart and the upgrade show that its attachment never has a gap, on
// both TC attach paths: tcx links updated in place, and classic TC filters replaced at their
// handle and priority (XLB_FEATURES=-tcx).
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { ApiError } from '../../src/daemon/contract.js';
import { Dataplane } from '../../src/control/dataplane.js';
import { instancePaths } from '../../src/util/host.js';
import { BpfMap } from '../../src/kernel/map.js';
import { inNetns } from '../../src/kernel/netns.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { progInfoByFd, progInfoById } from '../../src/kernel/program.js';
import { classicTcProgram, tcxPrograms } from '../../src/kernel/tc.js';
import { XLB_TC_SLOT } from '../../src/control/attachments.js';
import { xdpQuery } from '../../src/kernel/xdp.js';
import { nsArgv, nsSh, nsSpawn } from '../../src/lab/exec.js';
import { createLab, type Lab } from '../../src/lab/lab.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript } from '../helpers/proc.js';
import { NO_TC_HOOKS, tcHooks, tcPath, tcPathLabel, xlbTcHooks } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';
const PORT = 5300;
const RR_PORT = 5400;
const LOCAL_PORT = 5500;
const BPORT = 5301;
const HEALTH = { intervalMs: 500, timeoutMs: 200, rise: 2, fall: 2 };
/** Scheduling noise allowed on top of the bounds the health config implies (polling, timers). */
const SLACK_MS = 500;
const NEXT_OBJECT = fileURLToPath(new URL('../../bpf/test/xlb-next.bpf.o', import.meta.url));

interface LogLine {
  event?: string;
  why?: string;
  writes?: number;
  seconds?: number;
  [k: string]: unknown;
}

describe(`xlb daemon in a nat lab ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  const path = tcPath();
  let lab: Lab;
  let daemon: Proc;
  const echo = new Map<number, Proc>();
  const procs: Proc[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-daemon-'));
  const configPath = join(tmp, 'xlb.yaml');
  const instance = `daemon-${process.pid}`;
  const socket = join(tmp, 'api.sock');
  const api = new ApiClient({ socket, timeoutMs: 20_000 });
  const be = (n: number) => `${lab.backends[n - 1]!.v4}:${BPORT}`;

  /** The load balancer's client-side address: where the local service's backend listens. */
  const lbAddr = () => lab.lb.interfaces[0]!.v4;

  /**
   * The config: `dns` (maglev, health-checked, be1-3), `rr` (weighted round-robin, no health) and
   * `loc` (local mode: a backend on the load balancer itself, its replies translated by TC egress).
   */
  const configText = (rrBackends = [1, 2, 3], extra = '') =>
    [
      `interfaces: [${lab.lb.interfaces.map((i) => i.ifname).join(', ')}]`,
      'xdp_mode: native',
      'services:',
      '  - name: dns',
      `    vip: ${lab.vip.v4}`,
      `    port: ${PORT}`,
      '    mode: nat',
      '    scheduler: maglev',
      '    table_size: 1021',
      `    health: { type: udp, interval: ${HEALTH.intervalMs}ms, timeout: ${HEALTH.timeoutMs}ms, rise: ${HEALTH.rise}, fall: ${HEALTH.fall} }`,
      '    all_down: drop',
      '    backends:',
      ...[1, 2, 3].map((n) => `      - { address: ${lab.backends[n - 1]!.v4}, port: ${BPORT} }`),
      '  - name: rr',
      `    vip: ${lab.vip.v4}`,
      `    port: ${RR_PORT}`,
      '    mode: nat',
      '    scheduler: weighted-round-robin',
      '    backends:',
      ...rrBackends.map((n) => `      - { address: ${lab.backends[n - 1]!.v4}, port: ${BPORT} }`),
      '  - name: loc',
      `    vip: ${lab.vip.v4}`,
      `    port: ${LOCAL_PORT}`,
      '    mode: local',
      '    scheduler: round-robin',
      '    backends:',
      `      - { address: ${lbAddr()}, port: ${BPORT} }`,
      extra,
    ].join('\n');

  const logs = (p: Proc = daemon): LogLine[] =>
    p.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });

  const startDaemon = async (env: NodeJS.ProcessEnv = {}, flags = ['--no-watch']): Promise<Proc> => {
    const p = new Proc(
      nsSpawn(
        lab.lb.ns,
        process.execPath,
        // --no-watch: reloads come from the test only (the watcher has its own test).
        [CLI, 'daemon', '--config', configPath, '--instance', instance, '--api-socket', socket, ...flags],
        { env: { ...process.env, ...env } },
      ),
    );
    procs.push(p);
    await p.waitFor(/"event":"ready"/, 30_000);
    return p;
  };

  const startEcho = async (n: number) => {
    const p = Proc.start(lab.backends[n - 1]!.ns, process.execPath, [
      CLI,
      'echo-server',
      '--quiet',
      '--address',
      lab.backends[n - 1]!.v4,
      '-p',
      String(BPORT),
    ]);
    procs.push(p);
    echo.set(n, p);
    await p.waitFor(/^listening/);
  };

  /** Polls until `pred` holds; returns the milliseconds it took. */
  const until = async (what: string, pred: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> => {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      if (await pred()) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.fail(`waited ${timeoutMs} ms in vain for ${what}`);
  };

  const backendView = async (service: string, id: string) => {
    const b = (await api.service(service)).backends.find((x) => x.id === id);
    assert.ok(b, `${service} has backend ${id}`);
    return b;
  };

  const allHealthy = async () =>
    (await api.service('dns')).backends.every((b) => b.health === 'healthy' && b.active);

  /** Long-lived flows from the client: per source port, datagrams sent and echoes received. */
  const flows = (count: number, first: number, durationMs: number, port = PORT) => {
    const p = Proc.start(lab.clients[0]!.ns, process.execPath, [
      helperScript('udp-flows-cli.js'),
      lab.vip.v4,
      String(port),
      String(count),
      String(first),
      String(durationMs),
      '20',
    ]);
    procs.push(p);
    return async () => {
      assert.equal(await p.wait(), 0, p.stderr.join('\n'));
      const line = p.lines.find((l) => l.startsWith('{'));
      assert.ok(line, 'the flows printed their counts');
      return JSON.parse(line) as Record<string, { sent: number; received: number }>;
    };
  };
  const total = (r: Record<string, { sent: number; received: number }>) =>
    Object.values(r).reduce((a, c) => ({ sent: a.sent + c.sent, received: a.received + c.received }), {
      sent: 0,
      received: 0,
    });

  /** A digest of every map a config writes (not counters or caches), read through the pins. */
  const tables = () => {
    const h = createHash('sha256');
    for (const name of [
      'svc_ports',
      'services',
      'svc_values',
      'sched_flat',
      'backends',
      'tx_ports',
      'port_bitmaps',
    ]) {
      const m = BpfMap.fromPin(join(instancePaths(instance).pinDir, name));
      try {
        for (const [k, v] of m.entries()) h.update(k).update(v);
      } finally {
        m.close();
      }
    }
    return h.digest('hex');
  };

  const xdpTags = () =>
    inNetns(lab.lb.ns, () =>
      lab.lb.interfaces.map((i) => {
        const q = xdpQuery(ifindexOf(i.ifname));
        return q ? `${q.name}/${progInfoById(q.progId)?.tag ?? '?'}` : 'none';
      }),
    );

  /** Per interface and TC hook: 'name/tag' of the program attached on this run's path. */
  const tcTags = () =>
    inNetns(lab.lb.ns, () =>
      lab.lb.interfaces.flatMap((i) =>
        (['ingress', 'egress'] as const).map((d) => {
          const ifindex = ifindexOf(i.ifname);
          const ids =
            path === 'tcx' ? tcxPrograms(ifindex, d) : [classicTcProgram(ifindex, d, XLB_TC_SLOT)?.id ?? 0];
          const info = ids.length === 1 ? progInfoById(ids[0]!) : undefined;
          return info ? `${info.name}/${info.tag}` : `${ids.length} programs`;
        }),
      ),
    );
  const tcIds = () =>
    inNetns(lab.lb.ns, () =>
      lab.lb.interfaces.flatMap((i) =>
        (['ingress', 'egress'] as const).flatMap((d) => {
          const ifindex = ifindexOf(i.ifname);
          return path === 'tcx'
            ? tcxPrograms(ifindex, d)
            : [classicTcProgram(ifindex, d, XLB_TC_SLOT)?.id ?? 0];
        }),
      ),
    );

  before(async () => {
    removeStaleNetns(PREFIX);
    lab = createLab({ prefix: `${PREFIX}${process.pid}-dm-`, mode: 'nat', backends: 3 });
    for (const n of [1, 2, 3]) await startEcho(n);
    const local = Proc.start(lab.lb.ns, process.execPath, [
      CLI,
      'echo-server',
      '--quiet',
      '--address',
      lbAddr(),
      '-p',
      String(BPORT),
    ]);
    procs.push(local);
    await local.waitFor(/^listening/);
    writeFileSync(configPath, configText());
    daemon = await startDaemon();
    await until('every dns backend healthy', allHealthy);
  });

  after(async () => {
    for (const p of procs) await p.stop();
    nsSh(lab?.lb.ns, process.execPath, [CLI, 'down', '--instance', instance], { allowFail: true });
    lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('starts fresh: generation 1, ready, attached natively to both arms', async () => {
    const s = await api.status();
    assert.equal(s.generation, 1);
    assert.equal(s.ready, true);
    assert.equal(s.adopted, false);
    assert.deepEqual(
      s.interfaces.map((i) => i.mode),
      ['native', 'native'],
    );
    assert.deepEqual(
      s.interfaces.map((i) => i.hooks),
      [0, 1].map(() => ({ xdp: 'link', tcIngress: path, tcEgress: path })),
      `the status names the ${path} path for both TC hooks of both arms`,
    );
    for (const i of lab.lb.interfaces)
      assert.deepEqual(tcHooks(lab.lb.ns, i.ifname), xlbTcHooks(path), i.ifname);
    assert.equal(s.kernel.features.find((f) => f.name === 'tcx')?.available, path === 'tcx');
    assert.equal(await api.ready(), true);
    const started = logs().find((l) => l.event === 'started');
    assert.ok(started && (started.writes ?? 0) > 0, 'the first apply is logged with its map writes');
  });

  it('a reload writes only the difference: one backend more in rr, nothing for an unchanged file', async () => {
    const startWrites = logs().find((l) => l.event === 'started')!.writes!;
    const applied = () => logs().filter((l) => l.event === 'applied' && l.why === 'reload');
    /** The log line of the next reload (stdout may trail the API's answer). */
    const reload = async () => {
      const n = applied().length;
      await api.reload();
      await daemon.waitForCount(/"event":"applied","why":"reload"/, n + 1);
      return applied()[n]!;
    };
    writeFileSync(configPath, configText([1, 2]));
    const t0 = performance.now();
    const one = await reload();
    const ms = performance.now() - t0;
    assert.equal((await api.status()).generation, 2);
    assert.ok(one.writes! > 0 && one.writes! <= 12, `removing one rr backend: ${one.writes} map writes`);
    assert.ok(one.writes! < startWrites / 100, `far fewer than the full apply (${startWrites})`);
    writeFileSync(configPath, configText([1, 2, 3]));
    const again = await reload();
    assert.ok(again.writes! > 0 && again.writes! <= 12, `adding it back: ${again.writes} map writes`);
    assert.equal((await reload()).writes, 0, 'the same file again: no write');
    console.log(
      `# one-backend change: ${one.writes} map writes, applied in ${(one.seconds! * 1000).toFixed(1)} ms ` +
        `(reload request round trip ${ms.toFixed(1)} ms)`,
    );
  });

  it('24 kinds of bad file change nothing and each is named with its line and field', async () => {
    const good = configText();
    const before = { tables: tables(), generation: (await api.status()).generation };
    const sub = (from: string | RegExp, to: string) => {
      const out = good.replace(from, to);
      assert.notEqual(out, good, `the mutation ${String(from)} applies`);
      return out;
    };
    const v4 = lab.backends[0]!.v4;
    const bad: [string, string, RegExp][] = [
      ['bad IP', sub(`vip: ${lab.vip.v4}`, 'vip: 192.0.2.300'), /:5: services\[0\]\.vip/],
      ['port 0', sub(`port: ${PORT}`, 'port: 0'), /:6: services\[0\]\.port/],
      ['port 65536', sub(`port: ${PORT}`, 'port: 65536'), /:6: services\[0\]\.port/],
      [
        'duplicate service name',
        sub('name: rr', 'name: dns'),
        /services\[1\]\.name.*duplicate|duplicate.*dns/i,
      ],
      ['duplicate address and port', sub(`port: ${RR_PORT}`, `port: ${PORT}`), /services\[1\]/],
      ['unknown scheduler', sub('scheduler: weighted-round-robin', 'scheduler: least-conn'), /scheduler/],
      [
        'negative weight',
        sub(`address: ${v4}, port: ${BPORT} }`, `address: ${v4}, port: ${BPORT}, weight: -1 }`),
        /weight/,
      ],
      [
        'weight too large',
        sub(`address: ${v4}, port: ${BPORT} }`, `address: ${v4}, port: ${BPORT}, weight: 70000 }`),
        /weight/,
      ],
      [
        'mixed address families',
        sub(`address: ${v4}, port`, 'address: "fd00:198::11", port'),
        /is IPv6 but service 'dns' is IPv4/,
      ],
      ['unknown mode', sub('    mode: nat\n', '    mode: tunnel\n'), /mode/],
      ['fullnat without snat', sub('    mode: nat\n', '    mode: fullnat\n'), /snat/],
      ['misspelt key', sub('    backends:', '    backend:'), /unknown key 'backend'/],
      ['YAML syntax error', sub('interfaces: [', 'interfaces: [[['), /xlb\.yaml:\d+: YAML syntax error/],
      ['tcp protocol', sub(`port: ${PORT}\n`, `port: ${PORT}\n    protocol: tcp\n`), /UDP only/],
      ['unknown xdp_mode', sub('xdp_mode: native', 'xdp_mode: turbo'), /xdp_mode/],
      [
        'health interval too short',
        sub(`interval: ${HEALTH.intervalMs}ms`, 'interval: 50ms'),
        /health\.interval/,
      ],
      ['unknown health type', sub('type: udp', 'type: icmp'), /health\.type/],
      [
        'health timeout not below interval',
        sub(`timeout: ${HEALTH.timeoutMs}ms`, 'timeout: 2s'),
        /health\.timeout/,
      ],
      ['unknown all_down policy', sub('all_down: drop', 'all_down: panic'), /all_down/],
      ['table_size not a prime', sub('table_size: 1021', 'table_size: 1000'), /table_size/],
      ['backend address not an IP', sub(`address: ${v4}, port`, 'address: backend-1, port'), /address/],
      [
        'duplicate backend',
        sub('    backends:\n', `    backends:\n      - { address: ${v4}, port: ${BPORT} }\n`),
        /duplicate backend/,
      ],
      [
        'hash_key with round-robin',
        sub('scheduler: weighted-round-robin', 'scheduler: weighted-round-robin\n    hash_key: src-addr'),
        /hash_key/,
      ],
      ['services not a list', 'interfaces: [eth0]\nservices: { name: dns }\n', /services/],
    ];
    assert.ok(bad.length >= 20);
    try {
      for (const [what, text, where] of bad) {
        writeFileSync(configPath, text);
        const e = await api.reload().then(
          () => assert.fail(`${what}: the reload was accepted`),
          (err: unknown) => err,
        );
        assert.ok(e instanceof ApiError, `${what}: ${String(e)}`);
        assert.equal(e.code, 'XLB_RELOAD_FAILED', what);
        assert.match(e.message, where, `${what}: ${e.message}`);
        assert.match(e.message, /the running one stays/);
      }
    } finally {
      writeFileSync(configPath, good);
    }
    assert.equal(tables(), before.tables, 'the maps are unchanged');
    const s = await api.status();
    assert.equal(s.generation, before.generation, 'the generation is unchanged');
    assert.equal(s.ready, true);
    await daemon.waitForCount(/"event":"reload_failed"/, bad.length);
  });

  it('API changes are written to the running state and reported as drift; a reload makes the file win', async () => {
    const gen = (await api.status()).generation;
    const drained = await api.drain('rr', be(2));
    assert.equal(drained.drained, true);
    assert.equal(drained.weight, 0);
    const weighted = await api.setWeight('rr', be(3), 5);
    assert.equal(weighted.weight, 5);
    const drift = await api.drift();
    assert.equal(drift.drift, true);
    assert.ok(
      drift.changes.some((c) => c.includes(be(3)) && c.includes('1 -> 5')),
      drift.changes.join('\n'),
    );
    assert.equal((await api.status()).generation, gen + 2);
    const dump = await api.config();
    assert.match(dump, /weight: 5/);
    assert.match(dump, new RegExp(`generation ${gen + 2}`));
    // An invalid change is refused whole and changes nothing.
    const e = await api.setWeight('rr', '198.51.100.99:5301', 1).catch((err: unknown) => err);
    assert.ok(e instanceof ApiError && e.code === 'XLB_NOT_FOUND', String(e));
    await api.reload();
    assert.equal((await api.drift()).drift, false, 'the file won');
    assert.equal((await backendView('rr', be(3))).weight, 1);
    assert.equal((await backendView('rr', be(2))).drained, false);
  });

  it(`health: a stopped backend is out within interval x (fall + 1), its flows move, it gets nothing; back within interval x rise`, async () => {
    const done = flows(30, 42000, 9000);
    const victim = be(2);
    // The flows' process may take a while to start on a busy machine: wait for traffic.
    await until(`${victim} has traffic`, async () => (await backendView('dns', victim)).packets > 0);
    await echo.get(2)!.stop();
    const outMs = await until(`${victim} out of the tables`, async () => {
      const b = await backendView('dns', victim);
      return b.health === 'unhealthy' && !b.active;
    });
    const outBound = HEALTH.intervalMs * (HEALTH.fall + 1);
    assert.ok(
      outMs <= outBound + SLACK_MS,
      `out after ${outMs.toFixed(0)} ms (bound ${outBound} ms + slack)`,
    );
    const frozen = (await backendView('dns', victim)).packets;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await backendView('dns', victim)).packets, frozen, 'no packet sent to it afterwards');

    await startEcho(2);
    const backMs = await until(`${victim} back in the tables`, async () => {
      const b = await backendView('dns', victim);
      return b.health === 'healthy' && b.active;
    });
    const backBound = HEALTH.intervalMs * HEALTH.rise;
    assert.ok(
      backMs <= backBound + SLACK_MS,
      `back after ${backMs.toFixed(0)} ms (bound ${backBound} ms + slack)`,
    );
    const counts = await done();
    const lost = Object.values(counts).map((c) => c.sent - c.received);
    // A flow on the victim loses what was in flight until it moved (a second of timeouts at most).
    assert.ok(Math.max(...lost) <= 3, `per-flow losses ${lost.join(',')}`);
    assert.ok(
      lost.some((l) => l === 0),
      'flows elsewhere lost nothing',
    );
    assert.ok(
      Object.values(counts).every((c) => c.received > c.sent / 2),
      'every flow went on (moved)',
    );
    console.log(`# health: out after ${outMs.toFixed(0)} ms, back after ${backMs.toFixed(0)} ms`);
  });

  it('SIGKILL under traffic, then a new daemon: zero lost, counters continuous, TC programs replaced in place', async () => {
    await until('every dns backend healthy', allHealthy);
    const before = (await api.service('dns')).packets;
    const idsBefore = tcIds();
    const done = flows(40, 43000, 6000);
    const local = flows(10, 46000, 6000, LOCAL_PORT);
    await new Promise((r) => setTimeout(r, 1500));
    await daemon.stop('SIGKILL');
    assert.equal(
      existsSync(join(instancePaths(instance).pinDir, 'link-xdp-eth0')),
      true,
      'links stay pinned',
    );
    await new Promise((r) => setTimeout(r, 1000)); // no daemon at all meanwhile
    daemon = await startDaemon({}, []); // this one watches its file
    const s = await api.status();
    assert.equal(s.adopted, true);
    const counts = total(await done());
    const localCounts = total(await local());
    assert.ok(counts.sent > 1000, `${counts.sent} datagrams sent`);
    assert.equal(counts.sent - counts.received, 0, 'round trips lost across the restart');
    assert.ok(localCounts.sent > 200, `${localCounts.sent} datagrams sent to the local service`);
    assert.equal(localCounts.sent - localCounts.received, 0, 'local round trips (replies through TC) lost');
    assert.equal(
      (await api.service('dns')).packets - before,
      counts.sent,
      'the service counter counted every one',
    );
    const idsAfter = tcIds();
    assert.equal(idsAfter.length, 4);
    assert.ok(
      idsAfter.every((id, i) => id !== 0 && id !== idsBefore[i]),
      `each TC hook runs the new daemon's program (${idsBefore.join(',')} -> ${idsAfter.join(',')})`,
    );
    for (const i of lab.lb.interfaces)
      assert.deepEqual(tcHooks(lab.lb.ns, i.ifname), xlbTcHooks(path), i.ifname);
    console.log(
      `# [tc: ${path}] SIGKILL + restart: ${counts.sent} sent, ${counts.sent - counts.received} lost; ` +
        `local (TC egress): ${localCounts.sent} sent, ${localCounts.sent - localCounts.received} lost`,
    );
  });

  it('the file watcher applies a file replaced by rename (as config managers write), not a mere touch', async () => {
    const gen = (await api.status()).generation;
    const side = `${configPath}.new`;
    writeFileSync(side, configText([1, 3]));
    renameSync(side, configPath);
    await until('the watcher reloaded', async () => (await api.status()).generation === gen + 1);
    assert.deepEqual(
      (await api.service('rr')).backends.map((b) => b.id),
      [be(1), be(3)],
    );
    utimesSync(configPath, new Date(), new Date()); // same text: no reload
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await api.status()).generation, gen + 1);
    writeFileSync(configPath, configText()); // written in place
    await until('the watcher reloaded again', async () => (await api.status()).generation === gen + 2);
    assert.equal((await api.service('rr')).backends.length, 3);
  });

  it('an upgrade to a changed BPF object under traffic: programs replaced in place, zero lost', async () => {
    const old = xdpTags();
    const next = Dataplane.load({ objectPath: NEXT_OBJECT });
    const tag = (fd: number) => `${progInfoByFd(fd).name}/${progInfoByFd(fd).tag}`;
    const expected = tag(next.xdpProgram.fd);
    const expectedTc = [tag(next.tcIngressProgram.fd), tag(next.egressProgram.fd)];
    next.close();
    assert.notEqual(old[0], expected, 'the next build is different code');
    assert.notDeepEqual(tcTags().slice(0, 2), expectedTc, 'its TC programs too');
    const before = (await api.service('dns')).packets;
    const done = flows(40, 44000, 6000);
    const local = flows(10, 47000, 6000, LOCAL_PORT);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await daemon.stop('SIGTERM'), 0, 'a clean stop');
    daemon = await startDaemon({ XLB_BPF_OBJECT: NEXT_OBJECT });
    assert.deepEqual(xdpTags(), [expected, expected], 'both arms run the new build');
    assert.deepEqual(tcTags(), [...expectedTc, ...expectedTc], `both arms' TC hooks (${path}) too`);
    const counts = total(await done());
    const localCounts = total(await local());
    assert.equal(counts.sent - counts.received, 0, 'round trips lost across the upgrade');
    assert.equal(localCounts.sent - localCounts.received, 0, 'local round trips (replies through TC) lost');
    assert.equal((await api.service('dns')).packets - before, counts.sent, 'counters continuous');
    console.log(
      `# [tc: ${path}] upgrade: ${counts.sent} sent, ${counts.sent - counts.received} lost; ` +
        `local (TC egress): ${localCounts.sent} sent, ${localCounts.sent - localCounts.received} lost`,
    );
  });

  it('xlb down refuses while the daemon runs; after a stop it detaches and removes everything', async () => {
    const [cmd, args] = nsArgv(lab.lb.ns, process.execPath, [CLI, 'down', '--instance', instance]);
    const refused = spawnSync(cmd, args, { encoding: 'utf8' });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /served by a running process \(pid \d+\): stop it first/);
    assert.notDeepEqual(xdpTags(), ['none', 'none'], 'still attached');
    await daemon.stop('SIGTERM');
    const still = total(await flows(5, 45000, 500)());
    assert.equal(still.received, still.sent, 'forwarding goes on without a daemon');
    const out = nsSh(lab.lb.ns, process.execPath, [CLI, 'down', '--instance', instance]);
    assert.match(
      out,
      path === 'tcx' ? /: 6 link\(s\) detached/ : /: 2 link\(s\) and 4 classic TC filter\(s\) detached/,
    );
    assert.deepEqual(xdpTags(), ['none', 'none']);
    for (const i of lab.lb.interfaces) {
      assert.deepEqual(tcHooks(lab.lb.ns, i.ifname), NO_TC_HOOKS, i.ifname);
      // The lab's interfaces had no qdisc: on the classic path xlb made clsact, and took it away.
      assert.doesNotMatch(nsSh(lab.lb.ns, 'tc', ['qdisc', 'show', 'dev', i.ifname]), /clsact/);
    }
    assert.equal(existsSync(instancePaths(instance).pinDir), false);
    assert.equal(existsSync(instancePaths(instance).stateFile), false);
  });
});
