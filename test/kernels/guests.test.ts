// The suite on Debian's own kernels: each kernel of XLB_KERNELS (default: 6.1, Debian 12's
// stock kernel, and 6.12, its optional one) is booted once in a QEMU guest (guest.ts) that
// runs the groups of suite.ts against this checkout's build, and each group's TAP report
// is checked here: no failure, no cancelled test, at least one test. `npm run
// test:kernels` runs only this file; README "Supported kernels" says how to run more.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { rootSkip, toolSkip } from '../helpers/privileged.js';
import { SERIES, bootGuest, prepareKernel, resolvePackage, type GuestRun } from './guest.js';
import { groupName, jobScript, selectGroups, tapFile, tapSummary, type TapSummary } from './suite.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const minutes = Number(process.env.XLB_KERNEL_TIMEOUT_MIN ?? 40);

function skipReason(): false | string {
  // The guest runs this checkout's tests; never a guest in a guest.
  if (process.env.XLB_GUEST) return 'already inside a kernel guest';
  return (
    rootSkip() ||
    toolSkip('qemu-system-x86_64', 'qemu-system-x86') ||
    toolSkip('busybox', 'busybox-static') ||
    toolSkip('depmod', 'kmod')
  );
}

function selectedSeries() {
  const wanted = (process.env.XLB_KERNELS ?? '').split(/[\s,]+/).filter(Boolean);
  const unknown = wanted.filter((w) => !SERIES.some((s) => s.name === w));
  if (unknown.length)
    throw new Error(
      `XLB_KERNELS: unknown kernel ${unknown.join(', ')}: use ${SERIES.map((s) => s.name).join(', ')}`,
    );
  return wanted.length ? SERIES.filter((s) => wanted.includes(s.name)) : SERIES;
}

const groups = selectGroups(process.env.XLB_KERNEL_TESTS);
const guestPath = [
  ...new Set([dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']),
]
  .filter(Boolean)
  .join(':');
const report: string[] = [];

for (const series of selectedSeries()) {
  const runnable = groups.filter((g) => series.tcx || !g.needsTcx);
  describe(`Linux ${series.name} (${series.role}) in a QEMU guest`, { skip: skipReason() }, () => {
    let guest: GuestRun | undefined;
    const results = new Map<number, TapSummary | undefined>();

    before(
      async () => {
        const kernel = prepareKernel(series, resolvePackage(series));
        guest = await bootGuest(kernel, {
          job: jobScript(repo, runnable, guestPath),
          timeoutMs: minutes * 60_000,
          onConsole: process.env.XLB_KERNEL_CONSOLE ? (t) => process.stderr.write(t) : undefined,
        });
        runnable.forEach((_, i) => {
          const f = `${guest!.dir}/${tapFile(i)}`;
          results.set(i, existsSync(f) ? tapSummary(readFileSync(f, 'utf8')) : undefined);
        });
      },
      { timeout: minutes * 60_000 + 600_000 },
    );

    after(() => {
      if (!guest) return;
      const k = guest.kernel;
      const sum = [...results.values()].reduce(
        (a, s) => ({
          tests: a.tests + (s?.tests ?? 0),
          pass: a.pass + (s?.pass ?? 0),
          fail: a.fail + (s?.fail ?? 0),
        }),
        { tests: 0, pass: 0, fail: 0 },
      );
      const ok = guest.status === 0 && [...results.values()].every((s) => s && s.fail === 0);
      report.push(
        `${k.package} ${k.version} (${k.release}): ${sum.tests} tests, ${sum.pass} passed, ${sum.fail} failed; ` +
          `boot ${((guest.bootMs ?? NaN) / 1000).toFixed(1)} s, total ${(guest.totalMs / 1000).toFixed(0)} s` +
          (ok ? '' : `; console and reports kept in ${guest.dir}`),
      );
      if (ok) rmSync(guest.dir, { recursive: true, force: true });
    });

    it('boots, runs every group and powers off', () => {
      assert.ok(guest, 'the guest never started');
      const tail = guest.console.split('\n').slice(-40).join('\n');
      assert.ok(
        !guest.timedOut,
        `the guest was still running after ${minutes} min (XLB_KERNEL_TIMEOUT_MIN); console:\n${tail}`,
      );
      assert.notEqual(guest.status, null, `the job did not finish (no status); console:\n${tail}`);
      assert.ok(guest.bootMs !== null, 'the job never started');
    });

    groups.forEach((g) => {
      const name = `${groupName(g)}: ${g.what}`;
      if (!runnable.includes(g)) {
        it(name, { todo: `needs tcx (Linux 6.6+): runs here once the classic TC (clsact) fallback is in` });
        return;
      }
      const i = runnable.indexOf(g);
      it(name, (t) => {
        assert.ok(guest, 'the guest never started');
        const s = results.get(i);
        assert.ok(
          s,
          `no TAP report from group ${i} in ${guest.dir}; console:\n${guest.console.split('\n').slice(-40).join('\n')}`,
        );
        t.diagnostic(
          `${s.tests} tests: ${s.pass} passed, ${s.fail} failed, ${s.skipped} skipped, ${s.todo} todo, ${s.cancelled} cancelled`,
        );
        assert.equal(s.fail, 0, `failed on ${guest.kernel.release}:\n  ${s.failures.join('\n  ')}`);
        assert.equal(s.cancelled, 0, 'cancelled tests (a timeout?)');
        assert.ok(s.tests > 0, 'the group ran no test');
      });
    });
  });
}

after(() => {
  if (report.length) console.log(`kernel guests:\n  ${report.join('\n  ')}`);
});
