// What a daemon saves next to its pins (/run/xlb/NAME.json, written atomically after every
// apply) so that the next daemon can adopt them: the configurations, ids, value slots and table regions
// behind what the maps hold, drains and unhealthy backends. The type is control's
// InstanceState, the one state file of an instance; this is the daemon's part of it.
import { ABI_VERSION } from '../abi/abi.js';
import type { Dataplane } from '../control/dataplane.js';
import { STATE_FORMAT, planToState, selfIdFields, type InstanceState } from '../control/instance.js';
import type { Config } from '../model/config.js';
import { configToInput } from '../model/config-io.js';
import { planIds } from '../model/plan.js';

export interface DaemonSnapshot {
  instance: string;
  startedAt: Date;
  dataplane: Dataplane;
  generation: number;
  running: Config;
  applied: Config;
  drained: ReadonlyMap<string, number>;
  /** 'service/addr:port' of the backends that are out for health. */
  unhealthy: string[];
}

export function instanceState(d: DaemonSnapshot): InstanceState {
  const plan = d.dataplane.reconciler.applied;
  return {
    format: STATE_FORMAT,
    name: d.instance,
    ...selfIdFields(),
    startedAt: d.startedAt.toISOString(),
    abi: ABI_VERSION,
    interfaces: d.dataplane.interfaceStates(),
    services: planToState(plan),
    daemon: {
      generation: d.generation,
      running: configToInput(d.running),
      applied: configToInput(d.applied),
      ids: planIds(plan),
      slots: d.dataplane.reconciler.slots,
      drained: [...d.drained],
      unhealthy: d.unhealthy,
    },
  };
}
