// Lab presets for xlb's forwarding modes (local, nat, fullnat, dsr), dual-stack, built
// with buildTopology. Every host hangs off a bridge in a switch namespace 'sw', so the
// load balancer sees real L2 neighbours (resolved by the kernel, never static entries).
//
// One arm (dsr, local; nat/fullnat with arms: 1): one segment, 198.51.100.0/24 and fd00:198::/64.
// Each host's eth0 is a veth whose other end (c1.., lb0, b1..) is a port of br0 in 'sw':
//
//     client1  eth0  198.51.100.11  fd00:198::11  ─┐
//     client2  eth0  198.51.100.12  fd00:198::12  ─┤
//     lb       eth0  198.51.100.2   fd00:198::2   ─┤ br0 (sw)
//     be1      eth0  198.51.100.21  fd00:198::21  ─┤
//     be2      eth0  198.51.100.22  fd00:198::22  ─┘
//
//   VIP 203.0.113.100 and fd00:203::100, routed by the clients (/32, /128) via the LB.
//   dsr: backends hold the VIP on lo (arp_ignore=1, arp_announce=2) and answer clients directly.
//   nat: backends route each client (/32, /128) and default via the LB: the clients are
//   on-link, and without the host routes replies would bypass the LB.
//   fullnat: backends need no route (they answer the LB's own address, snat = .2 / ::2).
//   local: no backend namespaces; the backends listen inside lb on .2 / ::2, also the VIP.
//
// Two arms (nat, fullnat): a client segment on brc and a backend segment on brb, both in 'sw':
//
//     client1  eth0  203.0.113.11   fd00:203::11  ─┐
//     client2  eth0  203.0.113.12   fd00:203::12  ─┤ brc (sw)
//     lb       eth0  203.0.113.1    fd00:203::1   ─┘
//     lb       eth1  198.51.100.1   fd00:198::1   ─┐
//     be1      eth0  198.51.100.11  fd00:198::11  ─┤ brb (sw)
//     be2      eth0  198.51.100.12  fd00:198::12  ─┤
//     be3      eth0  198.51.100.13  fd00:198::13  ─┘
//
//   VIP 192.0.2.100 and fd00:192::100; clients default via the LB (.1 / ::1 of 203.0.113/fd00:203).
//   nat: backends default via the LB (198.51.100.1 / fd00:198::1). fullnat: backends have no
//   route off their segment: they answer the LB's snat address (198.51.100.1 / fd00:198::1).
//   The LB forwards (ip_forward, IPv6 forwarding) and sends no ICMP redirects.
//
// Backends (listeners()): echo servers bind the backend's own address, or the VIP in dsr mode
// so that their replies come from it; an address per process, no dual-stack socket clash.
//
// Offloads: tx checksum offload off on client/backend eth0 (full UDP checksums, like a NIC);
// GRO on the sw ends and on client/backend eth0. Frames that the LB's XDP sends into a veth
// (XDP_TX / XDP_REDIRECT) are only received when the peer runs XDP itself: the switch ends
// of the LB's links get dist/bpf/xdp_pass.bpf.o (GRO alone did not do it for XDP_TX).
import { buildTopology, type AddrSpec, type IfRef, type Topology, type TopologySpec } from './topology.js';

export type LabMode = 'local' | 'nat' | 'fullnat' | 'dsr';
export interface LabOptions {
  prefix: string;
  mode: LabMode;
  /** 1..8, default 1. */
  clients?: number;
  /** 1..8, default 3 (local: the number of backend ports on the LB). */
  backends?: number;
  /** Default: 1 for dsr and local, 2 for nat and fullnat. */
  arms?: 1 | 2;
}
export interface LabHost {
  ns: string;
  ifname: string;
  mac: string;
  v4: string;
  v6: string;
}
export interface XlbConfigOptions {
  /** Service port, default 5300. */
  port?: number;
  /** Backend port (local: the first of `backends` ports), default 5301; dsr backends use `port`. */
  backendPort?: number;
  scheduler?: string;
  /** A health block for every service, as YAML flow text, e.g. '{ type: udp, interval: 500ms }'. */
  health?: string;
}
/** Where the echo backends of a lab listen: one process per address. */
export interface LabListener {
  /** 'be1', … or 'lb' (local mode). */
  node: string;
  ns: string;
  address: string;
  ports: number[];
}
export interface Lab {
  mode: LabMode;
  arms: 1 | 2;
  topology: Topology;
  /** interfaces: [client side] (one arm) or [client side, backend side] (two arms). */
  lb: { ns: string; interfaces: LabHost[] };
  clients: LabHost[];
  backends: LabHost[];
  vip: { v4: string; v6: string };
  /** The LB's backend-side addresses (the source addresses of fullnat). */
  snat: { v4: string; v6: string };
  /** YAML for `xlb run`: the LB's interfaces, one v4 and one v6 service in this lab's mode. */
  xlbConfig(opts?: XlbConfigOptions): string;
  /** The echo servers that make this lab's backends (address and ports they must bind). */
  listeners(opts?: XlbConfigOptions): LabListener[];
  destroy(): void;
}

