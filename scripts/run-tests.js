#!/usr/bin/env node
// Runs the compiled tests whose TypeScript source exists (a deleted test's stale .js
// in dist/ never runs). Arguments filter by path substring: `npm test -- unit bpf`.
//
// Test files that attach xlb's TC programs carry the line `// xlb-test: both-tc-paths`. On a
// kernel with tcx they run twice: as they are (tcx), then with XLB_FEATURES=-tcx (classic TC,
// the fallback older kernels get); their suites name the path they ran on. On a kernel
// without tcx they run once, on classic TC. XLB_TEST_TC_PATHS=default runs them once, on
// whatever path the kernel (and XLB_FEATURES) gives.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
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
  .sort();

if (sources.length === 0) {
  console.error(`no test matches ${filters.join(' ')}`);
  process.exit(1);
}
const compiled = (f) => join(root, 'dist', f.replace(/\.ts$/, '.js'));
const concurrency = process.env.XLB_TEST_CONCURRENCY ?? '1';

function run(files, env) {
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
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

const both = sources.filter((f) => BOTH_PATHS.test(readFileSync(join(root, f), 'utf8')));
let status = run(sources.map(compiled), process.env);
if (both.length > 0) {
  const why = await noSecondPass();
  if (why) {
    console.log(`# classic TC pass of ${both.length} file(s) not run: ${why}`);
  } else {
    const features = [process.env.XLB_FEATURES, '-tcx'].filter(Boolean).join(',');
    console.log(
      `# the same ${both.length} file(s) on classic TC (XLB_FEATURES=${features}): ${both.join(' ')}`,
    );
    status = run(both.map(compiled), { ...process.env, XLB_FEATURES: features }) || status;
  }
}
process.exit(status);
