// Network-namespace topologies from a declarative spec: namespaces (nodes), veth pairs
// (links), bridges, addresses, routes, sysctls and offload settings, built in that order
// and torn down whole. Every namespace is named `${prefix}${node}`, so a prefix that
// carries the creating pid (`xlbt-${pid}-…`) lets removeStaleNetns clear a crashed run.
// Namespaced commands run through nsenter/`ip -n`, never `ip netns exec` (bpffs stays shared).
import { bpfObjectPath } from '../util/paths.js';
import { nsSh, sh } from './exec.js';
import { createNetns, deleteNetns, listNetns } from './netns.js';

export interface NodeSpec {
  /** Short: 'client1', 'lb', 'be1', 'sw'. */
  name: string;
  sysctls?: Record<string, string>;
}
/** A veth pair, each end created directly in its node's namespace. */
export interface LinkSpec {
  a: { node: string; ifname: string };
  b: { node: string; ifname: string };
}
export interface BridgeSpec {
  node: string;
  name: string;
  /** Interface names in that node. */
  ports: string[];
}
export interface AddrSpec {
  node: string;
  ifname: string;
  /** '198.51.100.2/24' or 'fd00:198::2/64'. */
  cidr: string;
}
export interface RouteSpec {
  node: string;
  /** 'default' or a cidr. */
  dst: string;
  via: string;
}
export interface IfRef {
  node: string;
  ifname: string;
}
export interface TopologySpec {
  prefix: string;
  nodes: NodeSpec[];
  links: LinkSpec[];
  bridges: BridgeSpec[];
  addrs: AddrSpec[];
  routes: RouteSpec[];
  /** e.g. a VIP on a backend's lo. */
  loopbackAddrs?: AddrSpec[];
  txOffloadOff?: IfRef[];
  gro?: IfRef[];
  /** veth ends that get an XDP_PASS program, so that frames XDP sends into their peer are received. */
  xdpPass?: IfRef[];
}
export interface Topology {
  prefix: string;
  /** Full namespace name of a node. */
  netns(node: string): string;
  /** MAC address of an interface (read once, then cached). */
  mac(node: string, ifname: string): string;
  /** Deletes every namespace of the topology (and kills what runs inside); idempotent. */
  destroy(): void;
}

/** Set in every namespace: no reverse-path filtering (the lab's paths are asymmetric by design). */
export const BASE_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.rp_filter': '0',
  'net.ipv4.conf.default.rp_filter': '0',
};

/** Set right after a namespace is made, before its interfaces: no DAD on link-local addresses either. */
const EARLY_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv6.conf.all.accept_dad': '0',
  'net.ipv6.conf.default.accept_dad': '0',
};

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
const MAX_NETNS_NAME = 64;

// ---- validation (before anything is made) -----------------------------------------------------

function validateSpec(spec: TopologySpec): void {
  const nodes = new Set<string>();
  for (const n of spec.nodes) {
    const full = spec.prefix + n.name;
    if (!NAME_RE.test(full) || full.length > MAX_NETNS_NAME) {
      throw new Error(`topology: bad namespace name '${full}' (a-z, 0-9, '-'; at most ${MAX_NETNS_NAME})`);
    }
    if (nodes.has(n.name)) throw new Error(`topology: node '${n.name}' declared twice`);
    nodes.add(n.name);
  }
  const checkRef = (what: string, node: string, ifname?: string) => {
    if (!nodes.has(node)) throw new Error(`topology: ${what} names unknown node '${node}'`);
    if (ifname !== undefined && !IFNAME_RE.test(ifname)) {
      throw new Error(`topology: ${what}: bad interface name '${ifname}' (at most 15 characters)`);
    }
  };
  spec.links.forEach((l) => {
    checkRef('a link', l.a.node, l.a.ifname);
    checkRef('a link', l.b.node, l.b.ifname);
  });
  spec.bridges.forEach((b) => {
    checkRef('a bridge', b.node, b.name);
    b.ports.forEach((p) => checkRef(`bridge ${b.name}`, b.node, p));
  });
  [...spec.addrs, ...(spec.loopbackAddrs ?? [])].forEach((a) => checkRef('an address', a.node, a.ifname));
  spec.routes.forEach((r) => checkRef('a route', r.node));
  [...(spec.txOffloadOff ?? []), ...(spec.gro ?? [])].forEach((r) =>
    checkRef('an offload', r.node, r.ifname),
  );
}

// ---- build steps -------------------------------------------------------------------------------

const isV6 = (addr: string): boolean => addr.includes(':');

