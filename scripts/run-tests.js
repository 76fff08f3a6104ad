#!/usr/bin/env node
// Runs the compiled tests whose TypeScript source exists (a deleted test's stale .js
// in dist/ never runs). Arguments filter by path substring: `npm test -- unit bpf`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
  .map((f) => join(root, 'dist', f.replace(/\.ts$/, '.js')));

if (files.length === 0) {
  console.error(`no test matches ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.XLB_TEST_CONCURRENCY ?? '1';
const r = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
