// The namespace lab: the presets (dsr one arm, nat and fullnat two arms, local) are built
// and checked for namespaces, addresses, routes, sysctls, offloads and plain connectivity
// (no xlb runs here); teardown leaves nothing, also after a crash; `xlb lab up|status|down`
// starts echo backends that answer. The spec checks at the top need no privilege.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { nsArgv, nsSh, sh } from '../../src/lab/exec.js';
import { createLab, labInfo, labSpec, type Lab, type LabHost, type LabOptions } from '../../src/lab/lab.js';
import { listNetns, removeStaleNetns } from '../../src/lab/netns.js';
import { buildTopology } from '../../src/lab/topology.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, helperScript } from '../helpers/proc.js';

const ROOT_PREFIX = 'xlbt-';
/** Our namespaces: `xlbt-PID-…`, so removeStaleNetns('xlbt-') clears them after a crash. */
const OURS = `${ROOT_PREFIX}${process.pid}-`;
const prefix = (tag: string) => `${OURS}${tag}-`;

// ---- helpers -------------------------------------------------------------------------------------

/** ping is not installed everywhere (Debian: iputils-ping); under CI its absence fails. */
function pingSkip(): false | string {
  if (spawnSync('ping', ['-V']).status === 0) return false;
  const why = 'needs ping (apt-get install iputils-ping)';
  if (process.env.CI) throw new Error(`CI=true but ${why}`);
  return why;
}

function pings(ns: string, address: string, waitSeconds = 2): boolean {
  const [cmd, args] = nsArgv(ns, 'ping', [
    ...(address.includes(':') ? ['-6'] : []),
    '-c1',
    `-W${waitSeconds}`,
    address,
  ]);
  return spawnSync(cmd, args, { timeout: 10_000 }).status === 0;
}

