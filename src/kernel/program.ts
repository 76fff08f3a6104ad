// BPF programs by file descriptor: info, test runs (BPF_PROG_TEST_RUN), and a
// minimal program loaded from raw instructions (the XDP_PASS baseline of benchmarks).
import { check, kernelError } from './errors.js';
import { libbpf } from './libbpf.js';

export const ProgType = { SCHED_CLS: 3, XDP: 6 } as const;

export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export const TcAction = { OK: 0, SHOT: 2, REDIRECT: 7 } as const;

/** BPF_F_TEST_XDP_LIVE_FRAMES: frames really leave through the interface (XDP_TX/REDIRECT). */
export const TEST_XDP_LIVE_FRAMES = 1 << 1;

export interface ProgInfo {
  type: number;
  id: number;
  tag: string;
  name: string;
  /** Bytes of the program as the kernel rewrote it (8 per instruction), and as JIT-compiled (0 without JIT). */
  xlatedBytes: number;
  jitedBytes: number;
  /** Instructions the verifier processed ("processed N insns"; 0 before Linux 5.16). */
  verifiedInsns: number;
}

export function progInfoByFd(fd: number): ProgInfo {
  const buf = Buffer.alloc(256);
  check('bpf_obj_get_info_by_fd(prog)', libbpf().bpf_obj_get_info_by_fd(fd, buf, [buf.length]));
  const nameEnd = buf.indexOf(0, 64);
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    tag: buf.subarray(8, 16).toString('hex'),
    name: buf.toString('latin1', 64, nameEnd < 0 || nameEnd > 80 ? 80 : nameEnd),
    jitedBytes: buf.readUInt32LE(16),
    xlatedBytes: buf.readUInt32LE(20),
    verifiedInsns: buf.readUInt32LE(216),
  };
}

/** Info about a loaded program by id (e.g. one found attached to an interface). */
export function progInfoById(id: number): ProgInfo | undefined {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return undefined;
  try {
    return progInfoByFd(fd);
  } finally {
    libbpf().close(fd);
  }
}

export interface TestRunInput {
  data: Uint8Array;
  /** Runs of the program; the kernel reports the mean duration. */
  repeat?: number;
  /** Context in (struct xdp_md / __sk_buff), e.g. to set the ingress interface. */
  ctx?: Uint8Array;
  flags?: number;
  batchSize?: number;
  /** Room for the output packet (default: input + 256 bytes). */
  dataOutSize?: number;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  /** Mean nanoseconds per run, as measured by the kernel. */
  durationNs: number;
}

export function testRun(progFd: number, input: TestRunInput): TestRunResult {
  const out = Buffer.alloc(input.dataOutSize ?? input.data.length + 256);
  const live = ((input.flags ?? 0) & TEST_XDP_LIVE_FRAMES) !== 0;
  const opts = {
    sz: 80,
    data_in: input.data,
    data_out: live ? null : out,
    data_size_in: input.data.length,
    data_size_out: live ? 0 : out.length,
    ctx_in: input.ctx ?? null,
    ctx_out: null,
    ctx_size_in: input.ctx?.length ?? 0,
    ctx_size_out: 0,
    retval: 0,
    repeat: input.repeat ?? 1,
    duration: 0,
    flags: input.flags ?? 0,
    cpu: 0,
    batch_size: input.batchSize ?? 0,
  };
  const rc = libbpf().bpf_prog_test_run_opts(progFd, opts);
  if (rc < 0) throw kernelError('bpf_prog_test_run', rc);
  return { retval: opts.retval, data: out.subarray(0, opts.data_size_out), durationNs: opts.duration };
}

/**
 * A struct xdp_md for a test run that arrives on an interface: data 0, data_end the
 * frame's length (the kernel insists), the ingress interface and queue.
 */
export function xdpContext(frameLength: number, ingressIfindex: number, rxQueue = 0): Buffer {
  const ctx = Buffer.alloc(24); // data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
  ctx.writeUInt32LE(frameLength, 4);
  ctx.writeUInt32LE(ingressIfindex, 12);
  ctx.writeUInt32LE(rxQueue, 16);
  return ctx;
}

/** An owned program fd. */
export class BpfProgramFd {
  private closed = false;
  constructor(
    readonly fd: number,
    readonly name: string,
  ) {}
  close(): void {
    if (!this.closed) libbpf().close(this.fd);
    this.closed = true;
  }
}

/** Loads `r0 = value; exit` as a program of `type` (enum bpf_prog_type). */
export function loadConstantProgram(type: number, value: number, name: string): BpfProgramFd {
  const insns = Buffer.from([0xb7, 0, 0, 0, value, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const fd = libbpf().bpf_prog_load(type, name, 'GPL', insns, 2, null);
  if (fd < 0) throw kernelError(`load program ${name} (type ${type})`, fd);
  return new BpfProgramFd(fd, name);
}

/**
 * Loads `r0 = action; exit` as an XDP program: the do-nothing baseline that
 * per-packet costs are compared with.
 */
export function loadConstantXdp(action: number, name = 'xlb_baseline'): BpfProgramFd {
  return loadConstantProgram(ProgType.XDP, action, name);
}
