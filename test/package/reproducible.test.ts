// `npm run package` is reproducible: this checkout and a second one of the same source at
// another path (its files as they are now, no build output, node_modules shared) give the
// same .deb bytes. Every entry belongs to root, carries SOURCE_DATE_EPOCH and a fixed mode.
// Bad input is refused with a message that names it, and nothing is written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sh } from '../../src/lab/exec.js';
import { toolSkip } from '../helpers/privileged.js';
import { REPO, buildPackage, mb, packageScratch, sha256 } from '../helpers/package.js';

const MINUTES = 60_000;

/** `git ls-files` of the checkout: what a second checkout of this source holds. */
function sourceFiles(): string[] {
  return sh('git', ['-C', REPO, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(REPO, f)) && statSync(join(REPO, f)).isFile());
}

describe('npm run package', { skip: toolSkip('dpkg-deb', 'dpkg') || toolSkip('git', 'git') }, () => {
  const tmp = packageScratch();
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('two checkouts of one source build byte-identical packages', { timeout: 20 * MINUTES }, () => {
    const epoch = sh('git', ['-C', REPO, 'log', '-1', '--format=%ct']).trim();
    const here = buildPackage(REPO, join(tmp, 'a'));

    const copy = join(tmp, 'checkout');
    for (const f of sourceFiles()) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      copyFileSync(join(REPO, f), join(copy, f));
    }
    symlinkSync(realpathSync(join(REPO, 'node_modules')), join(copy, 'node_modules'));
    const there = buildPackage(copy, join(tmp, 'b'), { SOURCE_DATE_EPOCH: epoch });

    assert.equal(there.deb.split('/').pop(), `xlb_${here.version}_amd64.deb`);
    assert.equal(sha256(there.deb), sha256(here.deb), 'the same bytes');

    // Every entry: root's, dated SOURCE_DATE_EPOCH, a fixed mode.
    const stamp = new Date(Number(epoch) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    const listing = spawnSync(
      'sh',
      ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -tv --numeric-owner --full-time`, 'sh', here.deb],
      {
        encoding: 'utf8',
        env: { ...process.env, TZ: 'UTC' },
      },
    ).stdout.trim();
    const entries = listing.split('\n').map((l) => {
      const [mode, owner, , date, time, path] = l.split(/\s+/);
      return { mode, owner, when: `${date} ${time}`, path: path! };
    });
    assert.ok(entries.length > 20, listing);
    for (const e of entries) {
      assert.equal(e.owner, '0/0', `${e.path} belongs to root`);
      assert.equal(e.when, stamp, `${e.path} is dated SOURCE_DATE_EPOCH`);
      const executable = ['./usr/bin/xlb', './usr/lib/xlb/node'].includes(e.path);
      const want = e.mode!.startsWith('d') ? 'drwxr-xr-x' : executable ? '-rwxr-xr-x' : '-rw-r--r--';
      assert.equal(e.mode, want, `${e.path} mode`);
    }
    for (const f of [
      './usr/bin/xlb',
      './usr/lib/xlb/node',
      './usr/lib/xlb/dist/src/cli/main.js',
      './usr/lib/xlb/dist/bpf/xlb.bpf.o',
      './usr/lib/xlb/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node',
      './lib/systemd/system/xlb.service',
      './etc/xlb/xlb.yaml',
      './usr/share/doc/xlb/copyright',
    ]) {
      assert.ok(
        entries.some((e) => e.path === f),
        `${f} is in the package`,
      );
    }
    console.log(
      `# reproducible: ${there.deb.split('/').pop()} (${mb(statSync(here.deb).size)}) sha256 ${sha256(here.deb).slice(0, 16)}… from both`,
    );
  });

  it('refuses a version Debian cannot order or an unknown flag, naming it, and writes nothing', () => {
    const out = join(tmp, 'refused');
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [join(REPO, 'scripts/package-deb.js'), '--out', out, ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
    const badVersion = run([], { XLB_DEB_VERSION: '1.0/evil' });
    assert.equal(badVersion.status, 1);
    assert.match(badVersion.stderr, /XLB_DEB_VERSION '1\.0\/evil' is not a Debian version: use digits first/);
    const badFlag = run(['--fast'], {});
    assert.equal(badFlag.status, 1);
    assert.match(
      badFlag.stderr,
      /unknown argument '--fast' \(usage: node scripts\/package-deb\.js \[--out DIR\]\)/,
    );
    assert.equal(existsSync(out) && readdirSync(out).length > 0, false, 'nothing written');
  });
});
