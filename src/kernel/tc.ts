// Attaching TC programs through tcx links (Linux >= 6.6): several programs can share
// a hook, and the attachment lives as long as the link.
import { kernelError } from './errors.js';
import { libbpf } from './libbpf.js';
import { BpfLink } from './link.js';
import { ifindexOf } from './netif.js';

const BPF_TCX_INGRESS = 46; // enum bpf_attach_type
const BPF_TCX_EGRESS = 47;

export interface TcAttachment {
  ifname: string;
  ifindex: number;
  direction: 'ingress' | 'egress';
  link: BpfLink;
}

export function attachTcx(progFd: number, ifname: string, direction: 'ingress' | 'egress'): TcAttachment {
  const ifindex = ifindexOf(ifname);
  const type = direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
  const fd = libbpf().bpf_link_create(progFd, ifindex, type, null);
  if (fd < 0) throw kernelError(`attach TC ${direction} program to ${ifname} (tcx)`, fd);
  return { ifname, ifindex, direction, link: new BpfLink(fd, `TC ${direction} link on ${ifname}`) };
}