// ---- addresses -----------------------------------------------------------------------------------

export const DEFAULT_PORT = 5300;
export const DEFAULT_BACKEND_PORT = 5301;
export const MAX_HOSTS = 8;
export const SNAT_PORTS = '20000-60000';

/** The one segment of the one-arm topology. */
export const ONE_ARM = {
  v4: '198.51.100.',
  v6: 'fd00:198::',
  len4: 24,
  len6: 64,
  lb: 2,
  /** client i (1-based) is .10+i, backend j is .20+j. */
  clientBase: 10,
  backendBase: 20,
  vip: { v4: '203.0.113.100', v6: 'fd00:203::100' },
} as const;

/** Client and backend segments of the two-arm topology. */
export const TWO_ARM = {
  client: { v4: '203.0.113.', v6: 'fd00:203::' },
  backend: { v4: '198.51.100.', v6: 'fd00:198::' },
  len4: 24,
  len6: 64,
  lb: 1,
  clientBase: 10,
  backendBase: 10,
  vip: { v4: '192.0.2.100', v6: 'fd00:192::100' },
} as const;

const LB_SYSCTLS: Record<string, string> = {
  'net.ipv4.ip_forward': '1',
  'net.ipv4.conf.all.forwarding': '1',
  'net.ipv6.conf.all.forwarding': '1',
  // The one-arm LB forwards out of the interface it received on: no ICMP redirects that
  // would teach hosts to bypass it.
  'net.ipv4.conf.all.send_redirects': '0',
  'net.ipv4.conf.default.send_redirects': '0',
};
const HOST_SYSCTLS: Record<string, string> = {
  'net.ipv4.conf.all.accept_redirects': '0',
  'net.ipv6.conf.all.accept_redirects': '0',
};
const DSR_BACKEND_SYSCTLS: Record<string, string> = {
  ...HOST_SYSCTLS,
  'net.ipv4.conf.all.arp_ignore': '1',
  'net.ipv4.conf.all.arp_announce': '2',
};

/** Host `n` of a segment: the v6 host part is written like the v4 one (.11 → ::11). */
const host = (seg: { v4: string; v6: string }, n: number): { v4: string; v6: string } => ({
  v4: `${seg.v4}${n}`,
  v6: `${seg.v6}${n}`,
});
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

// ---- options -------------------------------------------------------------------------------------

interface Resolved {
  prefix: string;
  mode: LabMode;
  clients: number;
  backends: number;
  arms: 1 | 2;
}

function count(what: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) {
    throw new Error(`lab: ${what} must be a whole number from 1 to ${MAX_HOSTS}, got ${n}`);
  }
  return n;
}

function resolve(o: LabOptions): Resolved {
  const arms = o.arms ?? (o.mode === 'nat' || o.mode === 'fullnat' ? 2 : 1);
  if (arms !== 1 && arms !== 2) throw new Error(`lab: arms must be 1 or 2, got ${String(arms)}`);
  if (arms === 2 && (o.mode === 'dsr' || o.mode === 'local')) {
    throw new Error(`lab: ${o.mode} mode has one arm only (backends share the client segment)`);
  }
  return {
    prefix: o.prefix,
    mode: o.mode,
    arms,
    clients: count('clients', o.clients, 1),
    backends: count('backends', o.backends, 3),
  };
}

// ---- address plan ----------------------------------------------------------------------------

type Dual = { v4: string; v6: string };

/** Every address of a preset, decided once: the specs and the Lab object both read it. */
interface AddressPlan {
  /** [client side] or [client side, backend side]. */
  lb: { ifname: string; a: Dual; len4: number; len6: number }[];
  clients: Dual[];
  /** Empty in local mode. */
  backends: Dual[];
  vip: Dual;
}

