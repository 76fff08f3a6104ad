// The lab's measuring instruments (bpf/lab.bpf.c) from TypeScript: a packet
// generator that really sends frames out of a veth (BPF_PROG_TEST_RUN with live
// frames, from inside the sender's namespace), a sink that counts what arrives per
// destination address and port, and `limit`, the do-nothing forwarder that sets a
// topology's ceiling.
import { hostPort } from '../util/endpoint.js';
import { bpfObjectPath } from '../util/paths.js';
import type { BpfLink } from '../kernel/link.js';
import { BpfObject } from '../kernel/object.js';
import { KernelError } from '../kernel/errors.js';
import { inNetns } from '../kernel/netns.js';
import { nsSh } from './exec.js';
import { ifindexOf } from '../kernel/netif.js';
import { TEST_XDP_LIVE_FRAMES, testRun, xdpContext } from '../kernel/program.js';
import { TypedMap } from '../kernel/typed-map.js';
import { attachXdp } from '../kernel/xdp.js';
import { addrFrom16, parseMac } from '../model/addr.js';
import { struct, u32 } from '../abi/codec.js';

export const genConfig = struct('xlb_gen_cfg', {
  ifindex: 'u32',
  flows: 'u32',
  sport_base: 'u16',
  family: 'u8',
  vary_addr: 'u8',
  tmpl: { bytes: 64 },
});
export const sinkKey = struct('xlb_sink_key', { addr: { bytes: 16 }, port: 'be16', family: 'u8', pad: 'u8' });
export const limitConfig = struct('xlb_limit_cfg', {
  dmac: { bytes: 6 },
  smac: { bytes: 6 },
  ifindex: 'u32',
});
const u64 = struct('__u64', { v: 'u64' });

/** The frame headers the generator copies from its template on every run. */
export const GEN_HEADER_BYTES = 64;
/** Source ports vary over this many values before the address does. */
export const GEN_PORTS_PER_ADDRESS = 50000;

export const labObjectPath = (): string => bpfObjectPath('lab.bpf.o');

export interface GenerateOptions {
  /** Namespace and interface the frames leave from. */
  ns: string;
  ifname: string;
  /** The first frame: Ethernet + IPv4/IPv6 + UDP (IPv4 UDP checksum 0), at least 64 bytes. */
  template: Buffer;
  family: 4 | 6;
  count: number;
  /** Distinct flows (source port, then address, varies). */
  flows: number;
  /** Stop early after this long (the count is then what was sent). */
  maxSeconds?: number;
}

export interface GenerateResult {
  /** Frames the program sent with XDP_TX. */
  sent: number;
  seconds: number;
}

export class Instruments {
  private readonly links: { prog: string; link: BpfLink }[] = [];
  private readonly gen: TypedMap<number, ReturnType<typeof genConfig.decode>>;
  private readonly genCount: TypedMap<number, { v: bigint }>;
  private readonly sink: TypedMap<ReturnType<typeof sinkKey.decode>, { v: bigint }>;
  private readonly limit: TypedMap<number, ReturnType<typeof limitConfig.decode>>;

  private constructor(private readonly obj: BpfObject) {
    this.gen = new TypedMap(obj.map('gen_config'), u32, genConfig);
    this.genCount = new TypedMap(obj.map('gen_count'), u32, u64);
    this.sink = new TypedMap(obj.map('sink_counts'), sinkKey, u64);
    this.limit = new TypedMap(obj.map('limit_config'), u32, limitConfig);
  }