function addrsOf(ns: string, ifname: string): string[] {
  const out = JSON.parse(sh('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', ifname])) as {
    addr_info: { local: string; prefixlen: number; scope: string }[];
  }[];
  return (out[0]?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

function feature(ns: string, ifname: string, name: string): string {
  const line = nsSh(ns, 'ethtool', ['-k', ifname])
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  return line?.split(':')[1]?.trim().split(' ')[0] ?? '(none)';
}

const sysctl = (ns: string, key: string) => nsSh(ns, 'sysctl', ['-n', key]).trim();

const routeVia = (ns: string, dst: string) =>
  /via (\S+)/.exec(sh('ip', ['-n', ns, 'route', 'get', dst]))?.[1] ?? '(direct)';

interface ConfigYaml {
  interfaces: string[];
  xdp_mode: string;
  services: {
    name: string;
    vip: string;
    port: number;
    mode: string;
    snat?: { address: string; ports: string };
    backends: { address: string; port?: number }[];
  }[];
}
const config = (lab: Lab) => parseYaml(lab.xlbConfig()) as ConfigYaml;

/** Allowed lab addresses: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, fd00::/8. */
const documentation = (a: string) =>
  /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+(\/\d+)?$/.test(a) ||
  /^fd[0-9a-f]{2}:/.test(a) ||
  a === 'default';

// ---- the specs (no privilege) ----------------------------------------------------------------

describe('lab presets: specs', () => {
  const all: LabOptions[] = [
    { prefix: 'p-', mode: 'dsr', clients: 8, backends: 8 },
    { prefix: 'p-', mode: 'nat', clients: 8, backends: 8 },
    { prefix: 'p-', mode: 'nat', arms: 1, clients: 2, backends: 2 },
    { prefix: 'p-', mode: 'fullnat', clients: 8, backends: 8 },
    { prefix: 'p-', mode: 'fullnat', arms: 1 },
    { prefix: 'p-', mode: 'local', clients: 8 },
  ];

  it('use documentation and fd00::/8 addresses only, and interface names of at most 15', () => {
    for (const o of all) {
      const s = labSpec(o);
      for (const a of [...s.addrs, ...(s.loopbackAddrs ?? [])]) assert.ok(documentation(a.cidr), a.cidr);
      for (const r of s.routes)
        assert.ok(documentation(r.dst) && documentation(r.via), `${r.dst} via ${r.via}`);
      for (const l of s.links) assert.ok(l.a.ifname.length <= 15 && l.b.ifname.length <= 15);
    }
  });

  it('are dual-stack: every address has a v4 and a v6 twin', () => {
    for (const o of all) {
      const s = labSpec(o);
      const v4 = s.addrs.filter((a) => !a.cidr.includes(':')).length;
      assert.equal(v4 * 2, s.addrs.length, `${o.mode}: as many v6 as v4 addresses`);
    }
  });

  it('one-arm nat: backends route each (on-link) client and the default via the LB', () => {
    const s = labSpec({ prefix: 'p-', mode: 'nat', arms: 1, clients: 2, backends: 1 });
    const routes = s.routes.filter((r) => r.node === 'be1').map((r) => `${r.dst} via ${r.via}`);
    assert.deepEqual(routes.sort(), [
      '198.51.100.11/32 via 198.51.100.2',
      '198.51.100.12/32 via 198.51.100.2',
      'default via 198.51.100.2',
      'default via fd00:198::2',
      'fd00:198::11/128 via fd00:198::2',
      'fd00:198::12/128 via fd00:198::2',
    ]);
    const fullnat = labSpec({ prefix: 'p-', mode: 'fullnat', arms: 1 });
    assert.deepEqual(
      fullnat.routes.filter((r) => r.node.startsWith('be')),
      [],
      'fullnat backends: no routes',
    );
  });

  it('reject what makes no sense', () => {
    assert.throws(() => labSpec({ prefix: 'p-', mode: 'dsr', arms: 2 }), /one arm only/);
    assert.throws(() => labSpec({ prefix: 'p-', mode: 'local', arms: 2 }), /one arm only/);
    assert.throws(() => labSpec({ prefix: 'p-', mode: 'nat', clients: 9 }), /clients must be/);
    assert.throws(() => labSpec({ prefix: 'p-', mode: 'nat', backends: 0 }), /backends must be/);
  });

  it('buildTopology checks a spec before it makes anything', () => {
    const base = { prefix: 'nope-', bridges: [], addrs: [], routes: [] };
    assert.throws(
      () =>
        buildTopology({
          ...base,
          nodes: [{ name: 'a' }],
          links: [{ a: { node: 'a', ifname: 'x' }, b: { node: 'b', ifname: 'y' } }],
        }),
      /unknown node 'b'/,
    );
    assert.throws(
      () =>
        buildTopology({
          ...base,
          nodes: [{ name: 'a' }],
          links: [{ a: { node: 'a', ifname: 'a-very-long-ifname' }, b: { node: 'a', ifname: 'y' } }],
        }),
      /bad interface name/,
    );
    assert.throws(
      () => buildTopology({ ...base, nodes: [{ name: 'A_B' }], links: [] }),
      /bad namespace name/,
    );
  });
});

// ---- the presets (root) ----------------------------------------------------------------------

function assertCommon(lab: Lab): void {
  const info = labInfo(lab);
  assert.deepEqual(listNetns(lab.topology.prefix).sort(), [...info.namespaces].sort(), 'the namespaces');
  const hosts: LabHost[] = [...lab.lb.interfaces, ...lab.clients, ...lab.backends];
  for (const h of hosts) {
    const have = addrsOf(h.ns, h.ifname);
    assert.ok(
      have.includes(`${h.v4}/24`) && have.includes(`${h.v6}/64`),
      `${h.ns} ${h.ifname}: ${have.join(' ')}`,
    );
    assert.match(h.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  }
  for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
    assert.equal(sysctl(lab.lb.ns, key), '1', key);
  }
  for (const ns of info.namespaces) assert.equal(sysctl(ns, 'net.ipv4.conf.all.rp_filter'), '0', ns);
  for (const h of [...lab.clients, ...lab.backends]) {
    assert.equal(feature(h.ns, 'eth0', 'tx-checksumming'), 'off', `${h.ns}: tx offload off`);
    assert.equal(feature(h.ns, 'eth0', 'generic-receive-offload'), 'on', `${h.ns}: GRO on`);
  }
  const sw = lab.topology.netns('sw');
  assert.equal(feature(sw, 'lb0', 'generic-receive-offload'), 'on', 'GRO on the switch end of the LB');
  assert.equal(feature(sw, 'c1', 'generic-receive-offload'), 'on', 'GRO on the switch end of client1');
}

function assertClientReachesLb(lab: Lab, skipPing: false | string): void {
  if (skipPing) return;
  const lb = lab.lb.interfaces[0]!;
  for (const c of lab.clients) {
    assert.ok(pings(c.ns, lb.v4), `${c.ns} pings ${lb.v4}`);
    assert.ok(pings(c.ns, lb.v6), `${c.ns} pings ${lb.v6}`);
  }
}

/** Builds a preset for a describe block; the last test destroys it and checks nothing remains. */
function presetSuite(title: string, opts: LabOptions, checks: (lab: () => Lab) => void): void {
  describe(title, () => {
    let lab: Lab | undefined;
    const get = () => {
      assert.ok(lab, 'lab built');
      return lab;
    };
    before(() => {
      lab = createLab(opts);
    });
    after(() => lab?.destroy());

    it('namespaces, addresses, sysctls and offloads are in place', () => assertCommon(get()));
    checks(get);
    it('destroy() removes every namespace with the prefix, and may be repeated', () => {
      get().destroy();
      get().destroy();
      assert.deepEqual(listNetns(opts.prefix), []);
    });
  });
}

describe('lab presets: built', { skip: rootSkip() }, () => {
  const skipPing = rootSkip() ? false : pingSkip();
  before(() => removeStaleNetns(ROOT_PREFIX));
  after(() => {
    for (const n of listNetns(OURS)) sh('ip', ['netns', 'del', n], { allowFail: true });
  });

  presetSuite('dsr, one arm', { prefix: prefix('dsr'), mode: 'dsr', clients: 2 }, (lab) => {
    it('clients reach the LB (v4, v6) and route the VIP through it', () => {
      assertClientReachesLb(lab(), skipPing);
      const c = lab().clients[1]!;
      assert.equal(routeVia(c.ns, '203.0.113.100'), '198.51.100.2');
      assert.equal(routeVia(c.ns, 'fd00:203::100'), 'fd00:198::2');
    });
    it('backends hold the VIP on lo and do not answer ARP for it', () => {
      for (const b of lab().backends) {
        const lo = addrsOf(b.ns, 'lo');
        assert.ok(lo.includes('203.0.113.100/32') && lo.includes('fd00:203::100/128'), lo.join(' '));
        assert.equal(sysctl(b.ns, 'net.ipv4.conf.all.arp_ignore'), '1');
        assert.equal(sysctl(b.ns, 'net.ipv4.conf.all.arp_announce'), '2');
      }
      assert.deepEqual(
        lab().backends.map((b) => b.v4),
        ['198.51.100.21', '198.51.100.22', '198.51.100.23'],
      );
    });
    it('config: dsr services on the VIP, backends without a port', () => {
      const c = config(lab());
      assert.deepEqual(c.interfaces, ['eth0']);
      assert.deepEqual(
        c.services.map((s) => [s.name, s.vip, s.port, s.mode]),
        [
          ['lab-v4', '203.0.113.100', 5300, 'dsr'],
          ['lab-v6', 'fd00:203::100', 5300, 'dsr'],
        ],
      );
      assert.deepEqual(c.services[1]!.backends, [
        { address: 'fd00:198::21' },
        { address: 'fd00:198::22' },
        { address: 'fd00:198::23' },
      ]);
      const bound = lab()
        .listeners()
        .map((l) => `${l.ns.slice(-3)} ${l.address} ${l.ports.join()}`);
      assert.deepEqual(
        bound,
        ['be1', 'be2', 'be3'].flatMap((b) => [`${b} 203.0.113.100 5300`, `${b} fd00:203::100 5300`]),
        'dsr backends bind the VIP, so that they answer from it',
      );
    });
  });

  presetSuite('nat, two arms', { prefix: prefix('nat'), mode: 'nat' }, (lab) => {
    it('clients reach the LB, and the backends through it (v4, v6)', { skip: skipPing }, () => {
      assertClientReachesLb(lab(), skipPing);
      const c = lab().clients[0]!;
      for (const b of lab().backends) {
        assert.ok(pings(c.ns, b.v4), `${c.ns} pings ${b.v4} through the LB`);
        assert.ok(pings(c.ns, b.v6), `${c.ns} pings ${b.v6} through the LB`);
      }
    });
    it('config: interfaces eth0 and eth1, nat services to the backends on 5301', () => {
      const c = config(lab());
      assert.deepEqual(c.interfaces, ['eth0', 'eth1']);
      const [v4, v6] = c.services;
      assert.deepEqual([v4?.vip, v4?.mode, v4?.port, v4?.snat], ['192.0.2.100', 'nat', 5300, undefined]);
      assert.deepEqual(
        v4?.backends,
        [11, 12, 13].map((n) => ({ address: `198.51.100.${n}`, port: 5301 })),
      );
      assert.deepEqual(
        v6?.backends,
        [11, 12, 13].map((n) => ({ address: `fd00:198::${n}`, port: 5301 })),
      );
    });
  });

  presetSuite('fullnat, two arms', { prefix: prefix('fn'), mode: 'fullnat', backends: 2 }, (lab) => {
    it('backends have no route back to clients: a ping through the LB fails', () => {
      const c = lab().clients[0]!;
      const b = lab().backends[0]!;
      assert.equal(sh('ip', ['-n', b.ns, 'route', 'show', 'default']).trim(), '');
      assert.equal(sh('ip', ['-n', b.ns, '-6', 'route', 'show', 'default']).trim(), '');
      if (skipPing) return;
      assertClientReachesLb(lab(), skipPing);
      assert.ok(pings(lab().lb.ns, b.v4) && pings(lab().lb.ns, b.v6), 'the LB reaches the backends');
      assert.equal(pings(c.ns, b.v4, 1), false, 'no v4 reply: the backend has no default route');
      assert.equal(pings(c.ns, b.v6, 1), false, 'no v6 reply: the backend has no default route');
    });
    it('config: snat on the LB backend-side addresses', () => {
      assert.deepEqual(lab().snat, { v4: '198.51.100.1', v6: 'fd00:198::1' });
      const [v4, v6] = config(lab()).services;
      assert.deepEqual(v4?.snat, { address: '198.51.100.1', ports: '20000-60000' });
      assert.deepEqual(v6?.snat, { address: 'fd00:198::1', ports: '20000-60000' });
      assert.equal(v4?.mode, 'fullnat');
    });
  });

  presetSuite('local', { prefix: prefix('loc'), mode: 'local' }, (lab) => {
    it('no backend namespaces; the VIP is the LB address, which clients reach', () => {
      assert.deepEqual(lab().backends, []);
      assert.deepEqual(lab().vip, { v4: '198.51.100.2', v6: 'fd00:198::2' });
      assertClientReachesLb(lab(), skipPing);
    });
    it('config: local backends on the LB address, ports 5301..5303', () => {
      const [v4, v6] = config(lab()).services;
      assert.equal(v4?.mode, 'local');
      assert.deepEqual(
        v4?.backends,
        [5301, 5302, 5303].map((port) => ({ address: '198.51.100.2', port })),
      );
      assert.deepEqual(
        v6?.backends,
        [5301, 5302, 5303].map((port) => ({ address: 'fd00:198::2', port })),
      );
    });
  });

  it('a failed build leaves nothing behind', () => {
    const p = prefix('bad');
    assert.throws(
      () =>
        buildTopology({
          prefix: p,
          nodes: [{ name: 'a' }, { name: 'b' }],
          links: [{ a: { node: 'a', ifname: 'eth0' }, b: { node: 'b', ifname: 'eth0' } }],
          bridges: [],
          addrs: [{ node: 'a', ifname: 'eth0', cidr: 'not-an-address/24' }],
          routes: [],
        }),
      /not-an-address/,
    );
    assert.deepEqual(listNetns(p), []);
  });

  it('namespaces left by a dead process are removed by removeStaleNetns; live ones stay', () => {
    const dead = spawnSync('true').pid;
    assert.ok(dead && dead > 0);
    const spec = (p: string) => ({
      prefix: p,
      nodes: [{ name: 'a' }, { name: 'b' }],
      links: [{ a: { node: 'a', ifname: 'eth0' }, b: { node: 'b', ifname: 'eth0' } }],
      bridges: [],
      addrs: [{ node: 'a', ifname: 'eth0', cidr: '192.0.2.1/24' }],
      routes: [],
    });
    const crashed = buildTopology(spec(`${ROOT_PREFIX}${dead}-crash-`));
    const live = buildTopology(spec(prefix('live')));
    try {
      const removed = removeStaleNetns(ROOT_PREFIX);
      assert.ok(
        removed.includes(crashed.netns('a')) && removed.includes(crashed.netns('b')),
        removed.join(' '),
      );
      assert.deepEqual(listNetns(`${ROOT_PREFIX}${dead}-`), []);
      assert.equal(listNetns(prefix('live')).length, 2, 'the live process keeps its namespaces');
    } finally {
      crashed.destroy();
      live.destroy();
    }
  });
});

// ---- the command (root) ----------------------------------------------------------------------

describe('xlb lab up|status|down', { skip: rootSkip() }, () => {
  const name = `${OURS}c`;
  const runDir = mkdtempSync(join(tmpdir(), 'xlb-lab-'));
  const env = { ...process.env, XLB_RUN_DIR: runDir };
  const xlb = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'lab', ...args], { env, encoding: 'utf8', timeout: 60_000 });

  after(() => {
    xlb('down', '--name', name);
    for (const n of listNetns(`${name}-`)) sh('ip', ['netns', 'del', n], { allowFail: true });
    rmSync(runDir, { recursive: true, force: true });
  });

  it('up builds a nat lab and says how to use it', () => {
    const r = xlb('up', '--mode', 'nat', '--name', name);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      r.stdout.includes(`nsenter --net=/run/netns/${name}-lb ./xlb run --config ${runDir}/lab/${name}.yaml`),
      r.stdout,
    );
    assert.ok(r.stdout.includes(`nc -u -w1 192.0.2.100 5300`), r.stdout);
    assert.ok(r.stdout.includes(`nc -6 -u -w1 fd00:192::100 5300`), r.stdout);
  });

  it('status --json: namespaces present, six echo servers alive', () => {
    const r = xlb('status', '--name', name, '--json');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const st = JSON.parse(r.stdout) as {
      exists: boolean;
      whole: boolean;
      state: { mode: string; arms: number };
      namespaces: { present: boolean }[];
      processes: { alive: boolean }[];
    };
    assert.deepEqual([st.exists, st.whole, st.state.mode, st.state.arms], [true, true, 'nat', 2]);
    assert.equal(st.namespaces.filter((n) => n.present).length, 6, 'sw, lb, client1, be1..3');
    assert.deepEqual(
      st.processes.map((p) => p.alive),
      [true, true, true, true, true, true],
    );
  });

  it('the echo backends answer a client directly (v4, v6)', () => {
    const client = `${name}-client1`;
    const probe = (host: string) =>
      JSON.parse(
        nsSh(client, process.execPath, [helperScript('udp-client-cli.js'), host, '5301', '3', '1']),
      ) as RoundTripResult;
    const v4 = probe('198.51.100.12');
    assert.deepEqual([v4.lost, v4.replySources], [0, { '198.51.100.12:5301': 3 }]);
    const v6 = probe('fd00:198::13');
    assert.deepEqual([v6.lost, v6.replySources], [0, { '[fd00:198::13]:5301': 3 }]);
  });

  it('down removes everything; a second down and status find nothing', () => {
    const r = xlb('down', '--name', name);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /removed \(6 namespaces, 6 echo servers stopped\)/);
    assert.deepEqual(listNetns(`${name}-`), []);
    assert.deepEqual(readdirSync(join(runDir, 'lab')), []);
    const again = xlb('down', '--name', name);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /nothing to remove/);
    assert.equal(xlb('status', '--name', name).status, 1);
  });
});
