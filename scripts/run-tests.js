#!/usr/bin/env node
// Runs the compiled tests whose TypeScript source exists (a deleted test's stale .js
// in dist/ never runs). Arguments filter by path substring: `npm test -- unit bpf`; an
// argument starting with '!' leaves out the files that contain the rest: `-- bpf/ '!fuzz'`.
//
// Test files that attach xlb's TC programs carry the line `// xlb-test: both-tc-paths`. On a
// kernel with tcx they run twice: as they are (tcx), then with XLB_FEATURES=-tcx (classic TC,
// the fallback older kernels get); their suites name the path they ran on. On a kernel
// without tcx they run once, on classic TC. XLB_TEST_TC_PATHS=default runs them once, on
// whatever path the kernel (and XLB_FEATURES) gives.
//
// The kernel guests (test/kernels/) run last and without the per-file limit: each boots QEMU
// guests that run part of the suite inside (XLB_KERNEL_TIMEOUT_MIN bounds them).
// XLB_TEST_TAP=FILE also writes the results as TAP to FILE (what the guests report back).
// XLB_TIME_SCALE (src/util/time.ts) stretches the 5 minutes per file on slow machines.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('!'));
const excluded = args.filter((a) => a.startsWith('!')).map((a) => a.slice(1));
const BOTH_PATHS = /^\/\/ xlb-test: both-tc-paths\b/m;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const sources = walk(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .filter((f) => !excluded.some((s) => f.includes(s)))
  .sort();

if (sources.length === 0) {
  console.error(`no test matches ${args.join(' ')}`);
  process.exit(1);
}
const compiled = (f) => join(root, 'dist', f.replace(/\.ts$/, '.js'));
const concurrency = process.env.XLB_TEST_CONCURRENCY ?? '1';
const perFile = Math.round(300_000 * Number(process.env.XLB_TIME_SCALE || 1));

/** node --test over `files`; `tap` also writes a TAP copy there; `limit` is per file. */
function run(files, env, { tap, limit = true } = {}) {
  const reporters = tap
    ? [
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
      ]
    : [];
  const timeout = limit ? [`--test-timeout=${perFile}`] : [];
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, ...timeout, ...reporters, ...files],
    { stdio: 'inherit', env },
  );
  return r.status ?? 1;
}

/** Why the classic-TC pass is not needed (undefined: run it). */
async function noSecondPass() {
  if (process.env.XLB_TEST_TC_PATHS === 'default') return 'XLB_TEST_TC_PATHS=default';
  try {
    const { kernelFeatures, tcMethod } = await import(join(root, 'dist/src/control/features.js'));
    const { quietLibbpf } = await import(join(root, 'dist/src/kernel/libbpf.js'));
    quietLibbpf();
    if (tcMethod(kernelFeatures()) === 'classic') return 'the first pass ran on classic TC already';
    return undefined;
  } catch (e) {
    return `the probe failed (${e.message.split('\n')[0]}): the privileged tests skip or fail on their own`;
  }
}

const tap = process.env.XLB_TEST_TAP;
const guests = sources.filter((f) => f.startsWith('test/kernels/'));
const here = sources.filter((f) => !guests.includes(f));
const both = here.filter((f) => BOTH_PATHS.test(readFileSync(join(root, f), 'utf8')));
let status = here.length > 0 ? run(here.map(compiled), process.env, { tap }) : 0;
if (both.length > 0) {
  const why = await noSecondPass();
  if (why) {
    console.log(`# classic TC pass of ${both.length} file(s) not run: ${why}`);
  } else {
    const features = [process.env.XLB_FEATURES, '-tcx'].filter(Boolean).join(',');
    console.log(
      `# the same ${both.length} file(s) on classic TC (XLB_FEATURES=${features}): ${both.join(' ')}`,
    );
    const env = { ...process.env, XLB_FEATURES: features };
    status = run(both.map(compiled), env, { tap: tap && `${tap}.classic` }) || status;
  }
}
if (guests.length > 0) status = run(guests.map(compiled), process.env, { limit: false }) || status;
process.exit(status);
