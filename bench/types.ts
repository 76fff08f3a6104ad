// The shape of a benchmark run's results (bench/results/*.json), shared by the harness,
// the report writers and the tests.
import type { Footprint } from './footprint.js';

/** One forwarding subject, measured `runs` times. */
export interface ThroughputResult {
  /** e.g. 'limit', 'xlb nat IPv4 round-robin', 'nftables', 'nginx', 'node-proxy'. */
  subject: string;
  family: 4 | 6;
  /** Distinct flows the generator cycled through (source ports, then addresses). */
  flows: number;
  /** Forwarded packets per second (what the sink counted / generation time), median of the runs. */
  pps: number;
  /** Offered load: packets per second the generator sent, median of the runs. */
  offeredPps: number;
  /** Fraction of sent packets the sink did not see, median of the runs (0..1). */
  loss: number;
  /** Packets per backend (address:port) of the median run, as the sink or xlb counted them. */
  spread: Record<string, number>;
  /** pps of every run. */
  runs: number[];
  /** pps / the same family's `limit` pps at the same flow count. */
  ratioToLimit: number;
  /** pps / nftables' pps at the same flow count (IPv4, where nftables was measured). */
  ratioToNftables?: number;
  /** Packets sent and counted by the sink in each run (they must reconcile). */
  sent: number[];
  received: number[];
}

/** Per-packet cost of one XDP path (BPF_PROG_TEST_RUN). */
export interface CostResult {
  subject: string;
  nsPerPacket: number;
  overPassNs: number;
  packets: number;
  rounds: number[];
}

/**
 * Per-packet cost across many flows (bench/cost.ts, the repeat=1 method): every test run one
 * packet of the next flow, the kernel-reported duration per call.
 */
export interface FlowCostResult {
  subject: string;
  family: 4 | 6;
  flows: number;
  /** Entries of the data plane's fwd_flows and rev_nat. */
  flowTableSize: number;
  /** Median over the rounds of the mean ns per call. */
  nsPerPacket: number;
  /** Above the XDP_PASS-only program in the same rounds. */
  overPassNs: number;
  callsPerRound: number;
  rounds: number[];
  /** Share of the measured calls that gave the path's verdict (0..1). */
  expectedVerdictShare: number;
}

export interface ControlPlaneResult {
  /** The size of the large config. */
  services: number;
  backendsPerService: number;
  /** Milliseconds to parse, validate, plan and apply 1,000 services x 64 backends from a file. */
  applyLargeConfigMs: number;
  /** Map writes made by that apply. */
  applyLargeConfigWrites: number;
  /** Milliseconds for a one-backend change to be applied (file already loaded). */
  oneBackendChangeMs: number;
  oneBackendChangeWrites: number;
  /** A one-backend change on the API's path without HTTP: the typed edit checked against the
   * other services (validateMs), then planned and written (applyMs); medians of add and remove. */
  apiChange?: { validateMs: number; applyMs: number };
  /** Resident memory, MiB: `xlb run` holding the large config; `xlb stats` while reading it. */
  runRssMiB: number;
  statsRssMiB: number;
}

export interface BenchResults {
  date: string;
  kernel: string;
  cpu: string;
  cpus: number;
  commit: string;
  quick: boolean;
  /** Packets per run per subject. */
  packetsPerRun: number;
  /** The flow counts of the throughput runs, e.g. [1000, 100000, 1000000]. */
  flowCounts: number[];
  throughput: ThroughputResult[];
  cost: CostResult[];
  /** The repeat=1 method across flow counts. */
  flowCost?: FlowCostResult[];
  /** Program sizes, verifier work, load time and flow-table memory. */
  footprint?: Footprint;
  control?: ControlPlaneResult;
  /** Maglev table build times, beside the paper's straightforward algorithm. */
  maglev?: MaglevBenchRow[];
  /** The daemon: API change latency, packets lost across restarts and upgrades. */
  daemon?: DaemonBenchResult;
  notes: string[];
  /** Stages that failed (the others still reported); the run exits non-zero. */
  failures?: string[];
}

/** Maglev table build times (bench/maglev.ts). */
export interface MaglevBenchRow {
  /** table entries (a prime) */
  size: number;
  backends: number;
  /** median time of buildMaglev, ms */
  buildMs: number;
  /** median time of buildMaglevReference, ms */
  referenceMs: number;
  /** referenceMs / buildMs */
  speedup: number;
  /** kernel memory of one table */
  tableBytes: number;
}

/** The daemon (bench/daemon.ts). */
export interface ApiChangeFigures {
  services: number;
  backends: number;
  /** Round trip of POST backend / DELETE backend, milliseconds: median and 95th percentile. */
  addMs: { median: number; p95: number };
  removeMs: { median: number; p95: number };
  /** PATCH weight (to 2 and back) and PATCH drain / undrain of an existing backend. */
  weightMs?: { median: number; p95: number };
  drainMs?: { median: number; p95: number };
  /** What the daemon logged for the apply (map writes, seconds): median over the adds. */
  applyMs: number;
  /** The same per kind of change (medians). */
  applyByChangeMs?: { add: number; remove: number; weight: number; drain: number };
  writes: number;
}

export interface LossFigures {
  what: 'no restart' | 'SIGKILL + restart' | 'upgrade (SIGTERM + new object)';
  sent: number;
  received: number;
  lost: number;
  /** Milliseconds without a daemon (kill/stop to the new one's ready line). */
  gapMs: number;
}

export interface DaemonBenchResult {
  api: ApiChangeFigures[];
  loss: LossFigures[];
  /** Offered load of the loss runs, packets per second (median of the three). */
  offeredPps: number;
}
