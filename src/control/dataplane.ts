// The data plane as one object: the loaded BPF object, its maps, its attachments,
// and the reconciler that turns configs into map writes.
import { ifindexOf } from '../kernel/netif.js';
import { hostPort } from '../util/endpoint.js';
import { bpfObjectPath } from '../util/paths.js';
import { join } from 'node:path';
import { BpfObject, type BpfProgram } from '../kernel/object.js';
import type { XdpMode } from '../abi/abi.js';
import { attachXdp, type XdpAttachment } from '../kernel/xdp.js';
import {
  ClassicTcAttachment,
  TcxAttachment,
  removeClsactIfEmpty,
  type TcAttachment,
  type TcMethod,
} from '../kernel/tc.js';
import { ABI_VERSION, abiStructs } from '../abi/abi.js';
import type { Config } from '../model/config.js';
import { backendChanges, plan } from '../model/plan.js';
import { MAP_NAMES, openMaps, type DataplaneMaps, type MapName } from './maps.js';
import { BpfLink } from '../kernel/link.js';
import type { BpfMap } from '../kernel/map.js';
import { existsSync, rmSync } from 'node:fs';
import { Reconciler, type ApplyReport } from './reconcile.js';
import { perCpuSums, readStats, type StatsSnapshot } from './stats.js';
import { attachTcHook, type InterfaceState } from './attachments.js';
import { kernelFeatures, requireKernel, tcMethod } from './features.js';

/** dist/bpf/xlb.bpf.o, next to the compiled TypeScript. */
export const defaultObjectPath = (): string => process.env.XLB_BPF_OBJECT ?? bpfObjectPath('xlb.bpf.o');

export interface DataplaneOptions {
  objectPath?: string;
  /** Entries of the reply-translation table. */
  flowTableSize?: number;
  /**
   * Entries of sched_flat, every service's scheduling tables (schedEntriesFor(config.services)
   * sizes it for a configuration); default Limits.schedEntries.
   */
  schedEntries?: number;
  /** Existing maps (pinned by an earlier daemon) the new programs share instead of fresh ones. */
  reuse?: Map<MapName, BpfMap>;
}

/** Pin names of the links of an interface (tcx links only: classic TC filters have no pin). */
export const linkPins = (ifname: string) => ({
  xdp: `link-xdp-${ifname}`,
  tcIngress: `link-tcin-${ifname}`,
  tcEgress: `link-tceg-${ifname}`,
});
const tcPin = (ifname: string, direction: 'ingress' | 'egress') =>
  direction === 'ingress' ? linkPins(ifname).tcIngress : linkPins(ifname).tcEgress;

/** An attached interface and how each of its hooks is attached. */
export interface InterfaceHooks {
  name: string;
  mode: string;
  hooks: { xdp: 'link'; tcIngress?: TcMethod; tcEgress?: TcMethod };
}

export interface AttachOptions {
  mode: XdpMode;
  force?: boolean;
  /** How to attach the TC programs (default: what the kernel offers, tcx or classic TC). */
  tc?: TcMethod;
  /** What an earlier instance recorded about the interfaces (classic TC: who created clsact). */
  prev?: readonly InterfaceState[];
}

export class Dataplane {
  readonly maps: DataplaneMaps;
  readonly reconciler: Reconciler;
  readonly xdp: XdpAttachment[] = [];
  readonly tc: TcAttachment[] = [];
  private closed = false;
  /** Set by the daemon: closing leaves the pinned links attached. */
  keepAttached = false;
  /** icmpUnreachable(): per backend id, its endpoint and the count read last; totals per endpoint. */
  private icmpSeen = new Map<number, { endpoint: string; n: number }>();
  private readonly icmpTotals = new Map<string, bigint>();

  private constructor(readonly object: BpfObject) {
    this.maps = openMaps((name) => object.map(name));
    this.reconciler = new Reconciler(this.maps);
  }

