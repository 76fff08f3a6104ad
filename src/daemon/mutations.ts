// The API's changes to the running configuration, as pure functions over typed values: each
// builds the one service it changes, checks that service once (validateService: every rule of
// the service) and against the others (serviceConflicts: names, listeners, snat ranges, totals,
// memory_limit, through an index of the running configuration: O(the service)), and returns the
// next Config, which shares every other service with the one it came from. Nothing here touches a map; a refused change throws ApiError and
// leaves the caller's configuration as it was.
import {
  ConfigError,
  validateService,
  type BackendConfig,
  type Config,
  type ConfigProblem,
  type ServiceConfig,
} from '../model/config.js';
import { serviceConflicts, serviceNamed, withService, withoutService } from '../model/config-conflicts.js';
import { serviceToInput } from '../model/config-io.js';
import { hostPort } from '../util/endpoint.js';
import { ApiError, type BackendInput, type ServiceInput } from './contract.js';

/** The key of a backend in the daemon's bookkeeping (drains, health): 'service/addr:port'. */
export const backendKey = (service: string, id: string): string => `${service}/${id}`;

export const backendIdOf = (b: Pick<BackendConfig, 'address' | 'port'>): string =>
  hostPort(b.address, b.port);

export function findService(config: Config, name: string): ServiceConfig {
  const s = serviceNamed(config, name);
  if (!s) throw new ApiError('XLB_NOT_FOUND', `no service '${name}' (xlb service ls lists them)`);
  return s;
}

export function findBackend(s: ServiceConfig, id: string): number {
  const i = s.backends.findIndex((b) => backendIdOf(b) === id);
  if (i < 0) throw new ApiError('XLB_NOT_FOUND', `service '${s.name}' has no backend ${id}`);
  return i;
}

const invalid = (why: string, problems: ConfigProblem[]): ApiError =>
  new ApiError(
    'XLB_INVALID_CONFIG',
    problems.map((p) => `${why}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`).join('\n'),
    problems,
  );

/**
 * Checks `candidate` (a service built from typed values and API input) with every rule of a
 * service; the problems' paths are prefixed with where it stands in the configuration.
 */
function checkService(candidate: Record<string, unknown>, at: number, why: string): ServiceConfig {
  try {
    return validateService(candidate, why);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const prefix = `services[${at}]`;
    throw invalid(
      why,
      e.problems.map((p) => ({ ...p, path: p.path === '' ? prefix : `${prefix}.${p.path}` })),
    );
  }
}

/** `config` with `s` added (or put in place of the service named `replacing`), checked against the others. */
function put(config: Config, s: ServiceConfig, why: string, replacing?: string): Config {
  const problems = serviceConflicts(config, s, replacing);
  if (problems.length > 0) throw invalid(why, problems);
  return withService(config, s, replacing);
}

const indexOf = (config: Config, name: string): number => config.services.findIndex((s) => s.name === name);

export function addService(config: Config, input: ServiceInput, why: string): Config {
  const health = input.health as { type?: unknown } | undefined;
  if (typeof health === 'object' && health !== null && health.type === 'exec') {
    // A program run as the daemon's user (root, or the capabilities it holds) must come from
    // the config file, which only its owner can write, never from whoever reaches the API.
    throw new ApiError(
      'XLB_FORBIDDEN',
      `service '${String(input.name)}': exec health checks run programs as the daemon's user, so they can only ` +
        'be configured in the config file, not through the API; use a udp, dns, tcp or http check, or add the ' +
        'service to the file and reload',
    );
  }
  if (typeof input.name === 'string' && serviceNamed(config, input.name) !== undefined) {
    throw new ApiError(
      'XLB_CONFLICT',
      `service '${input.name}' exists; remove it first or choose another name`,
    );
  }
  const s = checkService({ backends: [], ...input }, config.services.length, why);
  return put(config, s, why);
}

export function removeService(config: Config, name: string): Config {
  findService(config, name);
  return withoutService(config, name);
}

export function addBackend(config: Config, service: string, input: BackendInput, why: string): Config {
  const s = findService(config, service);
  const candidate = serviceToInput(s);
  candidate.backends = [...(candidate.backends as unknown[]), { ...input }];
  let next: ServiceConfig;
  try {
    next = checkService(candidate, indexOf(config, service), why);
  } catch (e) {
    const problems = e instanceof ApiError && Array.isArray(e.details) ? (e.details as ConfigProblem[]) : [];
    if (problems.some((p) => p.code === 'duplicate_backend')) {
      throw new ApiError(
        'XLB_CONFLICT',
        `service '${service}' already has backend ${String(input.address)}:${String(input.port)}`,
      );
    }
    throw e;
  }
  return put(config, next, why, service);
}

export function removeBackend(config: Config, service: string, id: string): Config {
  const s = findService(config, service);
  const i = findBackend(s, id);
  return put(
    config,
    { ...s, backends: s.backends.filter((_, j) => j !== i) },
    `remove backend ${id}`,
    service,
  );
}

export function setWeight(config: Config, service: string, id: string, weight: number, why: string): Config {
  const s = findService(config, service);
  const i = findBackend(s, id);
  const candidate = serviceToInput({
    ...s,
    backends: s.backends.map((b, j) => (j === i ? { ...b, weight } : b)),
  });
  return put(config, checkService(candidate, indexOf(config, service), why), why, service);
}
