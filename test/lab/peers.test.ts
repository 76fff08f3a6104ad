// The benchmark's peers (nftables DNAT, nginx stream, the Node.js proxy) forward datagrams
// from a client to three backends across namespaces, spread over all of them, and leave
// nothing behind; a peer that cannot start says why and cleans up. No XDP here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  PEERS,
  nftablesPeer,
  nginxPeer,
  nodeProxyPeer,
  peerPrerequisites,
  type Peer,
  type PeerEnv,
} from '../../bench/peers.js';
import { nsSh, sh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc } from '../helpers/proc.js';

const PREFIX = 'xlbt-';
const NS = { client: netnsName(PREFIX, 'c'), lb: netnsName(PREFIX, 'lb'), be: netnsName(PREFIX, 'be') };
const VIP = '192.0.2.100';
const PORT = 5300;
const BACKENDS = ['198.51.100.11', '198.51.100.12', '198.51.100.13'].map((address) => ({
  address,
  port: 5301,
}));
const DATAGRAMS = 300;
/** Flows (client source ports): conntrack, and so nftables, chooses a backend per flow. */
const FLOWS = 30;
const MINIMUM: Record<Peer['name'], number> = { nftables: 300, nginx: 290, 'node-proxy': 290 };

/** Missing peer software fails under CI and skips (saying what is missing) elsewhere. */
function prerequisitesSkip(): false | string {
  const missing = peerPrerequisites();
  if (missing.length === 0) return false;
  const why = `the benchmark peers need ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(`CI=true but ${why}`);
  return why;
}

// ---- topology: client -- lb -- backends ------------------------------------------------------

const ip = (ns: string, ...args: string[]) => sh('ip', ['-n', ns, ...args]);
const sysctl = (ns: string, key: string, value: string) => nsSh(ns, 'sysctl', ['-qw', `${key}=${value}`]);

function mac(ns: string, ifname: string): string {
  const [link] = JSON.parse(ip(ns, '-j', 'link', 'show', 'dev', ifname)) as { address: string }[];
  return link!.address;
}

function buildTopology(): void {
  Object.values(NS).forEach(createNetns);
  ip(NS.client, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'l0', 'netns', NS.lb);
  ip(NS.lb, 'link', 'add', 'l1', 'type', 'veth', 'peer', 'name', 'b0', 'netns', NS.be);
  ip(NS.client, 'addr', 'add', '203.0.113.10/24', 'dev', 'c0');
  ip(NS.lb, 'addr', 'add', '203.0.113.1/24', 'dev', 'l0');
  ip(NS.lb, 'addr', 'add', '198.51.100.1/24', 'dev', 'l1');
  BACKENDS.forEach((b) => ip(NS.be, 'addr', 'add', `${b.address}/24`, 'dev', 'b0'));
  for (const [ns, ifname] of [
    [NS.client, 'c0'],
    [NS.lb, 'l0'],
    [NS.lb, 'l1'],
    [NS.be, 'b0'],
  ] as const) {
    ip(ns, 'link', 'set', ifname, 'up');
  }
  ip(NS.client, 'route', 'add', 'default', 'via', '203.0.113.1');
  sysctl(NS.lb, 'net.ipv4.ip_forward', '1');
  for (const scope of ['all', 'default', 'l0', 'l1']) sysctl(NS.lb, `net.ipv4.conf.${scope}.rp_filter`, '0');
  // Static neighbours: no ARP resolution queue in front of the first datagrams.
  ip(
    NS.client,
    'neigh',
    'replace',
    '203.0.113.1',
    'lladdr',
    mac(NS.lb, 'l0'),
    'dev',
    'c0',
    'nud',
    'permanent',
  );
  for (const b of BACKENDS) {
    ip(NS.lb, 'neigh', 'replace', b.address, 'lladdr', mac(NS.be, 'b0'), 'dev', 'l1', 'nud', 'permanent');
  }
}

// ---- traffic and counters ----------------------------------------------------------------------

/** Sends `total` datagrams to VIP:PORT from FLOWS sockets (fixed source ports), each send awaited. */
const SENDER = `
const dgram = require('node:dgram');
const [vip, port, total, flows, base] = process.argv.slice(1);
(async () => {
  const socks = [];
  for (let i = 0; i < +flows; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise((ok, fail) => { s.once('error', fail); s.bind(+base + i, ok); });
    socks.push(s);
  }
  for (let i = 0; i < +total; i++) {
    await new Promise((ok, fail) =>
      socks[i % socks.length].send('probe ' + i, +port, vip, (e) => (e ? fail(e) : ok())));
    // Paced (10 per ms): a burst of 300 would overrun a proxy's default receive buffer.
    if (i % 10 === 9) await new Promise((ok) => setTimeout(ok, 1));
  }
  socks.forEach((s) => s.close());
  console.log('sent ' + total);
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

function send(total: number): void {
  const out = nsSh(NS.client, process.execPath, [
    '-e',
    SENDER,
    VIP,
    String(PORT),
    String(total),
    String(FLOWS),
    '40000',
  ]);
  assert.equal(out.trim(), `sent ${total}`);
}

async function startBackends(): Promise<Proc[]> {
  const procs = BACKENDS.map((b) =>
    Proc.start(NS.be, process.execPath, [
      CLI,
      'echo-server',
      '--address',
      b.address,
      '--port',
      String(b.port),
      '--no-echo',
      '--quiet',
    ]),
  );
  running.push(...procs);
  await Promise.all(procs.map((p) => p.waitFor(/^listening/, 10_000)));
  return procs;
}

/** SIGTERM, then the count the echo server prints on its way out (after its output is closed). */
async function stopAndCount(p: Proc): Promise<number> {
  const closed = new Promise<void>((resolve) => p.child.once('close', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await closed;
  clearTimeout(timer);
  const line = p.lines.find((l) => l.startsWith('received:')) ?? '';
  const n = /=(\d+)/.exec(line)?.[1];
  assert.ok(n !== undefined, `no count from an echo server: ${p.lines.join('\n')} ${p.stderr.join('\n')}`);
  return Number(n);
}

const running: Proc[] = [];
const peers: Peer[] = [];
let tmp = '';

const env = (): PeerEnv => ({ ns: NS.lb, vip: VIP, port: PORT, backends: BACKENDS, tmpDir: tmp });
const lbPids = () => sh('ip', ['netns', 'pids', NS.lb]).split('\n').filter(Boolean);
const vipOnLo = () => ip(NS.lb, 'addr', 'show', 'dev', 'lo').includes(`${VIP}/32`);

describe('benchmark peers', { skip: rootSkip() || prerequisitesSkip() }, () => {
  before(() => {
    removeStaleNetns(PREFIX);
    tmp = mkdtempSync(join(tmpdir(), 'xlb-peers-'));
    buildTopology();
  });

  after(async () => {
    for (const p of peers) await p.stop().catch(() => undefined);
    for (const p of running) await p.stop('SIGKILL', 2_000);
    Object.values(NS).forEach(deleteNetns);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const make of PEERS) {
    const peer = make();
    peers.push(peer);
    it(
      `${peer.name} spreads ${DATAGRAMS} datagrams over the three backends`,
      { timeout: 60_000 },
      async (t) => {
        const backends = await startBackends();
        await peer.start(env());
        send(DATAGRAMS);
        await new Promise((resolve) => setTimeout(resolve, 500));
        await peer.stop();
        await peer.stop(); // idempotent
        const counts = await Promise.all(backends.map(stopAndCount));
        const total = counts.reduce((a, b) => a + b, 0);
        t.diagnostic(`backends received ${counts.join(' / ')}`);
        assert.ok(
          total >= MINIMUM[peer.name],
          `${peer.name}: backends received ${counts.join(' + ')} = ${total}`,
        );
        assert.ok(total <= DATAGRAMS, `${peer.name}: more than sent: ${counts.join(' + ')}`);
        assert.ok(
          counts.every((n) => n > 0),
          `${peer.name}: every backend gets some: ${counts.join(' / ')}`,
        );
        assert.deepEqual(lbPids(), [], `${peer.name}: nothing left running in the LB namespace`);
        assert.ok(!vipOnLo(), `${peer.name}: VIP removed from lo`);
      },
    );
  }

  it(
    'a peer that cannot bind fails with its command and stderr, and cleans up',
    { timeout: 60_000 },
    async (t) => {
      const holder = nodeProxyPeer();
      const nginx = nginxPeer();
      peers.push(holder, nginx);
      await holder.start(env());
      const holderPids = lbPids();
      assert.equal(holderPids.length, 1, 'node-proxy runs');
      await assert.rejects(nginx.start(env()), (e: Error) => {
        t.diagnostic(e.message);
        assert.match(e.message, /^nginx peer did not come up on 192\.0\.2\.100:5300 within 10 s/);
        assert.match(e.message, /nginx -p .* -c \S+nginx\.conf` exited 1/);
        assert.match(e.message, /Address already in use/);
        return true;
      });
      assert.deepEqual(lbPids(), holderPids, 'no nginx left behind');
      assert.ok(vipOnLo(), 'the VIP nginx did not add stays');
      await nginx.stop();
      await holder.stop();
      assert.deepEqual(lbPids(), []);
      assert.ok(!vipOnLo(), 'the VIP node-proxy added is gone');
    },
  );

  it('nftables refuses a bad ruleset with the command and its stderr, and leaves no table', async () => {
    const nft = nftablesPeer();
    peers.push(nft);
    const bad = { ...env(), backends: [{ address: '198.51.100.11', port: 70000 }] };
    await assert.rejects(
      nft.start(bad),
      /^Error: nftables peer: `nsenter .*nft -f \S+nftables\.nft` failed \(exit 1\): .+/s,
    );
    assert.ok(!nsSh(NS.lb, 'nft', ['list', 'tables']).includes('xlb_bench'));
    await nft.stop();
  });
});
