// How xlb's TC programs sit on an interface, and how an instance records it. On kernels
// with tcx they are tcx links (pinned by the daemon, like the XDP links); elsewhere they are
// classic TC filters in the interface's clsact qdisc, at xlb's fixed slot:
//
//   handle 0x786c62 ('xlb' in ASCII), priority 30828 (0x786c), direct-action, protocol all
//
// on both the ingress and the egress hook. xlb owns that priority: anybody else's filter
// there is a conflict it refuses to start over; a program of xlb's own found there (left by
// an instance that died) is replaced in place. A classic filter has no pin: it stays until
// deleted, so the instance's state file records which interfaces use classic TC and whether
// xlb created their clsact qdisc, which goes (when no filter of anybody else is left in
// it) with xlb's filters — never a qdisc xlb found there.
import { libbpf } from '../kernel/libbpf.js';
import {
  attachClassicTc,
  attachTcx,
  classicTcProgram,
  detachClassicTc,
  removeClsactIfEmpty,
  type TcAttachment,
  type TcDirection,
  type TcMethod,
  type TcSlot,
} from '../kernel/tc.js';

/** xlb's classic TC filter slot on the ingress and egress hooks (see above). */
export const XLB_TC_SLOT: TcSlot = { handle: 0x786c62, priority: 0x786c };

/** The names of xlb's TC programs (bpf/xlb.bpf.c), per hook. */
export const TC_PROGRAMS: Readonly<Record<TcDirection, string>> = {
  ingress: 'xlb_tc_ingress',
  egress: 'xlb_egress',
};

const isXlbTcProgram = (name: string): boolean => Object.values(TC_PROGRAMS).includes(name);

/** What an instance's state file records about one interface's attachments. */
export interface InterfaceState {
  name: string;
  /** The XDP mode: native or generic. */
  mode: string;
  /** How the TC programs are attached; absent on lo (none) and in states from before classic TC (tcx). */
  tc?: TcMethod;
  /** Classic TC: xlb created the interface's clsact qdisc (and removes it with its filters). */
  clsactCreated?: boolean;
}

/** Attaches one of xlb's TC programs to a hook by `method`. */
export function attachTcHook(
  progFd: number,
  ifname: string,
  direction: TcDirection,
  method: TcMethod,
  /** Classic TC: an earlier instance of this one created the clsact qdisc. */
  clsactCreated = false,
): TcAttachment {
  if (method === 'tcx') return attachTcx(progFd, ifname, direction);
  return attachClassicTc(progFd, ifname, direction, {
    slot: XLB_TC_SLOT,
    mayReplace: isXlbTcProgram,
    qdiscCreated: clsactCreated,
  });
}

/**
 * Removes the classic TC filters that xlb's programs hold on the recorded interfaces (only
 * xlb's: a filter somebody put at the slot since is left alone), and the clsact qdiscs xlb
 * created when nothing else is left in them. Interfaces that are gone are skipped (their
 * filters went with them). Returns the number of filters removed.
 */
export function removeClassicTc(interfaces: readonly InterfaceState[]): number {
  let removed = 0;
  for (const i of interfaces) {
    if (i.tc !== 'classic') continue;
    const ifindex = libbpf().if_nametoindex(i.name);
    if (ifindex === 0) continue;
    for (const direction of ['ingress', 'egress'] as const) {
      const prog = classicTcProgram(ifindex, direction, XLB_TC_SLOT);
      if (prog && isXlbTcProgram(prog.name) && detachClassicTc(ifindex, direction, XLB_TC_SLOT)) removed++;
    }
    if (i.clsactCreated) removeClsactIfEmpty(ifindex);
  }
  return removed;
}