  static load(): Instruments {
    const obj = BpfObject.open(labObjectPath());
    try {
      obj.checkCodecs([genConfig, sinkKey, limitConfig]);
      obj.load();
      return new Instruments(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  private attach(ns: string, ifname: string, prog: string): void {
    const fd = this.obj.program(prog).fd;
    this.links.push({
      prog,
      link: inNetns(ns, () => attachXdp(fd, ifname, { mode: 'native', force: true }).link),
    });
  }

  /** Detaches every attachment of one instrument ('xlb_sink', 'xlb_limit'). */
  detach(prog: string): void {
    for (const l of this.links.filter((x) => x.prog === prog)) l.link.close();
    this.links.splice(0, this.links.length, ...this.links.filter((x) => x.prog !== prog));
  }

  /** Counts and drops UDP arriving on `ifname` (ARP/ND pass). */
  attachSink(ns: string, ifname: string): void {
    this.attach(ns, ifname, 'xlb_sink');
  }

  /** Sink counts per destination, `addr:port` (IPv6 in brackets). */
  sinkCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const key of this.sink.raw.keys()) {
      const k = sinkKey.decode(key);
      const n = (this.sink.getPerCpu(k) ?? []).reduce((a, v) => a + Number(v.v), 0);
      const addr = addrFrom16(k.addr, k.family === 6 ? 6 : 4);
      out.set(hostPort(addr, k.port, k.family === 6 ? 6 : 4), n);
    }
    return out;
  }

  sinkTotal(): number {
    return [...this.sinkCounts().values()].reduce((a, b) => a + b, 0);
  }

  resetSink(): void {
    for (const key of [...this.sink.raw.keys()]) this.sink.raw.delete(key);
  }

  /** The ceiling forwarder on `ifname`: set MACs, redirect to `egress` (same namespace). */
  attachLimit(ns: string, ifname: string, egress: string, dmac: string, smac: string): void {
    inNetns(ns, () => {
      const ifindex = ifindexOf(egress);
      this.limit.set(0, { dmac: parseMac(dmac), smac: parseMac(smac), ifindex });
      this.obj.map('limit_port').update(u32.encode(0), u32.encode(ifindex));
    });
    this.attach(ns, ifname, 'xlb_limit');
  }

  /**
   * Sends `count` frames out of `ifname` inside `ns` (bounded by maxSeconds). The
   * generator program is attached meanwhile to an idle veth pair of that namespace
   * (xlbgen0/xlbgen1, made on first use): a test run of a program that is not in the
   * kernel's XDP dispatcher waits for synchronize_rcu() twice, and attached to the
   * sending interface it would also bounce whatever that interface receives.
   */
  generate(o: GenerateOptions): GenerateResult {
    if (o.template.length < GEN_HEADER_BYTES)
      throw new Error(`generator template must be >= ${GEN_HEADER_BYTES} bytes`);
    const tmpl = Buffer.alloc(GEN_HEADER_BYTES);
    o.template.copy(tmpl, 0, 0, GEN_HEADER_BYTES);
    const sport = o.template.readUInt16BE(o.family === 4 ? 34 : 54);
    const ifindex = inNetns(o.ns, () => ifindexOf(o.ifname));
    this.gen.set(0, { ifindex, flows: o.flows, sport_base: sport, family: o.family, vary_addr: 1, tmpl });
    this.genCount.set(0, { v: 0n });
    const fd = this.obj.program('xlb_gen').fd;
    const deadline = Date.now() + (o.maxSeconds ?? 60) * 1000;
    if (!nsSh(o.ns, 'ip', ['link', 'show', 'xlbgen0'], { allowFail: true })) {
      nsSh(o.ns, 'ip', ['link', 'add', 'xlbgen0', 'up', 'type', 'veth', 'peer', 'name', 'xlbgen1']);
    }
    nsSh(o.ns, 'ip', ['link', 'set', 'xlbgen1', 'up']);
    return inNetns(o.ns, () => {
      const link = attachXdp(fd, 'xlbgen0', { mode: 'native', force: true }).link;
      try {
        const ctx = xdpContext(o.template.length, ifindex);
        const started = process.hrtime.bigint();
        const sentSoFar = () => (this.genCount.getPerCpu(0) ?? []).reduce((a, v) => a + Number(v.v), 0);
        // What was sent is what the program counted: a run that a signal cut short (EINTR: the
        // kernel stops a test run when the thread has a signal pending, e.g. SIGCHLD of a
        // child that exited) sent part of its frames, and the next run sends the rest.
        let remaining = o.count;
        while (remaining > 0 && Date.now() < deadline) {
          const repeat = Math.min(remaining, 100_000);
          try {
            testRun(fd, { data: o.template, ctx, repeat, flags: TEST_XDP_LIVE_FRAMES, batchSize: 64 });
            remaining -= repeat;
          } catch (e) {
            if (!(e instanceof KernelError && e.code === 'EINTR')) throw e;
            remaining = Math.min(remaining - 1, o.count - sentSoFar());
          }
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        return { sent: sentSoFar(), seconds };
      } finally {
        link.close();
      }
    });
  }

  /** The generator program (for test runs of its own logic). */
  get generatorFd(): number {
    return this.obj.program('xlb_gen').fd;
  }

  close(): void {
    for (const l of this.links.splice(0)) l.link.close();
    this.obj.close();
  }
}
