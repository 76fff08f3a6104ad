// What a daemon saves next to its pins (/run/xlb/NAME.json, written atomically after every
// apply) so that the next daemon can adopt them: the configurations, ids, value slots and table regions
// behind what the maps hold, drains and unhealthy backends. The type is control's
// InstanceState, the one state file of an instance; this is the daemon's part of it.
import { ABI_VERSION } from '../abi/abi.js';
import type { Dataplane } from '../control/dataplane.js';
import { STATE_FORMAT, planToState, selfIdFields, type InstanceState } from '../control/instance.js';
import type { Config, ServiceConfig } from '../model/config.js';
import { configToInput, serviceToInput } from '../model/config-io.js';
import { planIds, type PlannedService } from '../model/plan.js';

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

// ---- the state file's text in O(what changed) ----------------------------------------------------
// A config of 1,000 services x 64 backends makes a state file of about 16 MB; serialising it whole
// after every API change cost more than the change itself. Services (config and planned) are
// frozen objects shared by the configs and plans that changes make, so the JSON of each is made
// once and kept; the text is the same JSON as JSON.stringify(instanceState(d)) gives (but for the
// order of ids.backends: by service here).

const serviceJson = new WeakMap<ServiceConfig, Buffer>();
const plannedJson = new WeakMap<PlannedService, { state: Buffer; ids: Buffer }>();
const comma = Buffer.from(',');

function jsonOfService(s: ServiceConfig): Buffer {
  let b = serviceJson.get(s);
  if (b === undefined) serviceJson.set(s, (b = Buffer.from(JSON.stringify(serviceToInput(s)))));
  return b;
}

function jsonOfPlanned(s: PlannedService): { state: Buffer; ids: Buffer } {
  let b = plannedJson.get(s);
  if (b === undefined) {
    const { table: _table, ...state } = s;
    const ids = JSON.stringify(s.backends.map((x) => [x.service, x.address, x.port, x.id]));
    b = { state: Buffer.from(JSON.stringify(state)), ids: Buffer.from(ids.slice(1, -1)) };
    plannedJson.set(s, b);
  }
  return b;
}

/** `parts` joined by commas (empty parts left out). */
function joined(parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const p of parts) {
    if (p.length === 0) continue;
    if (out.length > 0) out.push(comma);
    out.push(p);
  }
  return out;
}

/** JSON.stringify(value) with `marker` strings replaced by the buffers of `pieces`. */
function splice(value: unknown, pieces: Record<string, Buffer[]>): Buffer[] {
  const text = JSON.stringify(value);
  const out: Buffer[] = [];
  let at = 0;
  const re = /"\\u0000(\w+)\\u0000"/g; // a marker as JSON writes it
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(Buffer.from(text.slice(at, m.index)), ...(pieces[m[1] ?? ''] ?? []));
    at = m.index + m[0].length;
  }
  out.push(Buffer.from(text.slice(at)));
  return out;
}

const mark = (name: string): string => `\u0000${name}\u0000`;

function configJson(c: Config, name: string, pieces: Record<string, Buffer[]>): Record<string, unknown> {
  pieces[name] = [Buffer.from('['), ...joined(c.services.map(jsonOfService)), Buffer.from(']')];
  return { ...configToInput({ ...c, services: [] }), services: mark(name) };
}

/** The state file's text: JSON of instanceState(d), from the JSON of each service kept. */
export function instanceStateText(d: DaemonSnapshot): Buffer {
  const plan = d.dataplane.reconciler.applied;
  const pieces: Record<string, Buffer[]> = {};
  const planned = plan.services.map(jsonOfPlanned);
  pieces.services = [Buffer.from('['), ...joined(planned.map((p) => p.state)), Buffer.from(']')];
  pieces.backends = [Buffer.from('['), ...joined(planned.map((p) => p.ids)), Buffer.from(']')];
  const state: Omit<InstanceState, 'services' | 'daemon'> & Record<string, unknown> = {
    format: STATE_FORMAT,
    name: d.instance,
    ...selfIdFields(),
    startedAt: d.startedAt.toISOString(),
    abi: ABI_VERSION,
    interfaces: d.dataplane.interfaceStates(),
    services: mark('services'),
    daemon: {
      generation: d.generation,
      running: configJson(d.running, 'running', pieces),
      applied: configJson(d.applied, 'applied', pieces),
      ids: { services: plan.services.map((s) => [s.name, s.id]), backends: mark('backends') },
      slots: d.dataplane.reconciler.slots,
      drained: [...d.drained],
      unhealthy: d.unhealthy,
    },
  };
  return Buffer.concat([...splice(state, pieces), Buffer.from('\n')]);
}
