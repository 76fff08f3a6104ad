// Network namespaces owned by xlb's lab and tests. Every namespace name starts with a
// prefix and carries the creating process's pid, so that the leftovers of a crashed
// run are recognised and removed by the next one.
import { existsSync, readdirSync } from 'node:fs';
import { sh } from './exec.js';
import { pidAlive } from '../util/host.js';

export const NETNS_DIR = '/run/netns';

/** `${prefix}${pid}-${tag}`: the pid says whether the owner still lives. */
export function netnsName(prefix: string, tag: string, pid = process.pid): string {
  const name = `${prefix}${pid}-${tag}`;
  if (name.length > 48 || !/^[a-z0-9-]+$/.test(name)) throw new Error(`bad namespace name '${name}'`);
  return name;
}

export function listNetns(prefix: string): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
}

export function createNetns(name: string): void {
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export function deleteNetns(name: string): void {
  // Killing what still runs inside first: a namespace with live processes lingers.
  sh('ip', ['netns', 'pids', name], { allowFail: true })
    .split('\n')
    .filter(Boolean)
    .forEach((pid) => {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    });
  sh('ip', ['netns', 'del', name], { allowFail: true });
}

/** Deletes the namespaces with this prefix whose creating process is gone. */
export function removeStaleNetns(prefix: string): string[] {
  const stale = listNetns(prefix).filter((n) => {
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    return !Number.isInteger(pid) || pid <= 0 || !pidAlive(pid);
  });
  stale.forEach(deleteNetns);
  return stale;
}
