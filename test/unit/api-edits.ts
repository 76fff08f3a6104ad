// Random sequences of the API's one-service edits (src/daemon/mutations.ts), each also written as
// the whole configuration it asks for, so that tests can compare the incremental path (the edit:
// one service validated, checked against the others through the index) with a whole validation
// of the result, and the incremental plan with a plan from scratch. A case is a function of its
// seed. The pools are small on purpose: listeners collide, snat ranges catch listeners, backends
// repeat and large tables overrun memory_limit often enough to be refused every few edits.
import { ApiError } from '../../src/daemon/contract.js';
import * as edit from '../../src/daemon/mutations.js';
import { parseConfig, type Config, type ConfigProblem } from '../../src/model/config.js';
import { configToInput } from '../../src/model/config-io.js';

/** The suite's seeded PRNG (mulberry32), re-exported for the edit-sequence tests. */
export { rng } from '../helpers/random.js';

export const START = `
interfaces: [eth0]
flow_table_size: 1024
memory_limit: 4MiB # 2 MiB of it is sched_flat's reserve
hash_seed: 7
services:
  - name: s0
    vip: 192.0.2.1
    port: 53
    mode: nat
    table_size: 1021
    backends: [{ address: 198.51.100.1, port: 53 }, { address: 198.51.100.2, port: 53 }]
  - name: s1
    vip: 192.0.2.2
    port: 20005
    mode: fullnat
    scheduler: weighted-round-robin
    snat: { address: 192.0.2.3, ports: 30000-30100 }
    backends: [{ address: 198.51.100.3, port: 9000, weight: 2 }]
  - name: s2
    vip: '*'
    port: 54
    mode: dsr
    scheduler: round-robin
    backends: [{ address: 198.51.100.4 }]
`;

export interface Edit {
  what: string;
  /** The edit through the API's path: the next configuration, or ApiError. */
  apply(c: Config): Config;
  /** The whole configuration the edit asks for, in input form (undefined: the edit names nothing there). */
  whole(c: Config): Record<string, unknown> | undefined;
}

type Input = Record<string, unknown> & { services: (Record<string, unknown> & { backends: unknown[] })[] };
const inputOf = (c: Config): Input => structuredClone(configToInput(c)) as Input;

export function randomEdit(c: Config, r: () => number): Edit {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const names = c.services.map((s) => s.name);
  const service = names.length > 0 && r() < 0.9 ? pick(names) : `s${Math.floor(r() * 8)}`;
  const s = c.services.find((x) => x.name === service);
  const ids = s?.backends.map((b) => `${b.address}:${b.port}`) ?? [];
  const existing = ids.length > 0 && r() < 0.9 ? pick(ids) : `198.51.100.${1 + Math.floor(r() * 6)}:53`;
  const weight = pick([0, 1, 2, 3]);
  const at = (i: Input) => i.services.find((x) => x.name === service);
  switch (pick(['add-backend', 'add-backend', 'remove-backend', 'weight', 'add-service', 'remove-service'])) {
    case 'add-backend': {
      const backend = {
        address: `198.51.100.${1 + Math.floor(r() * 6)}`,
        port: pick([53, 54, 9000, 20005, 40000 + Math.floor(r() * 20)]),
        weight,
      };
      return {
        what: `add backend ${backend.address}:${backend.port}*${weight} to ${service}`,
        apply: (x) => edit.addBackend(x, service, backend, 'test'),
        whole: (x) => {
          const i = inputOf(x);
          const t = at(i);
          if (!t) return undefined;
          t.backends.push(backend);
          return i;
        },
      };
    }
    case 'remove-backend':
      return {
        what: `remove backend ${existing} of ${service}`,
        apply: (x) => edit.removeBackend(x, service, existing),
        whole: (x) => {
          const i = inputOf(x);
          const t = at(i);
          const j = t?.backends.findIndex((b) => {
            const { address, port } = b as { address: string; port: number };
            return `${address}:${port}` === existing;
          });
          if (t === undefined || j === undefined || j < 0) return undefined;
          t.backends.splice(j, 1);
          return i;
        },
      };
    case 'weight':
      return {
        what: `weight of ${existing} in ${service} -> ${weight}`,
        apply: (x) => edit.setWeight(x, service, existing, weight, 'test'),
        whole: (x) => {
          const i = inputOf(x);
          const b = at(i)?.backends.find((y) => {
            const { address, port } = y as { address: string; port: number };
            return `${address}:${port}` === existing;
          }) as { weight: number } | undefined;
          if (b === undefined) return undefined;
          b.weight = weight;
          return i;
        },
      };
    case 'add-service': {
      const mode = pick(['local', 'nat', 'fullnat', 'dsr']);
      const scheduler = pick(['maglev', 'round-robin', 'weighted-round-robin']);
      const input: Record<string, unknown> = {
        name: `s${Math.floor(r() * 8)}`,
        vip: pick(['192.0.2.1', '192.0.2.2', '192.0.2.3', '*']),
        port: pick([53, 54, 20005, 30050]),
        mode,
        scheduler,
        ...(scheduler === 'maglev' ? { table_size: pick([7, 1021, 65537, 131071]) } : {}),
        ...(mode === 'fullnat'
          ? {
              snat: {
                address: pick(['192.0.2.1', '192.0.2.3']),
                ports: pick(['30000-30100', '20000-20020']),
              },
            }
          : {}),
        backends: [{ address: `198.51.100.${1 + Math.floor(r() * 6)}`, port: pick([53, 9000]) }],
      };
      return {
        what: `add service ${JSON.stringify(input)}`,
        apply: (x) => edit.addService(x, input as never, 'test'),
        whole: (x) => {
          const i = inputOf(x);
          i.services.push(structuredClone(input) as Input['services'][number]);
          return i;
        },
      };
    }
    default:
      return {
        what: `remove service ${service}`,
        apply: (x) => edit.removeService(x, service),
        whole: (x) => {
          const i = inputOf(x);
          if (!at(i)) return undefined;
          i.services = i.services.filter((y) => y.name !== service);
          return i;
        },
      };
  }
}

/** The edit's verdict: the next configuration, or the ApiError's code. */
export function verdictOf(
  e: Edit,
  c: Config,
): { next: Config } | { refused: string; message: string; problems: ConfigProblem[] } {
  try {
    return { next: e.apply(c) };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const problems = Array.isArray(err.details) ? (err.details as ConfigProblem[]) : [];
    return { refused: err.code, message: err.message, problems };
  }
}

export const startConfig = (): Config => parseConfig(START);