function addressPlan(r: Resolved): AddressPlan {
  const backends = r.mode === 'local' ? 0 : r.backends;
  if (r.arms === 1) {
    const seg = ONE_ARM;
    const lb = host(seg, seg.lb);
    return {
      lb: [{ ifname: 'eth0', a: lb, len4: seg.len4, len6: seg.len6 }],
      clients: range(r.clients).map((i) => host(seg, seg.clientBase + i)),
      backends: range(backends).map((j) => host(seg, seg.backendBase + j)),
      vip: r.mode === 'local' ? lb : { ...seg.vip },
    };
  }
  const t = TWO_ARM;
  return {
    lb: [
      { ifname: 'eth0', a: host(t.client, t.lb), len4: t.len4, len6: t.len6 },
      { ifname: 'eth1', a: host(t.backend, t.lb), len4: t.len4, len6: t.len6 },
    ],
    clients: range(r.clients).map((i) => host(t.client, t.clientBase + i)),
    backends: range(backends).map((j) => host(t.backend, t.backendBase + j)),
    vip: { ...t.vip },
  };
}

// ---- topology specs ------------------------------------------------------------------------------

type Spec = Required<TopologySpec>;

const emptySpec = (prefix: string): Spec => ({
  prefix,
  nodes: [{ name: 'sw' }],
  links: [],
  bridges: [],
  addrs: [],
  routes: [],
  loopbackAddrs: [],
  txOffloadOff: [],
  gro: [],
  xdpPass: [],
});

/** A veth from `end` to the switch's `swIf`, a port of `bridge`; hosts get wire-like offloads. */
function wire(spec: Spec, end: IfRef, swIf: string, bridge: string, isHost: boolean): void {
  spec.links.push({ a: end, b: { node: 'sw', ifname: swIf } });
  const br = spec.bridges.find((b) => b.name === bridge);
  if (br) br.ports.push(swIf);
  else spec.bridges.push({ node: 'sw', name: bridge, ports: [swIf] });
  spec.gro.push({ node: 'sw', ifname: swIf });
  // The LB's frames sent with XDP_TX/XDP_REDIRECT reach the switch only if its end runs XDP.
  if (end.node === 'lb') spec.xdpPass.push({ node: 'sw', ifname: swIf });
  if (isHost) {
    spec.txOffloadOff.push(end);
    spec.gro.push(end);
  }
}

const cidrs = (a: Dual, len4: number, len6: number): string[] => [`${a.v4}/${len4}`, `${a.v6}/${len6}`];

function addDual(into: AddrSpec[], end: IfRef, a: Dual, len4: number, len6: number): void {
  cidrs(a, len4, len6).forEach((cidr) => into.push({ ...end, cidr }));
}

function routeDual(spec: Spec, node: string, dst: Dual, via: Dual): void {
  spec.routes.push({ node, dst: dst.v4, via: via.v4 }, { node, dst: dst.v6, via: via.v6 });
}

const hostRoute = (a: Dual): Dual => ({ v4: `${a.v4}/32`, v6: `${a.v6}/128` });
const DEFAULT_ROUTE: Dual = { v4: 'default', v6: 'default' };

function backendSysctls(mode: LabMode): Record<string, string> {
  return mode === 'dsr' ? DSR_BACKEND_SYSCTLS : HOST_SYSCTLS;
}

/** The routes of backend `node` (clients are given so one-arm nat can route them via the LB). */
function backendRoutes(spec: Spec, r: Resolved, node: string, plan: AddressPlan): void {
  const lbBackendSide = plan.lb[plan.lb.length - 1]!.a;
  if (r.mode !== 'nat') return; // dsr answers directly; fullnat replies to the LB's own address
  // One arm: the clients are on-link, so host routes send the replies back through the LB.
  if (r.arms === 1) plan.clients.forEach((c) => routeDual(spec, node, hostRoute(c), lbBackendSide));
  routeDual(spec, node, DEFAULT_ROUTE, lbBackendSide);
}

function presetSpec(r: Resolved, plan: AddressPlan): Spec {
  const s = emptySpec(r.prefix);
  const one = r.arms === 1;
  const [clientBridge, backendBridge] = one ? ['br0', 'br0'] : ['brc', 'brb'];
  const lbClientSide = plan.lb[0]!.a;
  s.nodes.push({ name: 'lb', sysctls: LB_SYSCTLS });
  plan.lb.forEach((l, k) => {
    wire(s, { node: 'lb', ifname: l.ifname }, `lb${k}`, k === 0 ? clientBridge : backendBridge, false);
    addDual(s.addrs, { node: 'lb', ifname: l.ifname }, l.a, l.len4, l.len6);
  });
  const lens = plan.lb[0]!; // every segment has the same prefix lengths
  plan.clients.forEach((a, k) => {
    const node = `client${k + 1}`;
    s.nodes.push({ name: node, sysctls: HOST_SYSCTLS });
    wire(s, { node, ifname: 'eth0' }, `c${k + 1}`, clientBridge, true);
    addDual(s.addrs, { node, ifname: 'eth0' }, a, lens.len4, lens.len6);
    if (!one) routeDual(s, node, DEFAULT_ROUTE, lbClientSide);
    else if (r.mode !== 'local') routeDual(s, node, hostRoute(plan.vip), lbClientSide);
  });
  plan.backends.forEach((a, k) => {
    const node = `be${k + 1}`;
    s.nodes.push({ name: node, sysctls: backendSysctls(r.mode) });
    wire(s, { node, ifname: 'eth0' }, `b${k + 1}`, backendBridge, true);
    addDual(s.addrs, { node, ifname: 'eth0' }, a, lens.len4, lens.len6);
    if (r.mode === 'dsr') addDual(s.loopbackAddrs, { node, ifname: 'lo' }, plan.vip, 32, 128);
    backendRoutes(s, r, node, plan);
  });
  return s;
}

