// The contract between the daemon and its interfaces (REST API, CLI, metrics): what
// the daemon exposes, the views it returns, and the one catalogue of error codes. The
// REST API is a thin layer over DaemonApi (src/api/ maps it to HTTP); tests drive the
// API with a fake of it.
import type { Reason } from '../abi/abi.js';

/** The daemon's error codes: stable, never reused; the README lists exactly these. How each
 * maps to HTTP is the API's business (src/api/errors.ts). */
export const ErrorCodes = {
  XLB_BAD_REQUEST: { meaning: 'the request is malformed (not JSON, wrong types, unknown fields)' },
  XLB_INVALID_CONFIG: { meaning: 'the change would make an invalid configuration; nothing changed' },
  XLB_NOT_FOUND: { meaning: 'no such service or backend' },
  XLB_CONFLICT: { meaning: 'the service or backend already exists' },
  XLB_UNAUTHORIZED: { meaning: 'a bearer token is required and was missing or wrong' },
  XLB_FORBIDDEN: {
    meaning:
      'not allowed through the API: a program to run (exec health checks come from the config file only), ' +
      "or a Host header that is not the API's address",
  },
  XLB_NOT_READY: { meaning: 'the daemon has not applied its configuration yet' },
  XLB_KERNEL: { meaning: 'the kernel refused a map operation; the message has errno and hint' },
  XLB_RELOAD_FAILED: { meaning: 'the config file has problems; the running configuration stays' },
  XLB_INTERNAL: { meaning: 'an unexpected error; see the daemon log' },
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

/** Every error the daemon throws towards its interfaces. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** e.g. the config problems: [{ path, message }]. */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export type HealthState = 'healthy' | 'unhealthy' | 'unknown' | 'disabled';

export interface BackendView {
  /** 'address:port' ('[v6]:port' for IPv6): the backend's id in URLs. */
  id: string;
  address: string;
  port: number;
  weight: number;
  /** weight 0 set by drain (the configured weight is kept to undrain). */
  drained: boolean;
  /** In the scheduling table now (healthy and weight > 0). */
  active: boolean;
  health: HealthState;
  /** Since when the health state holds (ISO time), and how many transitions so far. */
  healthSince?: string;
  healthTransitions: number;
  packets: number;
  bytes: number;
  /** Flows in the flow table pointing at this backend (counted at most every few seconds). */
  flows?: number;
}

export interface ServiceView {
  name: string;
  vip: string;
  port: number;
  protocol: 'udp';
  family: 4 | 6;
  mode: string;
  scheduler: string;
  packets: number;
  bytes: number;
  /** All backends down: what the service does ('drop' or keep the last healthy set). */
  allDown?: 'drop' | 'keep-last';
  backends: BackendView[];
}

/** How one of xlb's hooks is attached: XDP through a bpf_link; TC through tcx or classic TC. */
export type TcAttachMethod = 'tcx' | 'classic';

export interface InterfaceView {
  name: string;
  /** XDP mode: 'native' or 'generic'. */
  mode: string;
  /** The attach method of each hook; no TC hooks on lo (replies there pass XDP). */
  hooks: { xdp: 'link'; tcIngress?: TcAttachMethod; tcEgress?: TcAttachMethod };
}

/** One probed kernel feature. */
export interface FeatureView {
  /** The name XLB_FEATURES takes, e.g. 'tcx', 'xdp:bpf_fib_lookup'. */
  name: string;
  what: string;
  /** The Linux version that brought it. */
  since: string;
  /** What xlb does without it (absent: xlb cannot run without it). */
  fallback?: string;
  available: boolean;
  /** Reported missing by XLB_FEATURES. */
  forced: boolean;
}

/** The kernel xlb runs on, and what the probe found at start. */
export interface KernelView {
  /** uname -r */
  release: string;
  features: FeatureView[];
  /** The features XLB_FEATURES reports missing. */
  forced: string[];
}

export interface StatusView {
  instance: string;
  version: string;
  pid: number;
  startedAt: string;
  /** Increments with every applied change (file reload or API). */
  generation: number;
  configFile: string;
  /** The config file as last read: false when it had problems (the last valid one still runs). */
  configValid: boolean;
  /** When the file is invalid: since when (ISO time), and its first problem. */
  configInvalidSince?: string;
  configProblem?: string;
  /** The running configuration differs from the file (API changes not written back). */
  drift: boolean;
  ready: boolean;
  interfaces: InterfaceView[];
  kernel: KernelView;
  services: number;
  backends: number;
  /** The data plane was adopted from pins left by an earlier daemon. */
  adopted: boolean;
}

export interface StatsView {
  generation: number;
  at: string;
  reasons: Record<Reason, { packets: number; bytes: number }>;
  services: ServiceView[];
}

export interface DriftView {
  drift: boolean;
  /** The config file as last read is valid; when not, the drift is from the last valid file. */
  fileValid: boolean;
  /** When the file is invalid: 'file invalid since T: first problem'. */
  fileProblem?: string;
  /** Human lines: '+ service x', '- backend y of x', '~ weight of y in x: 1 -> 3'. */
  changes: string[];
}

/** Inputs of the API (validated by the daemon as a whole config change). */
export interface ServiceInput {
  name: string;
  vip: string;
  port: number;
  protocol?: 'udp';
  mode?: string;
  scheduler?: string;
  [key: string]: unknown;
}
export interface BackendInput {
  address: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}

/** What the REST API and the CLI can ask of the daemon. Every mutation is validated as
 * a whole configuration before any map is touched; it throws ApiError. */
export interface DaemonApi {
  status(): StatusView;
  ready(): boolean;
  services(): ServiceView[];
  service(name: string): ServiceView;
  addService(input: ServiceInput): ServiceView;
  removeService(name: string): void;
  addBackend(service: string, input: BackendInput): BackendView;
  removeBackend(service: string, backendId: string): void;
  setWeight(service: string, backendId: string, weight: number): BackendView;
  drain(service: string, backendId: string): BackendView;
  undrain(service: string, backendId: string): BackendView;
  stats(): StatsView;
  drift(): DriftView;
  /** The running configuration as YAML (what `xlb config dump` writes). */
  dumpConfig(): string;
  /** Re-reads the config file; throws ApiError XLB_RELOAD_FAILED with the problems. */
  reload(): StatusView;
  /** Prometheus exposition text. */
  metrics(): Promise<string>;
}
