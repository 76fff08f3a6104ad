// TC programs on an interface's ingress or egress hook, attached one of two ways:
//
// - tcx (Linux >= 6.6): a bpf_link. Several programs share the hook, the attachment lives
//   as long as the link (or its pin), and bpf_link_update swaps the program atomically.
// - classic: a clsact qdisc holding a direct-action cls_bpf filter at a fixed handle and
//   priority (the caller's "slot"). The filter holds the program: it stays attached after
//   the process exits, until someone deletes it. Replacing the filter at its handle and
//   priority (BPF_TC_F_REPLACE) swaps the program atomically too: cls_bpf exchanges it
//   under RCU, so no packet finds the hook empty.
//
// Both give the same TcAttachment: replace in place, detach, close.
import { constants } from 'node:os';
import { kernelError } from './errors.js';
import { lastErrno, libbpf, type TcHookValue, type TcOptsValue } from './libbpf.js';
import { BpfLink } from './link.js';
import { ifindexOf } from './netif.js';

export type TcDirection = 'ingress' | 'egress';
export type TcMethod = 'tcx' | 'classic';

const E = constants.errno;
const BPF_TCX_INGRESS = 46; // enum bpf_attach_type
const BPF_TCX_EGRESS = 47;

export interface TcAttachment {
  readonly ifname: string;
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly method: TcMethod;
  /** Swaps the program in place, atomically: every packet runs the old or the new one. */
  replace(progFd: number): void;
  /** Takes the program off the hook now. */
  detach(): void;
  /** Lets go of this process's reference: a pinned tcx link and a classic filter stay attached. */
  close(): void;
}

// ---- tcx -----------------------------------------------------------------------------------------

export class TcxAttachment implements TcAttachment {
  readonly method = 'tcx';
  constructor(
    readonly ifname: string,
    readonly ifindex: number,
    readonly direction: TcDirection,
    readonly link: BpfLink,
  ) {}

  replace(progFd: number): void {
    this.link.update(progFd);
  }

  detach(): void {
    this.link.detach();
  }

  close(): void {
    this.link.close();
  }
}

export function attachTcx(progFd: number, ifname: string, direction: TcDirection): TcxAttachment {
  const ifindex = ifindexOf(ifname);
  const type = direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
  const fd = libbpf().bpf_link_create(progFd, ifindex, type, null);
  if (fd < 0) throw kernelError(`attach TC ${direction} program to ${ifname} (tcx)`, fd);
  return new TcxAttachment(ifname, ifindex, direction, new BpfLink(fd, `TC ${direction} link on ${ifname}`));
}

/** The ids of the programs attached through tcx to an interface's hook, in the order they run. */
export function tcxPrograms(ifindex: number, direction: TcDirection): number[] {
  const ids = new Uint32Array(64);
  const count = [ids.length];
  const type = direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
  const rc = libbpf().bpf_prog_query(ifindex, type, 0, null, ids, count);
  if (rc === -E.EINVAL) return []; // no tcx on this kernel
  if (rc < 0) throw kernelError(`query tcx ${direction} programs of ifindex ${ifindex}`, rc);
  return [...ids.subarray(0, count[0] ?? 0)];
}

// ---- classic TC: clsact + cls_bpf ----------------------------------------------------------------

/** Where a classic filter sits on its hook: filters run by ascending priority; the handle names it. */
export interface TcSlot {
  handle: number;
  priority: number;
}

const BPF_TC_INGRESS = 1 << 0; // enum bpf_tc_attach_point
const BPF_TC_EGRESS = 1 << 1;
const BPF_TC_F_REPLACE = 1 << 0;
/** ETH_P_ALL: libbpf attaches its filters for every protocol. */
const ETH_P_ALL = 0x0003;

const hookOf = (ifindex: number, points: number): TcHookValue => ({
  sz: libbpf().tcHookSize,
  ifindex,
  attach_point: points,
  parent: 0,
});
const pointOf = (direction: TcDirection) => (direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS);
const optsOf = (slot: TcSlot, progFd = 0, flags = 0): TcOptsValue => ({
  sz: libbpf().tcOptsSize,
  prog_fd: progFd,
  flags,
  prog_id: 0,
  handle: slot.handle,
  priority: slot.priority,
});

export const slotText = (slot: TcSlot) => `handle 0x${slot.handle.toString(16)} priority ${slot.priority}`;

/** A filter on a clsact hook, as rtnetlink lists it. */
export interface TcFilter {
  priority: number;
  /** Ethernet protocol (ETH_P_ALL = 3 for libbpf's filters). */
  protocol: number;
  /** 0 for the entry that stands for a priority's classifier as a whole. */
  handle: number;
  kind: string;
  /** A bpf filter's program, as the filter itself reports it (no lookup by id, which needs CAP_SYS_ADMIN). */
  prog?: TcFilterProgram;
}

export interface TcFilterProgram {
  id: number;
  /** The program's name (libbpf names a filter 'NAME:[ID]'; tc(8) 'FILE:[SECTION]'). */
  name: string;
  /** The program's tag (hex), which tells builds of a program apart. */
  tag: string;
}

