// The config fuzzer: mutated config files (config-cases.ts: neutral rewrites, known-invalid
// changes and random damage of valid seeds) through parse + validate in-process, in a worker
// thread (configs-worker.ts), and a sample of them through the real `xlb validate FILE`. Findings:
//
//   crash            the validator threw something other than a ConfigError
//   bad-problem      a refusal that breaks the error contract: no problem, a problem without a
//                    path, code or message, a line outside the file, a message that echoes
//                    megabytes or says [object Object]
//   slow             one file took more CPU time than the bound in-process (a hang detector: 5 s)
//   hang, died       no answer within hangMs (the worker is stopped), or the worker died (out of
//                    memory): reported for the case it was on, and the run goes on
//   accepted-invalid a known-invalid change was accepted
//   refused-valid    a neutral rewrite of a valid seed was refused, or gave another configuration
//   not-idempotent   an accepted config's normalized YAML does not validate to itself
//   fast-slow        parseConfig's fast path and its slow path alone disagree
//   cli-exit         `xlb validate` exited neither 0 nor 1, or not as the in-process verdict says
//   cli-output       its output is not the in-process verdict's (a crash path, a stack trace)
//
// Any finding replays alone: fuzzCase(seed, case, seeds) gives its file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fuzzCase, readmeSeeds, seedConfigs, type SeedConfig } from './config-cases.js';
import {
  configError,
  describeError,
  loadValidator,
  type CaseResult,
  type WorkerJob,
} from './config-verdict.js';

export type FindingKind =
  | 'crash'
  | 'bad-problem'
  | 'slow'
  | 'hang'
  | 'died'
  | 'accepted-invalid'
  | 'refused-valid'
  | 'not-idempotent'
  | 'fast-slow'
  | 'cli-exit'
  | 'cli-output';

export interface ConfigFinding {
  seed: number;
  case: number;
  kind: FindingKind;
  detail: string;
  /** What was done to the seed to make the file. */
  mutations: string[];
}

export interface ConfigFuzzReport {
  seed: number;
  files: number;
  accepted: number;
  refused: number;
  /** Files whose validation threw something else (each is a finding too). */
  crashed: number;
  /** Files by what the fuzzer knew of them: neutral rewrites, known-invalid, random. */
  expected: { same: number; invalid: number; any: number };
  findings: ConfigFinding[];
  /** The slowest file in-process (ms of CPU), and which. */
  slowestMs: number;
  slowestCase: number;
  cli: { files: number; accepted: number; refused: number };
  seconds: number;
}

export interface ConfigFuzzOptions {
  files: number;
  seed: number;
  /** Files that also go through `xlb validate FILE` (default: 1 in 100, at least 4). */
  cliFiles?: number;
  /** Bound of one file in-process, ms of CPU (default 5,000: a hang detector, not a speed test; the
   * largest files the limits admit take about 1 s here). */
  boundMs?: number;
  /** No answer from the worker for this long (ms) stops it: finding 'hang' (default 120,000). */
  hangMs?: number;
  /** Bound of one `xlb validate` run, ms (default 60,000). */
  cliBoundMs?: number;
  /** The validator under test: a module URL and the name of a function shaped like parseConfig. */
  validator?: { module: string; name: string };
  /** The CLI's entry point (default: dist/src/cli/main.js beside this file's build). */
  cli?: string;
  /** The seeds (default: the README's examples, the built-in default, the fuzzer's own). */
  seeds?: SeedConfig[];
  /** Called after each file in-process and each CLI run. */
  progress?: (what: 'file' | 'cli', done: number) => void;
}

const DEFAULT_VALIDATOR = {
  module: new URL('../../src/model/config.js', import.meta.url).href,
  name: 'parseConfig',
};
const DEFAULT_CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const README = new URL('../../../README.md', import.meta.url);
const WORKER = new URL('./configs-worker.js', import.meta.url);
/** How long a worker may take to load before its first case, ms. */
const STARTUP_MS = 120_000;

/** The seeds of a default run: the README's complete examples first. */
export function defaultSeeds(): SeedConfig[] {
  return seedConfigs(readmeSeeds(readFileSync(README, 'utf8')));
}

