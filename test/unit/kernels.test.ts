// The pure parts of the kernel guests (test/kernels): which Debian package is tested, which
// groups run, the job script and how a TAP report is read. The guests themselves run in
// test/kernels/guests.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERIES, newestPackage } from '../kernels/guest.js';
import { DEFAULT_GROUPS, guestScale, jobScript, selectGroups, tapSummary } from '../kernels/suite.js';
import { scaledCount } from '../helpers/random.js';
import { parseTimeScale } from '../../src/util/time.js';

const series = (name: string) => SERIES.find((s) => s.name === name)!;

describe('kernel guests: packages', () => {
  const names = [
    'linux-image-6.1.0-9-amd64-unsigned',
    'linux-image-6.1.0-57-amd64-unsigned',
    'linux-image-6.1.0-57-cloud-amd64-unsigned',
    'linux-image-6.1.0-57-rt-amd64-unsigned',
    'linux-image-6.1.0-56-amd64-unsigned',
    'linux-image-6.12.9+deb12-amd64-unsigned',
    'linux-image-6.12.117+deb12-amd64-unsigned',
    'linux-image-6.12.117+deb12-cloud-amd64-unsigned',
    'linux-image-6.12.113+deb12-amd64-unsigned',
    'linux-image-amd64',
  ];

  it('the newest generic (not cloud, not rt) unsigned image of each series, by number not by text', () => {
    assert.equal(newestPackage(series('6.1'), names), 'linux-image-6.1.0-57-amd64-unsigned');
    assert.equal(newestPackage(series('6.12'), names), 'linux-image-6.12.117+deb12-amd64-unsigned');
  });

  it('none when apt knows no package of the series', () => {
    assert.equal(newestPackage(series('6.12'), names.slice(0, 5)), undefined);
  });

  it('6.1 gets classic TC (tcx is 6.6+), 6.12 tcx', () => {
    assert.equal(series('6.1').tc, 'classic');
    assert.equal(series('6.12').tc, 'tcx');
  });
});

describe('kernel guests: groups and job', () => {
  it('by default: the BPF tests but the fuzzer, local mode on lo, and the mode labs (TC path named)', () => {
    assert.deepEqual(
      DEFAULT_GROUPS.map((g) => [g.filters, g.tcLabelled]),
      [
        [['test/bpf/', '!test/bpf/fuzz'], false],
        [['test/integration/local-lo'], false],
        [['test/lab/modes'], true],
      ],
    );
    assert.equal(selectGroups(undefined), DEFAULT_GROUPS);
    assert.equal(selectGroups('  '), DEFAULT_GROUPS);
  });

  it('XLB_KERNEL_TESTS: one group per filter, the exclusions in each', () => {
    assert.deepEqual(
      selectGroups('test/bpf/ test/lab/ !api-fuzz test/integration/local-lo').map((g) => g.filters),
      [
        ['test/bpf/', '!api-fuzz'],
        ['test/lab/', '!api-fuzz'],
        ['test/integration/local-lo', '!api-fuzz'],
      ],
    );
  });

  it('the job runs every group with CI=true, the scales, a TAP copy and a status each', () => {
    const job = jobScript('/src/x y', selectGroups("test/bpf/ it's"), '/usr/bin:/bin', {
      time: 10,
      cases: 0.1,
    });
    assert.match(job, /^export CI=true XLB_GUEST=1 XLB_TEST_TC_PATHS=default /m);
    assert.match(job, /^export XLB_TIME_SCALE=10 XLB_TEST_SCALE=0.1$/m);
    assert.match(job, /^cd '\/src\/x y' \|\| exit 111$/m);
    assert.match(
      job,
      /^XLB_TEST_TAP=\/run\/xlb-guest\/group-0\.tap node scripts\/run-tests\.js 'test\/bpf\/'$/m,
    );
    assert.match(
      job,
      /^XLB_TEST_TAP=\/run\/xlb-guest\/group-1\.tap node scripts\/run-tests\.js 'it'\\''s'$/m,
    );
    assert.match(job, /echo \$s >\/run\/xlb-guest\/group-1\.status/);
    assert.match(job, /exit \$rc\n$/);
  });

  it('guest scales: 10× the waits and a tenth of the random cases unless the host says otherwise', () => {
    assert.deepEqual(guestScale({}), { time: 10, cases: 0.1 });
    assert.deepEqual(guestScale({ XLB_GUEST_TIME_SCALE: '4', XLB_GUEST_TEST_SCALE: '1' }), {
      time: 4,
      cases: 1,
    });
  });
});