// rtnetlink, just enough to list the filters of a hook (libbpf has no dump).
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWTFILTER = 44;
const RTM_GETTFILTER = 46;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_NAME = 7; // inside TCA_OPTIONS of a bpf filter
const TCA_BPF_TAG = 10;
const TCA_BPF_ID = 11;
/** TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS). */
const CLSACT_PARENT: Record<TcDirection, number> = { ingress: 0xfffffff2, egress: 0xfffffff3 };

/**
 * The filters on an interface's clsact ingress or egress hook (none when it has no clsact
 * qdisc), listed through an rtnetlink dump in this thread's network namespace.
 */
export function tcFilters(ifindex: number, direction: TcDirection): TcFilter[] {
  const b = libbpf();
  const op = `list the TC ${direction} filters of ifindex ${ifindex} (rtnetlink)`;
  const fd = b.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw kernelError(op, -lastErrno());
  try {
    const req = Buffer.alloc(36);
    req.writeUInt32LE(36, 0); // nlmsg_len
    req.writeUInt16LE(RTM_GETTFILTER, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(1, 8); // seq
    req.writeInt32LE(ifindex, 20); // struct tcmsg at 16: family, pads, ifindex, handle, parent, info
    req.writeUInt32LE(CLSACT_PARENT[direction], 28);
    if (b.send(fd, req, req.length, 0) !== req.length) throw kernelError(op, -lastErrno());
    const out: TcFilter[] = [];
    const buf = Buffer.alloc(64 * 1024);
    // The kernel queues the dump's first part while handling send() and makes each next part
    // while we read: the socket is never waited on (it is non-blocking, EAGAIN is an error).
    for (;;) {
      const n = b.recv(fd, buf, buf.length, 0);
      if (n < 0) throw kernelError(op, -lastErrno());
      for (let off = 0; off + 16 <= n;) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        if (len < 16) throw new Error(`${op}: malformed answer (message of ${len} bytes)`);
        if (type === NLMSG_DONE) return out;
        if (type === NLMSG_ERROR) {
          const err = buf.readInt32LE(off + 16);
          if (err !== 0) throw kernelError(op, err);
        } else if (type === RTM_NEWTFILTER && len >= 36) {
          const info = buf.readUInt32LE(off + 32);
          const protoBe = info & 0xffff;
          const attrs = buf.subarray(off + 36, off + len);
          const kind = attrText(attr(attrs, TCA_KIND)) ?? '?';
          const options = kind === 'bpf' ? attr(attrs, TCA_OPTIONS) : undefined;
          const id = options && attr(options, TCA_BPF_ID);
          out.push({
            priority: info >>> 16,
            protocol: ((protoBe & 0xff) << 8) | (protoBe >>> 8),
            handle: buf.readUInt32LE(off + 24),
            kind,
            ...(options && id && id.length >= 4
              ? {
                  prog: {
                    id: id.readUInt32LE(0),
                    name: (attrText(attr(options, TCA_BPF_NAME)) ?? '?').replace(/:\[[^\]]*\]$/, ''),
                    tag: attr(options, TCA_BPF_TAG)?.toString('hex') ?? '',
                  },
                }
              : {}),
          });
        }
        off += (len + 3) & ~3;
      }
    }
  } finally {
    b.close(fd);
  }
}

/** The payload of attribute `type` among netlink attributes (a nested attribute's too). */
function attr(attrs: Buffer, type: number): Buffer | undefined {
  for (let off = 0; off + 4 <= attrs.length;) {
    const len = attrs.readUInt16LE(off);
    if (len < 4) return undefined;
    if ((attrs.readUInt16LE(off + 2) & 0x3fff) === type) return attrs.subarray(off + 4, off + len);
    off += (len + 3) & ~3;
  }
  return undefined;
}

const attrText = (b: Buffer | undefined): string | undefined => b?.toString('latin1').replace(/\0.*$/s, '');

/** The program of the classic filter at `slot`, if there is one (read from the filter dump). */
export function classicTcProgram(
  ifindex: number,
  direction: TcDirection,
  slot: TcSlot,
): TcFilterProgram | undefined {
  return tcFilters(ifindex, direction).find(
    (f) => f.priority === slot.priority && f.handle === slot.handle && f.prog !== undefined,
  )?.prog;
}

/** A hook's slot is taken by somebody else's filter: xlb does not touch it. */
export class TcSlotBusyError extends Error {
  override readonly name = 'TcSlotBusyError';
  constructor(
    readonly ifname: string,
    readonly direction: TcDirection,
    readonly slot: TcSlot,
    what: string,
  ) {
    super(
      `interface ${ifname}: the TC ${direction} hook already has ${what} at priority ${slot.priority}, ` +
        `where xlb attaches its filter (${slotText(slot)}): remove it ` +
        `(tc filter del dev ${ifname} ${direction} priority ${slot.priority}) or move it to another priority`,
    );
  }
}

