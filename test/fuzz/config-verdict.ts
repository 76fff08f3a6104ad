// The config fuzzer's verdicts (test/fuzz/configs.ts): one case through the validator under
// test, and what its answer must be. Run in a worker thread (configs-worker.ts).
import { isDeepStrictEqual } from 'node:util';
import { configToInput, configToYaml } from '../../src/model/config-io.js';
import type { Config } from '../../src/model/config.js';
import { fuzzCase, type SeedConfig } from './config-cases.js';

/** What the validator under test must look like: parseConfig's signature. */
export type Validate = (text: string, source: string, opts?: { fastPath?: boolean }) => Config;

export interface WorkerJob {
  seed: number;
  from: number;
  to: number;
  boundMs: number;
  validator: { module: string; name: string };
  seeds: SeedConfig[];
}

export interface CaseFinding {
  kind: string;
  detail: string;
}

export interface CaseResult {
  index: number;
  outcome: 'accepted' | 'refused' | 'crash';
  ms: number;
  expect: 'same' | 'invalid' | 'any';
  mutations: string[];
  findings: CaseFinding[];
}

/** The validator a job names (a module URL and an export). */
export async function loadValidator(v: { module: string; name: string }): Promise<Validate> {
  const m = (await import(v.module)) as Record<string, unknown>;
  const f = m[v.name];
  if (typeof f !== 'function') throw new Error(`${v.module} exports no function ${v.name}`);
  return f as Validate;
}

const short = (s: string, n = 300): string => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

/** An error as one line: its name, message and where it was thrown. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `a thrown ${typeof e}: ${short(String(e))}`;
  const at = (e.stack ?? '').split('\n').find((l) => l.trim().startsWith('at ')) ?? '';
  return `${e.name}: ${short(e.message)} ${at.trim()}`;
}

/** A thrown value that is a ConfigError (by shape: the worker may load another copy of the class). */
export function configError(
  e: unknown,
): { source: string; problems: unknown[]; message: string } | undefined {
  if (!(e instanceof Error) || e.name !== 'ConfigError') return undefined;
  const x = e as Error & { source?: unknown; problems?: unknown };
  return typeof x.source === 'string' && Array.isArray(x.problems)
    ? { source: x.source, problems: x.problems, message: x.message }
    : undefined;
}

/** Longest message a problem may have: it names the problem and the fix, never echoes megabytes. */
const MAX_MESSAGE = 4096;

