// A namespace for data-plane fixtures and per-packet cost measurements whose helpers
// read the routing and neighbour tables (bpf_fib_lookup): two interfaces with fixed
// MACs, static neighbours, and test runs made from inside it (setns on the thread).
//
//   client 203.0.113.50 / fd00:203::50  (02:00:00:00:00:50)
//          |
//        cl0 203.0.113.1/24, fd00:203::1/64   (02:00:00:00:aa:01)
//   [fixture netns, forwarding on]
//        be0 198.51.100.1/24, fd00:198::1/64  (02:00:00:00:bb:01)
//          |
//   backends 198.51.100.11-13 / fd00:198::11-13  (02:00:00:00:01:0N), 198.51.100.14 / fd00:198::14 without neighbour entry
//   dsr backend on the client side: 203.0.113.60 / fd00:203::60 (02:00:00:00:00:60)
//   ping-pong peers on be0: 198.51.100.21-22 / fd00:198::21-22 (02:00:00:00:02:0N), for cost runs
import { sh } from './exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from './netns.js';
import { inNetns } from '../kernel/netns.js';
import { ifindexOf } from '../kernel/netif.js';

export const FX = {
  clientMac: '02:00:00:00:00:50',
  cl0Mac: '02:00:00:00:aa:01',
  be0Mac: '02:00:00:00:bb:01',
  backendMac: (n: number) => `02:00:00:00:01:0${n}`,
  sideMac: '02:00:00:00:00:60',
  client: { 4: '203.0.113.50', 6: 'fd00:203::50' },
  cl0: { 4: '203.0.113.1', 6: 'fd00:203::1' },
  be0: { 4: '198.51.100.1', 6: 'fd00:198::1' },
  backend: (n: number, fam: 4 | 6) => (fam === 4 ? `198.51.100.1${n}` : `fd00:198::1${n}`),
  side: { 4: '203.0.113.60', 6: 'fd00:203::60' },
  unrouted: { 4: '192.0.2.200', 6: 'fd00:192::200' },
  peer: (n: number, fam: 4 | 6) => (fam === 4 ? `198.51.100.2${n}` : `fd00:198::2${n}`),
  peerMac: (n: number) => `02:00:00:00:02:0${n}`,
} as const;

export interface FixtureNet {
  ns: string;
  cl0: number;
  be0: number;
  run<T>(fn: () => T): T;
  ip(...args: string[]): string;
  destroy(): void;
}

export function createFixtureNet(tag: string, prefix = 'xlbt-'): FixtureNet {
  removeStaleNetns(prefix);
  const ns = netnsName(prefix, tag);
  createNetns(ns);
  const ip = (...args: string[]) => sh('ip', ['-n', ns, ...args]);
  try {
    ip('link', 'add', 'cl0', 'address', FX.cl0Mac, 'type', 'veth', 'peer', 'name', 'clp');
    ip('link', 'add', 'be0', 'address', FX.be0Mac, 'type', 'veth', 'peer', 'name', 'bep');
    for (const dev of ['cl0', 'clp', 'be0', 'bep']) ip('link', 'set', dev, 'up');
    ip('addr', 'add', '203.0.113.1/24', 'dev', 'cl0');
    ip('addr', 'add', 'fd00:203::1/64', 'dev', 'cl0', 'nodad');
    ip('addr', 'add', '198.51.100.1/24', 'dev', 'be0');
    ip('addr', 'add', 'fd00:198::1/64', 'dev', 'be0', 'nodad');
    const neigh = (addr: string, mac: string, dev: string) =>
      ip('neigh', 'replace', addr, 'lladdr', mac, 'dev', dev, 'nud', 'permanent');
    for (const fam of [4, 6] as const) {
      neigh(FX.client[fam], FX.clientMac, 'cl0');
      neigh(FX.side[fam], FX.sideMac, 'cl0');
      for (const n of [1, 2, 3]) neigh(FX.backend(n, fam), FX.backendMac(n), 'be0');
      for (const n of [1, 2]) neigh(FX.peer(n, fam), FX.peerMac(n), 'be0');
    }
    sh('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
    ]);
  } catch (e) {
    deleteNetns(ns);
    throw e;
  }
  const [cl0, be0] = inNetns(ns, () => [ifindexOf('cl0'), ifindexOf('be0')]);
  return {
    ns,
    cl0: cl0,
    be0: be0,
    run: (fn) => inNetns(ns, fn),
    ip,
    destroy: () => deleteNetns(ns),
  };
}