export interface ClassicAttachOptions {
  slot: TcSlot;
  /** Whether a program found at the slot may be replaced (one of the caller's own, left behind). */
  mayReplace: (progName: string) => boolean;
  /** The caller created the clsact qdisc earlier (an attachment it adopts): the result says so. */
  qdiscCreated?: boolean;
}

export class ClassicTcAttachment implements TcAttachment {
  readonly method = 'classic';
  constructor(
    readonly ifname: string,
    readonly ifindex: number,
    readonly direction: TcDirection,
    readonly slot: TcSlot,
    /** This attachment (or an earlier one of the caller's) created the interface's clsact qdisc. */
    readonly qdiscCreated: boolean,
  ) {}

  replace(progFd: number): void {
    const rc = libbpf().bpf_tc_attach(
      hookOf(this.ifindex, pointOf(this.direction)),
      optsOf(this.slot, progFd, BPF_TC_F_REPLACE),
    );
    if (rc < 0) throw kernelError(`replace TC ${this.direction} filter on ${this.ifname} (classic)`, rc);
  }

  detach(): void {
    detachClassicTc(this.ifindex, this.direction, this.slot);
  }

  close(): void {
    /* the filter holds the program: nothing of this process's to let go */
  }
}

/**
 * Attaches `progFd` as a direct-action filter at `opts.slot` of the interface's clsact hook,
 * creating the qdisc if the interface has none. Refuses (TcSlotBusyError) when anybody
 * else's filter uses the slot's priority; a program at the slot that `mayReplace` accepts
 * is replaced in place.
 */
export function attachClassicTc(
  progFd: number,
  ifname: string,
  direction: TcDirection,
  opts: ClassicAttachOptions,
): ClassicTcAttachment {
  const ifindex = ifindexOf(ifname);
  const b = libbpf();
  const created = b.bpf_tc_hook_create(hookOf(ifindex, pointOf(direction)));
  if (created < 0 && created !== -E.EEXIST) {
    throw kernelError(`create clsact qdisc on ${ifname}`, created);
  }
  try {
    const occupied = checkSlot(ifname, ifindex, direction, opts);
    const rc = b.bpf_tc_attach(
      hookOf(ifindex, pointOf(direction)),
      optsOf(opts.slot, progFd, occupied ? BPF_TC_F_REPLACE : 0),
    );
    if (rc < 0) throw kernelError(`attach TC ${direction} program to ${ifname} (classic TC)`, rc);
    return new ClassicTcAttachment(
      ifname,
      ifindex,
      direction,
      opts.slot,
      created === 0 || opts.qdiscCreated === true,
    );
  } catch (e) {
    if (created === 0) removeClsactIfEmpty(ifindex);
    throw e;
  }
}

/** Throws if the slot's priority holds anybody else's filter; true when the slot holds a program to replace. */
function checkSlot(
  ifname: string,
  ifindex: number,
  direction: TcDirection,
  opts: ClassicAttachOptions,
): boolean {
  const { slot } = opts;
  let current: TcFilterProgram | undefined;
  for (const f of tcFilters(ifindex, direction)) {
    if (f.priority !== slot.priority) continue;
    if (f.handle === slot.handle && f.prog) current = f.prog;
    const ours = f.kind === 'bpf' && f.protocol === ETH_P_ALL && (f.handle === 0 || f.handle === slot.handle);
    if (!ours) {
      const proto = f.protocol === ETH_P_ALL ? 'all' : `0x${f.protocol.toString(16).padStart(4, '0')}`;
      const handle = f.handle ? `, handle 0x${f.handle.toString(16)}` : '';
      throw new TcSlotBusyError(ifname, direction, slot, `a ${f.kind} filter (protocol ${proto}${handle})`);
    }
  }
  if (current === undefined) return false;
  if (!opts.mayReplace(current.name)) {
    throw new TcSlotBusyError(ifname, direction, slot, `BPF program '${current.name}' (id ${current.id})`);
  }
  return true;
}

/** Deletes the classic filter at `slot`; false when there was none. */
export function detachClassicTc(ifindex: number, direction: TcDirection, slot: TcSlot): boolean {
  const rc = libbpf().bpf_tc_detach(hookOf(ifindex, pointOf(direction)), optsOf(slot));
  if (rc === -E.ENOENT || rc === -E.EINVAL) return false; // gone already (EINVAL: no clsact qdisc)
  if (rc < 0)
    throw kernelError(`detach TC ${direction} filter of ifindex ${ifindex} (${slotText(slot)})`, rc);
  return true;
}

/**
 * Deletes the interface's clsact qdisc if neither of its hooks holds a filter (so that
 * nobody else's filter goes with it); true when it was deleted.
 */
export function removeClsactIfEmpty(ifindex: number): boolean {
  if (tcFilters(ifindex, 'ingress').length > 0 || tcFilters(ifindex, 'egress').length > 0) return false;
  const rc = libbpf().bpf_tc_hook_destroy(hookOf(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (rc === -E.ENOENT || rc === -E.EINVAL) return false;
  if (rc < 0) throw kernelError(`delete clsact qdisc of ifindex ${ifindex}`, rc);
  return true;
}
