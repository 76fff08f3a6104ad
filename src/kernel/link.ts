// bpf_link: the attachment of a program to a hook, owned by a file descriptor (or a
// pin). Closing the last reference detaches the program.
import { constants } from 'node:os';
import { kernelError, pinError } from './errors.js';
import { libbpf } from './libbpf.js';

export const LinkType = { XDP: 6, TCX: 11 } as const;

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  /** XDP and TCX links: the interface. */
  ifindex: number;
}

export function linkInfoByFd(fd: number): LinkInfo {
  const buf = Buffer.alloc(128);
  const rc = libbpf().bpf_obj_get_info_by_fd(fd, buf, [buf.length]);
  if (rc < 0) throw kernelError('bpf_obj_get_info_by_fd(link)', rc);
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    progId: buf.readUInt32LE(8),
    ifindex: buf.readUInt32LE(16),
  };
}

export class BpfLink {
  private closed = false;
  constructor(
    readonly fd: number,
    readonly what: string,
  ) {}

  get info(): LinkInfo {
    return linkInfoByFd(this.fd);
  }

  /** Opens a link pinned in bpffs. */
  static fromPin(path: string): BpfLink {
    const fd = libbpf().bpf_obj_get(path);
    if (fd < 0) throw pinError(`open pinned link ${path} (bpf_obj_get)`, fd, path, 'open');
    return new BpfLink(fd, `link ${path}`);
  }

  /** Pins the link so that it outlives this process. */
  pin(path: string): void {
    const rc = libbpf().bpf_obj_pin(this.fd, path);
    if (rc < 0) throw pinError(`pin ${this.what} at ${path}`, rc, path, 'make');
  }

  /** Detaches the program now, even if the link is pinned elsewhere. */
  detach(): void {
    const rc = libbpf().bpf_link_detach(this.fd);
    if (rc < 0) throw kernelError(`detach ${this.what}`, rc);
  }

  /** Swaps the program behind the link atomically. */
  update(progFd: number): void {
    const rc = libbpf().bpf_link_update(this.fd, progFd, null);
    if (rc < 0) throw kernelError(`update ${this.what}`, rc);
  }

  close(): void {
    if (!this.closed) libbpf().close(this.fd);
    this.closed = true;
  }
}

/** Every link in the kernel that matches `pred`, opened (caller closes). */
export function findLinks(pred: (info: LinkInfo) => boolean): BpfLink[] {
  const b = libbpf();
  const found: BpfLink[] = [];
  let id = 0;
  for (;;) {
    const next = [0];
    const rc = b.bpf_link_get_next_id(id, next);
    if (rc === -constants.errno.ENOENT) break; // the last one
    if (rc < 0) throw kernelError('find bpf_links by id (bpf_link_get_next_id)', rc);
    id = next[0] ?? 0;
    const fd = b.bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;
    let keep = false;
    try {
      keep = pred(linkInfoByFd(fd));
    } finally {
      if (!keep) b.close(fd);
    }
    if (keep) found.push(new BpfLink(fd, `link ${id}`));
  }
  return found;
}
