// The data plane as one object: the loaded BPF object, its maps, its attachments,
// and the reconciler that turns configs into map writes.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { BpfObject, type BpfProgram } from '../kernel/object.js';
import { attachXdp, type XdpAttachment, type XdpMode } from '../kernel/xdp.js';
import { attachTcx, type TcAttachment } from '../kernel/tc.js';
import { abiStructs } from '../model/abi.js';
import type { Config } from '../model/config.js';
import { plan } from '../model/plan.js';
import { MAP_NAMES, openMaps, type DataplaneMaps } from './maps.js';
import { Reconciler, type ApplyReport } from './reconcile.js';
import { readStats, type StatsSnapshot } from './stats.js';

/** dist/bpf/xlb.bpf.o, next to the compiled TypeScript. */
export const defaultObjectPath = (): string =>
  process.env.XLB_BPF_OBJECT ?? fileURLToPath(new URL('../../bpf/xlb.bpf.o', import.meta.url));

export interface DataplaneOptions {
  objectPath?: string;
  /** Entries of the reply-translation table. */
  flowTableSize?: number;
}

export interface AttachOptions {
  mode: XdpMode;
  force?: boolean;
}

export class Dataplane {
  readonly maps: DataplaneMaps;
  readonly reconciler: Reconciler;
  readonly xdp: XdpAttachment[] = [];
  readonly tc: TcAttachment[] = [];
  private closed = false;

  private constructor(readonly object: BpfObject) {
    this.maps = openMaps((name) => object.map(name));
    this.reconciler = new Reconciler(this.maps);
  }

  /** Opens, sizes, loads and checks the BPF object. Nothing is attached yet. */
  static load(opts: DataplaneOptions = {}): Dataplane {
    const obj = BpfObject.open(opts.objectPath ?? defaultObjectPath());
    try {
      if (opts.flowTableSize !== undefined) {
        obj.setMaxEntries('rev_nat', opts.flowTableSize);
        obj.setMaxEntries('fwd_flows', opts.flowTableSize);
      }
      obj.checkCodecs(abiStructs);
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
   * lo, replies pass the XDP hook themselves). All or nothing.
   */
  attach(interfaces: string[], opts: AttachOptions): void {
    try {
      for (const ifname of interfaces) {
        const a = attachXdp(this.xdpProgram.fd, ifname, opts);
        this.xdp.push(a);
        this.maps.txPorts.set(a.ifindex, a.ifindex);
        if (ifname === 'lo') continue;
        this.tc.push(attachTcx(this.tcIngressProgram.fd, ifname, 'ingress'));
        this.tc.push(attachTcx(this.egressProgram.fd, ifname, 'egress'));
      }
    } catch (e) {
      this.detach();
      throw e;
    }
  }

  detach(): void {
    for (const a of this.xdp) this.maps.txPorts.delete(a.ifindex);
    for (const a of [...this.xdp.splice(0), ...this.tc.splice(0)]) a.link.close();
  }

  /** Compiles and applies a (validated) config. */
  apply(config: Config): ApplyReport {
    return this.reconciler.apply(plan(config, this.reconciler.applied));
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

  stats(): StatsSnapshot {
    return readStats(this.maps, this.reconciler.applied);
  }

  /** Pins every map under `dir` (for `xlb stats` and other readers). */
  pinMaps(dir: string): void {
    for (const name of MAP_NAMES) this.object.map(name).pin(join(dir, name));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.reconciler.close();
    this.object.close();
  }
}