  /** Opens, sizes, loads and checks the BPF object. Nothing is attached yet. */
  static load(opts: DataplaneOptions = {}): Dataplane {
    requireKernel(); // one message for what the kernel lacks, before anything is loaded
    const obj = BpfObject.open(opts.objectPath ?? defaultObjectPath());
    try {
      if (opts.flowTableSize !== undefined) {
        obj.setMaxEntries('rev_nat', opts.flowTableSize);
        obj.setMaxEntries('fwd_flows', opts.flowTableSize);
      }
      if (opts.schedEntries !== undefined) obj.setMaxEntries('sched_flat', opts.schedEntries);
      checkAbiVersion(obj);
      obj.checkCodecs(abiStructs);
      for (const [name, map] of opts.reuse ?? []) obj.reuseMap(name, map.fd);
      obj.load();
      return new Dataplane(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  get xdpProgram(): BpfProgram {
    return this.object.program('xlb_xdp');
  }

  get egressProgram(): BpfProgram {
    return this.object.program('xlb_egress');
  }

  get tcIngressProgram(): BpfProgram {
    return this.object.program('xlb_tc_ingress');
  }

  /**
   * Attaches XDP to every interface and makes each a transmit target (tx_ports). On
   * interfaces other than lo also attaches the TC ingress program (sends packets
   * whose next hop needs resolving) and the egress translator of local replies (on
   * lo, replies pass the XDP hook themselves), through tcx or classic TC. All or nothing.
   */
  attach(interfaces: string[], opts: AttachOptions & { pinDir?: string }): void {
    const method = opts.tc ?? tcMethod(kernelFeatures());
    try {
      for (const ifname of interfaces) {
        const a = attachXdp(this.xdpProgram.fd, ifname, opts);
        this.xdp.push(a);
        this.maps.txPorts.set(a.ifindex, a.ifindex);
        if (opts.pinDir) a.link.pin(join(opts.pinDir, linkPins(ifname).xdp));
        if (ifname === 'lo') continue;
        const created = opts.prev?.find((i) => i.name === ifname)?.clsactCreated === true;
        for (const direction of ['ingress', 'egress'] as const) {
          this.attachTc(ifname, direction, method, opts.pinDir, created);
        }
      }
    } catch (e) {
      this.detach(true);
      throw e;
    }
  }

  private tcProgram(direction: 'ingress' | 'egress'): BpfProgram {
    return direction === 'ingress' ? this.tcIngressProgram : this.egressProgram;
  }

  private attachTc(
    ifname: string,
    direction: 'ingress' | 'egress',
    method: TcMethod,
    pinDir: string | undefined,
    clsactCreated: boolean,
  ): void {
    const a = attachTcHook(this.tcProgram(direction).fd, ifname, direction, method, clsactCreated);
    this.tc.push(a);
    if (pinDir && a instanceof TcxAttachment) a.link.pin(join(pinDir, tcPin(ifname, direction)));
  }

  /**
   * Takes over the links an earlier daemon pinned in `pinDir` for `ifname`: each is
   * switched to this object's program in one atomic update (bpf_link_update), so
   * traffic never stops; classic TC filters (`prev.tc`) are replaced in place at their
   * handle and priority, as atomically. 'absent' when there is no pinned XDP link for it; 'stale' when
   * the pinned links belong to an interface that is gone (deleted, or re-created under the
   * same name: its links were defunct): their pins are removed, and the caller attaches anew.
   * A TC hook with nothing to adopt is attached anew.
   */
  adoptLinks(
    ifname: string,
    pinDir: string,
    mode: 'native' | 'generic',
    prev?: InterfaceState,
  ): 'adopted' | 'absent' | 'stale' {
    const pins = linkPins(ifname);
    if (!existsSync(join(pinDir, pins.xdp))) return 'absent';
    const xdp = BpfLink.fromPin(join(pinDir, pins.xdp));
    const ifindex = xdp.info.ifindex;
    if (ifindex === 0 || ifindex !== ifindexOf(ifname)) {
      xdp.close();
      for (const file of Object.values(pins)) rmSync(join(pinDir, file), { force: true });
      return 'stale';
    }
    xdp.update(this.xdpProgram.fd);
    this.xdp.push({ ifname, ifindex, mode, link: xdp });
    this.maps.txPorts.set(ifindex, ifindex);
    if (ifname === 'lo') return 'adopted';
    for (const direction of ['ingress', 'egress'] as const) {
      const pin = join(pinDir, tcPin(ifname, direction));
      if (prev?.tc !== 'classic' && existsSync(pin)) {
        const l = BpfLink.fromPin(pin);
        l.update(this.tcProgram(direction).fd);
        this.tc.push(new TcxAttachment(ifname, ifindex, direction, l));
      } else {
        // Classic TC: attachClassicTc replaces xlb's program at the slot in place (or attaches
        // it when the filter is gone); a hook without a pinned link gets what the kernel offers.
        const method = prev?.tc === 'classic' ? 'classic' : tcMethod(kernelFeatures());
        this.attachTc(ifname, direction, method, pinDir, prev?.clsactCreated === true);
      }
    }
    return 'adopted';
  }

  /** Each attached interface with the attach method of each hook (what status shows). */
  interfaceHooks(): InterfaceHooks[] {
    return this.xdp.map((a) => {
      const tc = (direction: 'ingress' | 'egress') =>
        this.tc.find((t) => t.ifname === a.ifname && t.direction === direction)?.method;
      const [tcIngress, tcEgress] = [tc('ingress'), tc('egress')];
      return {
        name: a.ifname,
        mode: a.mode,
        hooks: { xdp: 'link', ...(tcIngress ? { tcIngress } : {}), ...(tcEgress ? { tcEgress } : {}) },
      };
    });
  }

  /** What the state file records about each attached interface. */
  interfaceStates(): InterfaceState[] {
    return this.xdp.map((a) => {
      const tc = this.tc.filter((t) => t.ifname === a.ifname);
      const created = tc.some((t) => t instanceof ClassicTcAttachment && t.qdiscCreated);
      return {
        name: a.ifname,
        mode: a.mode,
        ...(tc[0] ? { tc: tc[0].method } : {}),
        ...(created ? { clsactCreated: true } : {}),
      };
    });
  }

  /**
   * Lets go of the attachments. Links pinned in bpffs stay attached (the data plane
   * keeps forwarding without its daemon) unless `force`, which detaches them.
   */
  detach(force = false): void {
    if (force) for (const a of this.xdp) this.maps.txPorts.delete(a.ifindex);
    const created = new Set<number>();
    const all = [
      ...this.xdp.splice(0).map((a) => ({ detach: () => a.link.detach(), close: () => a.link.close() })),
      ...this.tc.splice(0).map((a) => {
        if (a instanceof ClassicTcAttachment && a.qdiscCreated) created.add(a.ifindex);
        return a;
      }),
    ];
    for (const a of all) {
      if (force) {
        try {
          a.detach();
        } catch {
          /* already gone */
        }
      }
      a.close();
    }
    for (const ifindex of force ? created : []) {
      try {
        removeClsactIfEmpty(ifindex);
      } catch {
        /* the interface is gone, and its qdisc with it */
      }
    }
  }

  /** Compiles and applies a (validated) config. */
  apply(config: Config): ApplyReport {
    const before = this.reconciler.applied;
    const report = this.reconciler.apply(plan(config, before));
    // Ids handed out anew had their ICMP counters zeroed: what was read of them is gone.
    const changes = backendChanges(before, this.reconciler.applied);
    for (const b of changes.added) this.icmpSeen.delete(b.id);
    for (const id of changes.removed) this.icmpSeen.delete(id);
    return report;
  }

  /**
   * Forgets the per-CPU caches (next hops, recent flows), so that a routing or
   * neighbour change is seen by the next packet instead of within a second.
   */
  flushCaches(): void {
    for (const map of [this.object.map('nh_cache'), this.object.map('flow_cache')]) {
      const n = map.info.maxEntries;
      const keys = Buffer.alloc(4 * n);
      for (let i = 0; i < n; i++) keys.writeUInt32LE(i, 4 * i);
      map.updateBatch(keys, Buffer.alloc(n * map.valueBufferSize));
    }
  }

  /**
   * ICMP port-unreachable errors counted as evidence against each backend ('addr:port',
   * '[v6]:port'), summed over CPUs: the passive health signal. The data plane counts per
   * backend id (icmp_unreach, zeroed when an id is handed out); these totals are kept per
   * endpoint and only grow, also when a backend leaves the plan and comes back under a new id.
   */
  icmpUnreachable(only?: ReadonlySet<string>): Map<string, bigint> {
    const applied = this.reconciler.applied;
    // The backends of the services named in `only` (passive health reads those with health
    // checks: at 64,000 backends, reading every one four times a second would keep the daemon busy).
    const backends =
      only === undefined
        ? [...applied.backends.values()]
        : applied.services.flatMap((s) => (only.has(s.name) ? s.backends : []));
    const read = perCpuSums(
      this.maps.icmpUnreach.raw,
      backends.map((b) => b.id),
      [0],
    );
    const seen = only === undefined ? new Map<number, { endpoint: string; n: number }>() : this.icmpSeen;
    for (const b of backends) {
      const endpoint = hostPort(b.address, b.port, b.family);
      const n = read(b.id)[0] ?? 0;
      const before = this.icmpSeen.get(b.id);
      const counted = before?.endpoint === endpoint && before.n <= n ? before.n : 0;
      seen.set(b.id, { endpoint, n });
      this.icmpTotals.set(endpoint, (this.icmpTotals.get(endpoint) ?? 0n) + BigInt(n - counted));
    }
    this.icmpSeen = seen;
    return new Map(this.icmpTotals);
  }

  /** Counters of every service, or of the one named `only` (the reasons always). */
  stats(only?: string): StatsSnapshot {
    const applied = this.reconciler.applied;
    return readStats(
      this.maps,
      only === undefined
        ? applied
        : { ...applied, services: applied.services.filter((s) => s.name === only) },
    );
  }

  /** Pins every map under `dir` (for `xlb stats` and other readers). */
  pinMaps(dir: string): void {
    for (const name of MAP_NAMES) this.object.map(name).pin(join(dir, name));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(!this.keepAttached);
    this.reconciler.close();
    this.object.close();
  }
}

/**
 * Refuses an object built for another ABI (its maps or structs would be read wrong): the
 * version is enum xlb_abi's XLB_ABI_VERSION_ in the object's BTF (bpf/xlb_shared.h).
 */
export function checkAbiVersion(obj: BpfObject): void {
  const version = obj.enumValues('xlb_abi')?.get('XLB_ABI_VERSION_');
  if (version === ABI_VERSION) return;
  throw new Error(
    `BPF object ${obj.path} ${version === undefined ? 'carries no ABI version (enum xlb_abi)' : `has ABI version ${version}`}, ` +
      `this xlb needs ${ABI_VERSION}: the object and the program are from different builds; rebuild both (npm run build) ` +
      'or reinstall xlb',
  );
}
