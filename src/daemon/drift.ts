// Drift: how the running configuration (the file plus the API's changes) differs from the
// file, in lines an operator reads.
import type { Config } from '../model/config.js';
import { hostPort } from '../util/endpoint.js';

/** Human lines of what differs between the file's config and the running one. */
export function driftLines(file: Config, running: Config): string[] {
  const out: string[] = [];
  const byName = (c: Config) => new Map(c.services.map((s) => [s.name, s]));
  const f = byName(file);
  const r = byName(running);
  for (const [name, s] of r) {
    const fs = f.get(name);
    if (!fs) {
      out.push(`+ service ${name} (${hostPort(s.vip, s.port, s.family)})`);
      continue;
    }
    const fb = new Map(fs.backends.map((b) => [hostPort(b.address, b.port), b]));
    const rb = new Map(s.backends.map((b) => [hostPort(b.address, b.port), b]));
    for (const [id, b] of rb) {
      const was = fb.get(id);
      if (!was) out.push(`+ backend ${id} of ${name}`);
      else if (was.weight !== b.weight)
        out.push(`~ weight of ${id} in ${name}: ${was.weight} -> ${b.weight}`);
    }
    for (const id of fb.keys()) if (!rb.has(id)) out.push(`- backend ${id} of ${name}`);
    const { backends: _a, ...restR } = s;
    const { backends: _b, ...restF } = fs;
    if (JSON.stringify(restR) !== JSON.stringify(restF)) out.push(`~ settings of service ${name}`);
  }
  for (const name of f.keys()) if (!r.has(name)) out.push(`- service ${name}`);
  return out;
}