export async function fuzzConfigs(opts: ConfigFuzzOptions): Promise<ConfigFuzzReport> {
  const t0 = Date.now();
  const seeds = opts.seeds ?? defaultSeeds();
  const validator = opts.validator ?? DEFAULT_VALIDATOR;
  const validate = await loadValidator(validator);
  for (const s of seeds) {
    try {
      validate(s.text, s.name);
    } catch (e) {
      throw new Error(`config fuzzer: the seed '${s.name}' is not a valid config: ${describeError(e)}`);
    }
  }
  const report: ConfigFuzzReport = {
    seed: opts.seed,
    files: 0,
    accepted: 0,
    refused: 0,
    crashed: 0,
    expected: { same: 0, invalid: 0, any: 0 },
    findings: [],
    slowestMs: 0,
    slowestCase: -1,
    cli: { files: 0, accepted: 0, refused: 0 },
    seconds: 0,
  };
  const outcomes: CaseResult['outcome'][] = [];
  const job = { seed: opts.seed, boundMs: opts.boundMs ?? 5000, validator, seeds };
  const record = (r: CaseResult): void => {
    report.files++;
    report.expected[r.expect]++;
    if (r.outcome === 'accepted') report.accepted++;
    else if (r.outcome === 'refused') report.refused++;
    else report.crashed++;
    outcomes[r.index] = r.outcome;
    if (r.ms > report.slowestMs) {
      report.slowestMs = r.ms;
      report.slowestCase = r.index;
    }
    for (const f of r.findings)
      report.findings.push({
        seed: opts.seed,
        case: r.index,
        kind: f.kind as FindingKind,
        detail: f.detail,
        mutations: r.mutations,
      });
    opts.progress?.('file', report.files);
  };
  for (let next = 0; next < opts.files;) {
    const run = await runWorker({ ...job, from: next, to: opts.files }, opts.hangMs ?? 120_000, record);
    if (run.stopped === undefined) break;
    const { index, kind, detail } = run.stopped;
    report.findings.push({
      seed: opts.seed,
      case: index,
      kind,
      detail,
      mutations: fuzzCase(opts.seed, index, seeds).mutations,
    });
    next = index + 1;
  }
  await runCli(opts, seeds, validate, outcomes, report);
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}

interface Stopped {
  index: number;
  kind: 'hang' | 'died';
  detail: string;
}

/** Runs cases [from, to) in a worker until it ends; `stopped`: the case it hung or died on. */
function runWorker(
  job: WorkerJob,
  hangMs: number,
  record: (r: CaseResult) => void,
): Promise<{ stopped?: Stopped }> {
  return new Promise((resolve) => {
    let current = job.from;
    let stopped: Stopped | undefined;
    const worker = new Worker(WORKER, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
    let timer: NodeJS.Timeout | undefined;
    const watch = (ms: number): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stopped = {
          index: current,
          kind: 'hang',
          detail: `no verdict within ${ms} ms: the worker was stopped`,
        };
        void worker.terminate();
      }, ms);
    };
    // Loading the modules and the seeds is not a case: it gets a bound of its own.
    watch(Math.max(hangMs, STARTUP_MS));
    worker.on('message', (m: CaseResult | { ready: true }) => {
      if (!('ready' in m)) {
        record(m);
        current = m.index + 1;
      }
      watch(hangMs);
    });
    worker.on('error', (e) => {
      stopped ??= { index: current, kind: 'died', detail: `the worker died: ${describeError(e)}` };
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      if (current < job.to)
        stopped ??= {
          index: current,
          kind: 'died',
          detail: `the worker exited (${code}) before its last case`,
        };
      resolve(current < job.to && stopped !== undefined ? { stopped } : {});
    });
  });
}

/** Which files go through the CLI: evenly spread over the accepted ones and the refused ones. */
function cliSample(outcomes: CaseResult['outcome'][], count: number): number[] {
  const accepted = outcomes.flatMap((o, i) => (o === 'accepted' ? [i] : []));
  const refused = outcomes.flatMap((o, i) => (o === 'refused' ? [i] : []));
  const spread = (xs: number[], n: number): number[] =>
    Array.from(
      { length: Math.min(n, xs.length) },
      (_, k) => xs[Math.floor((k * xs.length) / Math.min(n, xs.length))]!,
    );
  const a = spread(accepted, Math.ceil(count / 2));
  return [...a, ...spread(refused, count - a.length)].sort((x, y) => x - y);
}