/** What a refusal must be: problems with a path, a known kind of code, a line in the file, a message. */
function problemContract(
  e: { source: string; problems: unknown[] },
  source: string,
  lines: number,
): string | undefined {
  if (e.source !== source) return `the error names ${JSON.stringify(e.source)}, not the file`;
  if (e.problems.length === 0) return 'a ConfigError without problems';
  if (e.problems.length > 1001) return `${e.problems.length} problems listed (at most 1,000 and a count)`;
  for (const p of e.problems as Record<string, unknown>[]) {
    if (typeof p.path !== 'string') return `a problem without a path: ${short(JSON.stringify(p))}`;
    if (p.path.length > MAX_MESSAGE) return `a path of ${p.path.length} characters: ${short(p.path, 200)}`;
    if (typeof p.message !== 'string' || p.message.trim() === '')
      return `a problem without a message at ${p.path}`;
    if (p.message.length > MAX_MESSAGE)
      return `a message of ${p.message.length} characters at ${p.path}: ${short(p.message, 200)}`;
    // (A value written .nan is 'the number NaN' or "NaN"; a NaN anywhere else was computed.)
    if (/\[object Object\]|(?<!the number |")\bNaN\b/.test(p.message))
      return `a message with [object Object] or NaN: ${short(p.message)}`;
    if (typeof p.code !== 'string' || !/^[a-z_]+$/.test(p.code))
      return `a problem without a code at ${p.path}`;
    const line = p.line;
    // Only the count of problems not listed belongs to no line.
    if (line === undefined && p.path === '' && p.code === 'too_many') continue;
    if (typeof line !== 'number' || !Number.isInteger(line) || line < 1 || line > lines + 1)
      return `line ${String(line)} of a ${lines}-line file at ${p.path}: ${short(p.message)}`;
  }
  return undefined;
}

/** Runs one case through `validate` and checks the verdict. */
export function runCase(
  job: Pick<WorkerJob, 'seed' | 'boundMs' | 'seeds'>,
  index: number,
  validate: Validate,
  seedConfigs: Map<string, Config>,
): CaseResult {
  const c = fuzzCase(job.seed, index, job.seeds);
  const source = `case-${index}.yaml`;
  const findings: CaseFinding[] = [];
  // CPU time, not wall time: on a shared machine a file may wait for a core far longer than it
  // works. (The process's: the thread that waits for this worker's verdicts does next to nothing.)
  const t0 = process.cpuUsage();
  let config: Config | undefined;
  let thrown: unknown;
  try {
    config = validate(c.text, source);
  } catch (e) {
    thrown = e;
  }
  const used = process.cpuUsage(t0);
  const ms = (used.user + used.system) / 1000;
  if (ms > job.boundMs)
    findings.push({ kind: 'slow', detail: `${ms.toFixed(0)} ms of CPU (bound ${job.boundMs} ms)` });
  let outcome: CaseResult['outcome'];
  if (config !== undefined) {
    outcome = 'accepted';
    if (c.expect === 'invalid')
      findings.push({ kind: 'accepted-invalid', detail: `accepted: ${c.mutations.join('; ')}` });
    const seedConfig = seedConfigs.get(c.seed);
    if (c.expect === 'same' && !isDeepStrictEqual(config, seedConfig))
      findings.push({
        kind: 'refused-valid',
        detail: `the same configuration written otherwise gave another one`,
      });
    const idem = normalizedProblem(config, validate);
    if (idem !== undefined) findings.push({ kind: 'not-idempotent', detail: idem });
  } else {
    const e = configError(thrown);
    if (e === undefined) {
      outcome = 'crash';
      findings.push({ kind: 'crash', detail: describeError(thrown) });
    } else {
      outcome = 'refused';
      if (c.expect === 'same')
        findings.push({ kind: 'refused-valid', detail: `refused: ${short(e.message, 500)}` });
      // Lines as YAML counts them: LF, CRLF and a lone CR each end one.
      const broken = problemContract(e, source, c.text.split(/\r\n?|\n/).length);
      if (broken !== undefined) findings.push({ kind: 'bad-problem', detail: broken });
    }
  }
  if (outcome !== 'crash') {
    const other = fastSlowProblem(c.text, source, validate, config);
    if (other !== undefined) findings.push({ kind: 'fast-slow', detail: other });
  }
  return { index, outcome, ms, expect: c.expect, mutations: c.mutations, findings };
}

/** An accepted config must come back as itself from its normalized YAML and from its input form. */
function normalizedProblem(config: Config, validate: Validate): string | undefined {
  try {
    const again = validate(configToYaml(config), 'normalized.yaml');
    if (!isDeepStrictEqual(again, config)) return 'its normalized YAML validates to another configuration';
    const input = configToInput(config);
    const twice = validate(configToYaml(again), 'normalized-twice.yaml');
    if (!isDeepStrictEqual(configToInput(twice), input)) return 'the input form changes on a second round';
  } catch (e) {
    return `its normalized YAML is refused: ${short(e instanceof Error ? e.message : String(e), 500)}`;
  }
  return undefined;
}

/** The slow path alone (every problem with its line) must give the verdict the fast path gave. */
function fastSlowProblem(
  text: string,
  source: string,
  validate: Validate,
  fast: Config | undefined,
): string | undefined {
  let slow: Config | undefined;
  try {
    slow = validate(text, source, { fastPath: false });
  } catch (e) {
    if (configError(e) === undefined) return `the slow path alone throws ${describeError(e)}`;
    return fast === undefined
      ? undefined
      : `accepted, but refused by the slow path alone: ${short((e as Error).message)}`;
  }
  if (fast === undefined) return 'refused, but accepted by the slow path alone';
  return isDeepStrictEqual(fast, slow)
    ? undefined
    : 'the fast and the slow path give different configurations';
}

/** The seeds' own configurations (what a neutral rewrite must give back). */
export function seedConfigsOf(seeds: SeedConfig[], validate: Validate): Map<string, Config> {
  return new Map(seeds.map((s) => [s.name, validate(s.text, s.name)]));
}