/** The topology spec of a preset (for inspection; createLab builds it). */
export function labSpec(opts: LabOptions): TopologySpec {
  const r = resolve(opts);
  return presetSpec(r, addressPlan(r));
}

// ---- xlb config ----------------------------------------------------------------------------------

interface ServiceYaml {
  name: string;
  vip: string;
  backends: { address: string; port?: number }[];
  snat?: string;
}

function serviceYaml(s: ServiceYaml, mode: LabMode, port: number, opts: XlbConfigOptions): string[] {
  return [
    `  - name: ${s.name}`,
    `    vip: ${s.vip}`,
    `    port: ${port}`,
    `    mode: ${mode}`,
    ...(opts.scheduler === undefined ? [] : [`    scheduler: ${opts.scheduler}`]),
    ...(opts.health === undefined ? [] : [`    health: ${opts.health}`]),
    ...(s.snat === undefined ? [] : [`    snat: { address: ${s.snat}, ports: ${SNAT_PORTS} }`]),
    '    backends:',
    ...s.backends.map((b) =>
      b.port === undefined
        ? `      - { address: ${b.address} }`
        : `      - { address: ${b.address}, port: ${b.port} }`,
    ),
  ];
}

function backendsOf(
  lab: Lab,
  family: 'v4' | 'v6',
  o: Required<Pick<XlbConfigOptions, 'port' | 'backendPort'>>,
) {
  if (lab.mode === 'local') {
    return lab.listeners(o)[family === 'v4' ? 0 : 1]!.ports.map((port) => ({
      address: lab.lb.interfaces[0]![family],
      port,
    }));
  }
  return lab.backends.map((b) => ({
    address: b[family],
    ...(lab.mode === 'dsr' ? {} : { port: o.backendPort }),
  }));
}

function renderConfig(lab: Lab, opts: XlbConfigOptions = {}): string {
  const o = { port: opts.port ?? DEFAULT_PORT, backendPort: opts.backendPort ?? DEFAULT_BACKEND_PORT };
  const service = (family: 'v4' | 'v6') =>
    serviceYaml(
      {
        name: `lab-${family}`,
        vip: lab.vip[family],
        backends: backendsOf(lab, family, o),
        ...(lab.mode === 'fullnat' ? { snat: lab.snat[family] } : {}),
      },
      lab.mode,
      o.port,
      opts,
    );
  return [
    `# xlb config of the lab '${lab.topology.prefix}' (${lab.mode}, ${lab.arms === 1 ? 'one arm' : 'two arms'}).`,
    `# Run it inside the LB's namespace: nsenter --net=/run/netns/${lab.lb.ns} ./xlb run --config FILE`,
    `interfaces: [${lab.lb.interfaces.map((i) => i.ifname).join(', ')}]`,
    'xdp_mode: native',
    'services:',
    ...service('v4'),
    ...service('v6'),
    '',
  ].join('\n');
}

function listenersOf(lab: Lab, backendCount: number, opts: XlbConfigOptions = {}): LabListener[] {
  const port = opts.port ?? DEFAULT_PORT;
  const backendPort = opts.backendPort ?? DEFAULT_BACKEND_PORT;
  if (lab.mode === 'local') {
    const lb = lab.lb.interfaces[0]!;
    const ports = range(backendCount).map((k) => backendPort + k - 1);
    return [
      { node: 'lb', ns: lab.lb.ns, address: lb.v4, ports },
      { node: 'lb', ns: lab.lb.ns, address: lb.v6, ports },
    ];
  }
  // dsr: the backends answer from the VIP they were sent to, so they bind it (on lo).
  return lab.backends.flatMap((b, j) =>
    (['v4', 'v6'] as const).map((f) => ({
      node: `be${j + 1}`,
      ns: b.ns,
      address: lab.mode === 'dsr' ? lab.vip[f] : b[f],
      ports: [lab.mode === 'dsr' ? port : backendPort],
    })),
  );
}