async function runCli(
  opts: ConfigFuzzOptions,
  seeds: SeedConfig[],
  validate: (text: string, source: string) => unknown,
  outcomes: CaseResult['outcome'][],
  report: ConfigFuzzReport,
): Promise<void> {
  const count = opts.cliFiles ?? Math.max(4, Math.floor(opts.files / 100));
  if (count === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'xlb-config-fuzz-'));
  try {
    for (const index of cliSample(outcomes, count)) {
      const c = fuzzCase(opts.seed, index, seeds);
      const file = join(dir, `case-${index}.yaml`);
      writeFileSync(file, c.text);
      // What the CLI reads (a lone surrogate is written as U+FFFD): the verdict in-process.
      const text = readFileSync(file, 'utf8');
      let expected: { code: 0 | 1; stderr?: string };
      try {
        validate(text, file);
        expected = { code: 0 };
      } catch (e) {
        const ce = configError(e);
        expected = { code: 1, ...(ce === undefined ? {} : { stderr: `xlb: error: ${ce.message}\n` }) };
      }
      const got = await runValidate(opts.cli ?? DEFAULT_CLI, file, opts.cliBoundMs ?? 60_000);
      report.cli.files++;
      if (got.code === 0) report.cli.accepted++;
      else if (got.code === 1) report.cli.refused++;
      const problem = cliProblem(file, expected, got);
      if (problem !== undefined)
        report.findings.push({ seed: opts.seed, case: index, mutations: c.mutations, ...problem });
      rmSync(file, { force: true });
      opts.progress?.('cli', report.cli.files);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function cliProblem(
  file: string,
  expected: { code: 0 | 1; stderr?: string },
  got: CliRun,
): { kind: FindingKind; detail: string } | undefined {
  const tail = (s: string): string => s.slice(0, 400);
  if (got.timedOut)
    return { kind: 'cli-exit', detail: 'xlb validate did not finish within its bound: killed' };
  if (got.code !== 0 && got.code !== 1)
    return {
      kind: 'cli-exit',
      detail: `xlb validate exited ${got.code ?? `by ${got.signal ?? '?'}`}: ${tail(got.stderr)}`,
    };
  if (got.code !== expected.code)
    return {
      kind: 'cli-exit',
      detail: `xlb validate exited ${got.code}, the verdict in-process is ${expected.code}: ${tail(got.stderr)}`,
    };
  if (got.code === 0) {
    if (!got.stdout.startsWith(`${file}: ok`) || got.stderr !== '')
      return { kind: 'cli-output', detail: `accepted with output ${tail(got.stdout + got.stderr)}` };
    return undefined;
  }
  if (expected.stderr !== undefined && got.stderr !== expected.stderr) {
    const a = expected.stderr.split('\n');
    const b = got.stderr.split('\n');
    const at = a.findIndex((l, i) => l !== b[i]);
    return {
      kind: 'cli-output',
      detail: `refused with another message, line ${at + 1}: ${JSON.stringify(tail(b[at] ?? ''))} (in-process ${JSON.stringify(tail(a[at] ?? ''))})`,
    };
  }
  if (got.stdout !== '')
    return { kind: 'cli-output', detail: `refused with output on stdout: ${tail(got.stdout)}` };
  return undefined;
}

/** `node CLI validate FILE`, bounded in time and heap; output kept up to 32 MiB. */
function runValidate(cli: string, file: string, boundMs: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=2048', cli, 'validate', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XLB_DEBUG: '' },
    });
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const kept = { stdout: 0, stderr: 0 };
    const keep = (k: 'stdout' | 'stderr') => (d: Buffer) => {
      if (kept[k] > 32 * 1024 * 1024) return;
      kept[k] += d.length;
      out[k].push(d);
    };
    child.stdout.on('data', keep('stdout'));
    child.stderr.on('data', keep('stderr'));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, boundMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = (k: 'stdout' | 'stderr'): string => Buffer.concat(out[k]).toString('utf8');
      resolve({ code, signal, stdout: text('stdout'), stderr: text('stderr'), timedOut });
    });
  });
}
