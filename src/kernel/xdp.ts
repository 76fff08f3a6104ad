// Attaching XDP programs through bpf_link, in native (driver) or generic (skb) mode,
// or auto: native, then generic where the driver has no XDP (lo, some virtual
// devices). An interface that already carries a program is refused with its name,
// unless `force` asks to replace it.
import type { XdpMode } from '../abi/abi.js';
import { constants } from 'node:os';
import { KernelError, XdpBusyError, kernelError } from './errors.js';
import { libbpf } from './libbpf.js';
import { BpfLink, LinkType, findLinks } from './link.js';
import { ifindexOf } from './netif.js';
import { progInfoById } from './program.js';

export type XdpAttachedMode = 'native' | 'generic' | 'offload' | 'multi';

const BPF_XDP = 37; // enum bpf_attach_type
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;
const XDP_FLAGS_HW_MODE = 1 << 3;
const ATTACHED_MODES: Record<number, XdpAttachedMode> = {
  1: 'native',
  2: 'generic',
  3: 'offload',
  4: 'multi',
};
const MODE_FLAGS: Record<XdpAttachedMode, number> = {
  native: XDP_FLAGS_DRV_MODE,
  generic: XDP_FLAGS_SKB_MODE,
  offload: XDP_FLAGS_HW_MODE,
  multi: 0,
};

export interface XdpProgramOnInterface {
  progId: number;
  name: string;
  mode: XdpAttachedMode;
}

/** The XDP program an interface carries, if any. */
export function xdpQuery(ifindex: number): XdpProgramOnInterface | undefined {
  const opts = { sz: 32, prog_id: 0, drv_prog_id: 0, hw_prog_id: 0, skb_prog_id: 0, attach_mode: 0 };
  const rc = libbpf().bpf_xdp_query(ifindex, 0, opts);
  if (rc < 0) throw kernelError(`query XDP program of ifindex ${ifindex}`, rc);
  const progId = opts.prog_id || opts.drv_prog_id || opts.skb_prog_id || opts.hw_prog_id;
  if (!progId) return undefined;
  return {
    progId,
    name: progInfoById(progId)?.name ?? '?',
    mode: ATTACHED_MODES[opts.attach_mode] ?? 'multi',
  };
}

/** Removes whatever XDP program an interface carries (link-owned or netlink-attached). */
export function xdpDetachAny(ifindex: number): void {
  const current = xdpQuery(ifindex);
  if (!current) return;
  let links: BpfLink[] = [];
  let byId: KernelError | undefined;
  try {
    links = findLinks((l) => l.type === LinkType.XDP && l.ifindex === ifindex && l.progId === current.progId);
  } catch (e) {
    // Without CAP_SYS_ADMIN links cannot be looked up by id: a program attached through netlink
    // (ip link set … xdp) can still be removed, one held by another tool's bpf_link cannot.
    if (!(e instanceof KernelError) || e.code !== 'EPERM') throw e;
    byId = e;
  }
  if (links.length) {
    for (const l of links) {
      try {
        l.detach();
      } finally {
        l.close();
      }
    }
    return;
  }
  const rc = libbpf().bpf_xdp_detach(ifindex, MODE_FLAGS[current.mode], null);
  if (rc === -constants.errno.EBUSY && byId) throw byId;
  if (rc < 0) throw kernelError(`detach XDP program '${current.name}' from ifindex ${ifindex}`, rc);
}

export interface XdpAttachOptions {
  mode: XdpMode;
  /** Replace a program that is already there. */
  force?: boolean;
}

export interface XdpAttachment {
  ifname: string;
  ifindex: number;
  mode: 'native' | 'generic';
  link: BpfLink;
}

function linkCreate(progFd: number, ifindex: number, flags: number): number {
  const opts = { sz: 64, flags };
  return libbpf().bpf_link_create(progFd, ifindex, BPF_XDP, opts);
}

export function attachXdp(progFd: number, ifname: string, opts: XdpAttachOptions): XdpAttachment {
  const ifindex = ifindexOf(ifname);
  const existing = xdpQuery(ifindex);
  if (existing) {
    if (!opts.force) throw new XdpBusyError(ifname, existing.progId, existing.name, existing.mode);
    xdpDetachAny(ifindex);
  }
  const tries: ('native' | 'generic')[] = opts.mode === 'auto' ? ['native', 'generic'] : [opts.mode];
  let lastRc = 0;
  for (const mode of tries) {
    const fd = linkCreate(progFd, ifindex, MODE_FLAGS[mode]);
    if (fd >= 0) return { ifname, ifindex, mode, link: new BpfLink(fd, `XDP link on ${ifname}`) };
    lastRc = fd;
    const fallback = fd === -constants.errno.EOPNOTSUPP || fd === -constants.errno.EINVAL;
    if (!fallback) break;
  }
  throw kernelError(`attach XDP (${opts.mode} mode) to ${ifname}`, lastRc);
}