// ---- the lab -------------------------------------------------------------------------------------

function hostOf(t: Topology, node: string, ifname: string, a: Dual): LabHost {
  return { ns: t.netns(node), ifname, mac: t.mac(node, ifname), ...a };
}

/** Builds a preset; on failure nothing of it remains. */
export function createLab(opts: LabOptions): Lab {
  const r = resolve(opts);
  const plan = addressPlan(r);
  const topology = buildTopology(presetSpec(r, plan));
  try {
    return assemble(r, plan, topology);
  } catch (e) {
    topology.destroy();
    throw e;
  }
}

function assemble(r: Resolved, plan: AddressPlan, t: Topology): Lab {
  const lbIfs = plan.lb.map((l) => hostOf(t, 'lb', l.ifname, l.a));
  const backendSide = lbIfs[lbIfs.length - 1]!;
  const lab: Lab = {
    mode: r.mode,
    arms: r.arms,
    topology: t,
    lb: { ns: t.netns('lb'), interfaces: lbIfs },
    clients: plan.clients.map((a, k) => hostOf(t, `client${k + 1}`, 'eth0', a)),
    backends: plan.backends.map((a, k) => hostOf(t, `be${k + 1}`, 'eth0', a)),
    vip: plan.vip,
    snat: { v4: backendSide.v4, v6: backendSide.v6 },
    xlbConfig: (o) => renderConfig(lab, o),
    listeners: (o) => listenersOf(lab, r.backends, o),
    destroy: () => t.destroy(),
  };
  return lab;
}

// ---- description ---------------------------------------------------------------------------------

/** The serialisable part of a lab (what `xlb lab` records in its state file). */
export interface LabInfo {
  prefix: string;
  mode: LabMode;
  arms: 1 | 2;
  namespaces: string[];
  lb: { ns: string; interfaces: LabHost[] };
  clients: LabHost[];
  backends: LabHost[];
  vip: { v4: string; v6: string };
  snat: { v4: string; v6: string };
}

export function labInfo(lab: Lab): LabInfo {
  return {
    prefix: lab.topology.prefix,
    mode: lab.mode,
    arms: lab.arms,
    namespaces: [
      lab.lb.ns,
      ...lab.clients.map((c) => c.ns),
      ...lab.backends.map((b) => b.ns),
      lab.topology.netns('sw'),
    ],
    lb: lab.lb,
    clients: lab.clients,
    backends: lab.backends,
    vip: lab.vip,
    snat: lab.snat,
  };
}

/** One bridge and the hosts on it, drawn as a column of veths. */
function segmentPicture(bridge: string, hosts: { label: string; h: LabHost }[]): string[] {
  const rows = hosts.map(
    ({ label, h }) => `  ${label.padEnd(8)} ${h.ifname}  ${h.v4.padEnd(15)} ${h.v6.padEnd(16)}`,
  );
  const width = Math.max(...rows.map((r) => r.length));
  const mid = Math.floor((rows.length - 1) / 2);
  return rows.map((r, k) => {
    const joint = rows.length === 1 ? '──' : k === 0 ? '─┐' : k === rows.length - 1 ? '─┘' : '─┤';
    return `${r.padEnd(width)} ─${joint}${k === mid ? ` ${bridge} (sw)` : ''}`;
  });
}

const label = (h: LabHost, prefix: string) => h.ns.slice(prefix.length);

/** The picture and the addresses of a lab. */
export function describeLab(info: LabInfo): string {
  const [lbc, lbb] = info.lb.interfaces;
  if (lbc === undefined) return '';
  const lbRow = (h: LabHost) => ({ label: 'lb', h });
  const clients = info.clients.map((h) => ({ label: label(h, info.prefix), h }));
  const backends = info.backends.map((h) => ({ label: label(h, info.prefix), h }));
  const lines =
    lbb === undefined
      ? segmentPicture('br0', [...clients, lbRow(lbc), ...backends])
      : [
          ...segmentPicture('brc', [...clients, lbRow(lbc)]),
          ...segmentPicture('brb', [lbRow(lbb), ...backends]),
        ];
  return [
    `lab ${info.prefix.replace(/-$/, '')}: ${info.mode}, ${info.arms === 1 ? 'one arm' : 'two arms'}`,
    ...lines,
    `  VIP ${info.vip.v4}, ${info.vip.v6}` +
      (info.mode === 'fullnat' ? `; snat ${info.snat.v4}, ${info.snat.v6}` : ''),
  ].join('\n');
}