function setSysctls(ns: string, values: Record<string, string>): void {
  const assignments = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (assignments.length > 0) nsSh(ns, 'sysctl', ['-q', '-w', ...assignments]);
}

function addVeth(ns: (node: string) => string, l: LinkSpec): void {
  sh(
    'ip',
    ['link', 'add', l.a.ifname, 'netns', ns(l.a.node), 'type', 'veth'].concat([
      'peer',
      'name',
      l.b.ifname,
      'netns',
      ns(l.b.node),
    ]),
  );
}

function addBridge(ns: string, b: BridgeSpec): void {
  sh('ip', ['-n', ns, 'link', 'add', b.name, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
  for (const port of b.ports) sh('ip', ['-n', ns, 'link', 'set', port, 'master', b.name]);
  sh('ip', ['-n', ns, 'link', 'set', b.name, 'up']);
}

function addAddr(ns: string, a: AddrSpec): void {
  sh('ip', ['-n', ns, 'addr', 'add', a.cidr, 'dev', a.ifname, ...(isV6(a.cidr) ? ['nodad'] : [])]);
}

function addRoute(ns: string, r: RouteSpec): void {
  sh('ip', ['-n', ns, ...(isV6(r.via) ? ['-6'] : ['-4']), 'route', 'add', r.dst, 'via', r.via]);
}

function linkEnds(spec: TopologySpec): IfRef[] {
  return spec.links.flatMap((l) => [l.a, l.b]);
}

function buildInto(spec: TopologySpec, ns: (node: string) => string, created: string[]): void {
  for (const n of spec.nodes) {
    createNetns(ns(n.name));
    created.push(ns(n.name));
    setSysctls(ns(n.name), EARLY_SYSCTLS);
  }
  spec.links.forEach((l) => addVeth(ns, l));
  spec.bridges.forEach((b) => addBridge(ns(b.node), b));
  [...spec.addrs, ...(spec.loopbackAddrs ?? [])].forEach((a) => addAddr(ns(a.node), a));
  for (const e of linkEnds(spec)) sh('ip', ['-n', ns(e.node), 'link', 'set', e.ifname, 'up']);
  spec.routes.forEach((r) => addRoute(ns(r.node), r));
  spec.nodes.forEach((n) => setSysctls(ns(n.name), { ...BASE_SYSCTLS, ...n.sysctls }));
  for (const t of spec.txOffloadOff ?? []) nsSh(ns(t.node), 'ethtool', ['-K', t.ifname, 'tx', 'off']);
  for (const g of spec.gro ?? []) nsSh(ns(g.node), 'ethtool', ['-K', g.ifname, 'gro', 'on']);
  for (const x of spec.xdpPass ?? []) {
    nsSh(ns(x.node), 'ip', ['link', 'set', 'dev', x.ifname, 'xdpdrv', 'obj', XDP_PASS_OBJECT, 'sec', 'xdp']);
  }
}

/** dist/bpf/xdp_pass.bpf.o, next to the compiled TypeScript. */
export const XDP_PASS_OBJECT = bpfObjectPath('xdp_pass.bpf.o');

function destroyNamespaces(names: string[]): void {
  const present = new Set(listNetns(''));
  [...names].reverse().forEach((n) => {
    if (present.has(n)) deleteNetns(n);
  });
}

// ---- the builder -------------------------------------------------------------------------------

/** Builds the whole topology, or (on any failure) removes what it made and rethrows. */
export function buildTopology(spec: TopologySpec): Topology {
  validateSpec(spec);
  const nodes = new Set(spec.nodes.map((n) => n.name));
  const netns = (node: string): string => {
    if (!nodes.has(node)) throw new Error(`topology: no node '${node}'`);
    return spec.prefix + node;
  };
  const created: string[] = [];
  try {
    buildInto(spec, netns, created);
  } catch (e) {
    destroyNamespaces(created);
    throw e;
  }
  const macs = new Map<string, string>();
  return {
    prefix: spec.prefix,
    netns,
    mac(node, ifname) {
      const key = `${node}/${ifname}`;
      let mac = macs.get(key);
      if (mac === undefined) {
        mac = readMac(netns(node), ifname);
        macs.set(key, mac);
      }
      return mac;
    },
    destroy: () => destroyNamespaces(created),
  };
}

/** MAC address of `ifname` in namespace `ns`. */
export function readMac(ns: string, ifname: string): string {
  const links = JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname])) as {
    address?: string;
  }[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no MAC address for ${ifname} in ${ns}`);
  return mac;
}