describe('kernel guests: TAP reports', () => {
  const tap = [
    'TAP version 13',
    '# Subtest: suite a [tc: classic]',
    '    # Subtest: inner',
    '        # Subtest: leaf 1',
    '        ok 1 - leaf 1',
    '        # Subtest: leaf 2',
    '        not ok 2 - leaf 2',
    '          ---',
    '          duration_ms: 3.5',
    '          error: |-',
    '            kdig timed out',
    '              twice',
    '          code: ERR_ASSERTION',
    '          ...',
    '        1..2',
    '    not ok 1 - inner',
    '    # Subtest: skipped one',
    '    ok 2 - skipped one # SKIP needs root',
    '    1..2',
    'not ok 1 - suite a [tc: classic]',
    '# Subtest: /x/dist/test/b.test.js',
    'not ok 2 - /x/dist/test/b.test.js',
    '1..2',
    '# tests 4',
    '# suites 2',
    '# pass 1',
    '# fail 2',
    '# cancelled 0',
    '# skipped 1',
    '# todo 0',
    '# duration_ms 12.5',
    '',
  ].join('\n');

  it('counts from the trailer; failures are the failed leaves with their suites and errors; the TC paths named', () => {
    assert.deepEqual(tapSummary(tap), {
      tests: 4,
      pass: 1,
      fail: 2,
      skipped: 1,
      todo: 0,
      cancelled: 0,
      failures: ['suite a [tc: classic] › inner › leaf 2', '/x/dist/test/b.test.js'],
      errors: ['kdig timed out\n  twice', ''],
      tcPaths: ['classic'],
    });
  });

  it('no trailer (a runner that died): no summary', () => {
    assert.equal(tapSummary(tap.split('# tests')[0]!), undefined);
  });
});

describe('scales of slow machines', () => {
  it('XLB_TIME_SCALE: 1 when unset, else a number ≥ 1; anything else is refused, naming what is expected', () => {
    assert.equal(parseTimeScale(undefined), 1);
    assert.equal(parseTimeScale(''), 1);
    assert.equal(parseTimeScale('10'), 10);
    assert.equal(parseTimeScale('2.5'), 2.5);
    for (const bad of ['0', '0.5', 'x', '-1', 'Infinity'])
      assert.throws(() => parseTimeScale(bad), /XLB_TIME_SCALE='.*': expected a number ≥ 1/);
  });

  it('XLB_TEST_SCALE: a share of the random cases, at least one; anything else is refused', () => {
    const old = process.env.XLB_TEST_SCALE;
    try {
      for (const bad of ['0', '2', 'x', '-1']) {
        process.env.XLB_TEST_SCALE = bad;
        assert.throws(
          () => scaledCount(10),
          /XLB_TEST_SCALE='.*': expected a share of the cases to run, 0 < scale ≤ 1/,
        );
      }
      process.env.XLB_TEST_SCALE = '0.1';
      assert.equal(scaledCount(5000), 500);
      assert.equal(scaledCount(3), 1);
      delete process.env.XLB_TEST_SCALE;
      assert.equal(scaledCount(5000), 5000);
    } finally {
      if (old === undefined) delete process.env.XLB_TEST_SCALE;
      else process.env.XLB_TEST_SCALE = old;
    }
  });
});
