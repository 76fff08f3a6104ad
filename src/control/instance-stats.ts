// The counters of a running xlb instance, read by another process (`xlb stats`, the lab
// tests) from the maps the instance pinned and the plan in its state file.
import { join } from 'node:path';
import { BpfMap } from '../kernel/map.js';
import { instancePaths } from '../util/host.js';
import { ownedByOther, readState, stateToPlan } from './instance.js';
import { openMaps, type MapName } from './maps.js';
import { readStats, type StatsSnapshot } from './stats.js';

export interface InstanceStats {
  /** A snapshot of every counter. */
  read(): StatsSnapshot;
  /** Whether the instance's owner still runs. */
  running(): boolean;
  close(): void;
}

/** Opens the pinned maps of instance `name`; throws when no live process owns it. */
export function openInstanceStats(name: string): InstanceStats {
  const state = readState(name);
  if (!state || !ownedByOther(state)) {
    throw new Error(
      `no running xlb instance '${name}': start one with \`xlb run\` (or pass --instance NAME)`,
    );
  }
  const { pinDir } = instancePaths(name);
  const opened: BpfMap[] = [];
  const close = () => opened.forEach((m) => m.close());
  try {
    const maps = openMaps((m: MapName) => {
      const map = BpfMap.fromPin(join(pinDir, m));
      opened.push(map);
      return map;
    });
    const plan = stateToPlan(state.services);
    return { read: () => readStats(maps, plan), running: () => ownedByOther(state), close };
  } catch (e) {
    close();
    throw e;
  }
}
