// A validated Config back to the shape the operator writes (snake_case YAML): what
// `xlb config dump` prints and what API changes are validated as. Pure.
import { stringify } from 'yaml';
import type { Config, ServiceConfig } from './config.js';
import type { HealthConfig } from './config-health.js';
import { budgetInput } from './config-memory.js';

/** Seconds as the config writes them: whole seconds as a number, else milliseconds ('500ms'). */
const durationInput = (s: number): number | string => (Number.isInteger(s) ? s : `${Math.round(s * 1000)}ms`);

function healthInput(h: HealthConfig): Record<string, unknown> {
  return { ...h, interval: durationInput(h.interval), timeout: durationInput(h.timeout) };
}

/** A service in the form the operator writes it (what `validateService` takes). */
export function serviceToInput(s: ServiceConfig): Record<string, unknown> {
  return {
    name: s.name,
    vip: s.vip,
    port: s.port,
    protocol: s.protocol,
    mode: s.mode,
    scheduler: s.scheduler,
    ...(s.scheduler === 'maglev' ? { hash_key: s.hashKey, table_size: s.tableSize } : {}),
    ...(s.mode === 'fullnat' ? {} : { flow_affinity: s.flowAffinity }),
    ...(s.snat ? { snat: { address: s.snat.address, ports: `${s.snat.portMin}-${s.snat.portMax}` } } : {}),
    flow_timeouts: { unreplied: s.flowTimeouts.unreplied, assured: s.flowTimeouts.assured },
    ...(s.health ? { health: healthInput(s.health) } : {}),
    ...(s.allDown ? { all_down: s.allDown } : {}),
    backends: s.backends.map((b) => ({ address: b.address, port: b.port, weight: b.weight })),
  };
}

export function configToInput(c: Config): Record<string, unknown> {
  return {
    interfaces: [...c.interfaces],
    xdp_mode: c.xdpMode,
    flow_table_size: c.flowTableSize,
    hash_seed: c.hashSeed,
    memory_limit: budgetInput(c.memoryLimit),
    services: c.services.map(serviceToInput),
  };
}

export function configToYaml(c: Config, header?: string): string {
  const body = stringify(configToInput(c), { lineWidth: 0 });
  return header ? `${header.replace(/^/gm, '# ')}\n${body}` : body;
}
