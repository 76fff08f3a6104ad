// How a daemon gets its data plane: it adopts the pins an earlier daemon left (same ABI: the
// maps stay, with their flows and counters, and each link's program is swapped in place), or
// it starts fresh (load, fill the maps from the config, pin, attach). Either way the
// config's interfaces end up attached and nothing is attached twice.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ABI_VERSION, type XdpMode } from '../abi/abi.js';
import { Dataplane } from '../control/dataplane.js';
import { claimInstance, type DaemonState, type InstanceState } from '../control/instance.js';
import { MAP_NAMES, type MapName } from '../control/maps.js';
import { forwardingWarnings } from '../control/preflight.js';
import { BpfMap } from '../kernel/map.js';
import { validateConfig, type Config } from '../model/config.js';
import { MEMORY, SCHED_RESERVE, schedEntriesFor } from '../model/config-memory.js';
import { plan, planIdsFrom } from '../model/plan.js';
import { detachPinned } from './down.js';

export interface StartOptions {
  instance: string;
  pinDir: string;
  /** Overrides the config's xdp_mode. */
  mode?: XdpMode;
  force?: boolean;
  objectPath?: string;
}

export interface Started {
  dataplane: Dataplane;
  /** The earlier daemon's state, when its pins were adopted; `applied` is what the maps hold. */
  adopted?: { state: DaemonState; applied: Config };
  /** Things about the host that will keep traffic from flowing (fresh starts only). */
  warnings: string[];
  /** Map writes of the first apply (fresh starts only). */
  writes: number;
}

/** Whether the pins and the state of an earlier daemon can be adopted by this build. */
export function canAdopt(
  prev: InstanceState | undefined,
  pinDir: string,
): prev is InstanceState & { daemon: DaemonState } {
  return (
    prev?.daemon !== undefined &&
    prev.abi === ABI_VERSION &&
    MAP_NAMES.every((m) => existsSync(join(pinDir, m)))
  );
}

export function openDataplane(
  config: Config,
  prev: InstanceState | undefined,
  opts: StartOptions,
  log: Logger,
): Started {
  return canAdopt(prev, opts.pinDir) ? adopt(config, prev, opts, log) : fresh(config, opts);
}

function adopt(
  config: Config,
  prev: InstanceState & { daemon: DaemonState },
  opts: StartOptions,
  log: Logger,
): Started {
  const reuse = new Map<MapName, BpfMap>(MAP_NAMES.map((m) => [m, BpfMap.fromPin(join(opts.pinDir, m))]));
  let dp: Dataplane;
  try {
    dp = Dataplane.load({ objectPath: opts.objectPath, reuse });
  } finally {
    for (const m of reuse.values()) m.close();
  }
  dp.keepAttached = true;
  const flowEntries = dp.maps.revNat.raw.info.maxEntries;
  if (flowEntries !== config.flowTableSize) {
    log.warn(
      { event: 'warning', flowTableSize: flowEntries },
      `flow_table_size ${config.flowTableSize} not applied: the adopted flow tables keep ` +
        `${flowEntries} entries (and their flows); xlb down and start again to resize them`,
    );
  }
  const tableEntries = dp.maps.schedFlat.info.maxEntries;
  const wanted = schedEntriesFor(config.services);
  if (tableEntries < wanted - SCHED_RESERVE) {
    log.warn(
      { event: 'warning', schedEntries: tableEntries },
      `the adopted scheduling tables keep ${tableEntries} entries, fewer than this configuration's ` +
        `${wanted - SCHED_RESERVE}: changes that do not fit are refused; xlb down and start again to resize them`,
    );
  }
  // What the maps hold is not measured against a budget (a state saved before memory_limit
  // existed has none): the configuration applied next is, and that is what matters.
  const applied = validateConfig({ ...prev.daemon.applied, memory_limit: MEMORY.maxLimit }, 'saved state');
  dp.reconciler.restore(plan(applied, planIdsFrom(prev.daemon.ids)), prev.daemon.slots);
  const mode = opts.mode ?? config.xdpMode;
  for (const ifname of config.interfaces) {
    const before = prev.interfaces.find((i) => i.name === ifname);
    const m = before?.mode === 'generic' ? 'generic' : 'native';
    const adopted = dp.adoptLinks(ifname, opts.pinDir, m, before);
    if (adopted !== 'adopted') {
      if (adopted === 'stale') {
        log.warn(
          { event: 'warning', interface: ifname },
          `${ifname}: the links an earlier daemon pinned belong to an interface that is gone ` +
            '(deleted, or re-created under the same name): attached anew',
        );
      }
      // An interface that is gone took its classic TC filters and qdisc with it: nothing to inherit.
      const inherit = adopted === 'absent' && before ? [before] : [];
      dp.attach([ifname], { mode, force: opts.force, pinDir: opts.pinDir, prev: inherit });
    } else if (mode !== 'auto' && mode !== m) {
      log.warn(
        { event: 'warning', interface: ifname },
        `${ifname} stays in ${m} mode (asked: ${mode}): a running attachment keeps its mode; ` +
          'xlb down and start again to change it',
      );
    }
  }
  for (const old of prev.interfaces) {
    if (config.interfaces.includes(old.name)) continue;
    detachPinned(opts.pinDir, old, dp);
    log.info({ event: 'detached', interface: old.name }, `${old.name} left the config: detached`);
  }
  log.info(
    { event: 'adopted', generation: prev.daemon.generation, pinDir: opts.pinDir },
    'adopted the pinned data plane',
  );
  return { dataplane: dp, adopted: { state: prev.daemon, applied }, warnings: [], writes: 0 };
}

function fresh(config: Config, opts: StartOptions): Started {
  // Loaded before the instance is claimed: a refused load (a capability missing) leaves nothing.
  const dp = Dataplane.load({
    objectPath: opts.objectPath,
    flowTableSize: config.flowTableSize,
    schedEntries: schedEntriesFor(config.services),
  });
  dp.keepAttached = true;
  let writes: number;
  try {
    claimInstance(opts.instance);
    writes = dp.apply(config).writes; // the maps are filled before the first packet can arrive
    dp.pinMaps(opts.pinDir);
    dp.attach(config.interfaces, {
      mode: opts.mode ?? config.xdpMode,
      force: opts.force,
      pinDir: opts.pinDir,
    });
  } catch (e) {
    dp.keepAttached = false;
    dp.close();
    throw e;
  }
  return { dataplane: dp, warnings: forwardingWarnings(config, config.interfaces), writes };
}
