// The benchmark's topology: generator -> load balancer -> sink, in three namespaces.
//
//   gen   g0   203.0.113.10/24  fd00:203::10/64      (the generator sends from here: XDP_TX)
//          |
//   lb   eth0  203.0.113.1/24   fd00:203::1/64       (the subject: xlb, limit, nftables, ...)
//        eth1  198.51.100.1/24  fd00:198::1/64
//          |
//   sink  s0   198.51.100.11-13/24  fd00:198::11-13/64   (counts per destination and drops)
//
// The service address is 192.0.2.100 / fd00:192::100, port 5300; the three backends are the
// sink's addresses, port 5301. Everything runs on one machine; frames the generator and the
// load balancer send with XDP into a veth are received because the peer runs XDP (the sink,
// the subject, or xdp_pass on eth0 for subjects that use the kernel's stack).
import { buildTopology, readMac, type Topology } from '../src/lab/topology.js';
import { buildPacket } from '../src/testing/packet.js';

export const BENCH = {
  vip: { 4: '192.0.2.100', 6: 'fd00:192::100' },
  port: 5300,
  backendPort: 5301,
  backends: {
    4: ['198.51.100.11', '198.51.100.12', '198.51.100.13'],
    6: ['fd00:198::11', 'fd00:198::12', 'fd00:198::13'],
  },
  gen: { 4: '203.0.113.10', 6: 'fd00:203::10' },
  snat: { 4: '198.51.100.1', 6: 'fd00:198::1' },
} as const;

export interface BenchNet {
  topology: Topology;
  gen: string;
  lb: string;
  sink: string;
  mac: { g0: string; eth0: string; eth1: string; s0: string };
  destroy(): void;
}

export function buildBenchNet(prefix: string): BenchNet {
  const lbSysctls = {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.all.forwarding': '1',
    'net.ipv6.conf.all.forwarding': '1',
  };
  const topology = buildTopology({
    prefix,
    nodes: [{ name: 'gen' }, { name: 'lb', sysctls: lbSysctls }, { name: 'sink' }],
    links: [
      { a: { node: 'gen', ifname: 'g0' }, b: { node: 'lb', ifname: 'eth0' } },
      { a: { node: 'lb', ifname: 'eth1' }, b: { node: 'sink', ifname: 's0' } },
    ],
    bridges: [],
    addrs: [
      { node: 'gen', ifname: 'g0', cidr: '203.0.113.10/24' },
      { node: 'gen', ifname: 'g0', cidr: 'fd00:203::10/64' },
      { node: 'lb', ifname: 'eth0', cidr: '203.0.113.1/24' },
      { node: 'lb', ifname: 'eth0', cidr: 'fd00:203::1/64' },
      { node: 'lb', ifname: 'eth1', cidr: '198.51.100.1/24' },
      { node: 'lb', ifname: 'eth1', cidr: 'fd00:198::1/64' },
      ...BENCH.backends[4].map((a) => ({ node: 'sink', ifname: 's0', cidr: `${a}/24` })),
      ...BENCH.backends[6].map((a) => ({ node: 'sink', ifname: 's0', cidr: `${a}/64` })),
    ],
    routes: [
      { node: 'gen', dst: 'default', via: '203.0.113.1' },
      { node: 'gen', dst: 'default', via: 'fd00:203::1' },
      { node: 'sink', dst: 'default', via: '198.51.100.1' },
      { node: 'sink', dst: 'default', via: 'fd00:198::1' },
    ],
    txOffloadOff: [
      { node: 'gen', ifname: 'g0' },
      { node: 'sink', ifname: 's0' },
    ],
  });
  const ns = (n: string) => topology.netns(n);
  return {
    topology,
    gen: ns('gen'),
    lb: ns('lb'),
    sink: ns('sink'),
    mac: {
      g0: readMac(ns('gen'), 'g0'),
      eth0: readMac(ns('lb'), 'eth0'),
      eth1: readMac(ns('lb'), 'eth1'),
      s0: readMac(ns('sink'), 's0'),
    },
    destroy: () => topology.destroy(),
  };
}

/** The generator's first frame: from gen to the service address (the generator varies the source port). */
export function benchFrame(net: BenchNet, family: 4 | 6): Buffer {
  const eth = { src: net.mac.g0, dst: net.mac.eth0 };
  const payload = Buffer.alloc(32, 0x62);
  return family === 4
    ? buildPacket({
        eth,
        ipv4: { src: BENCH.gen[4], dst: BENCH.vip[4] },
        udp: { sport: 10000, dport: BENCH.port, checksum: 'zero' },
        payload,
      })
    : buildPacket({
        eth,
        ipv6: { src: BENCH.gen[6], dst: BENCH.vip[6] },
        udp: { sport: 10000, dport: BENCH.port },
        payload,
      });
}
