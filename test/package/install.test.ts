// The Debian package, as an operator meets it: on a fresh Debian 12 (debootstrap bookworm,
// chroot) `apt-get install ./xlb_*.deb` pulls its dependencies from Debian's mirror and gives
// a working xlb with no Node, clang or checkout of its own: --version, validate of the shipped
// config, `xlb run` forwarding on a veth pair, the libraries it loads all in Depends. Then the
// unit's daemon (its commands as the unit runs them: the user xlb that postinst made, the
// unit's capabilities) forwards a stream of datagrams while a newer build is installed over
// it and the daemon restarted as postinst does (try-restart): not one datagram lost. Removal detaches
// the data plane; purge removes the config. Measures the .deb, the installed size and the time
// from `apt-get install` to the first forwarded datagram. (Reproducibility: reproducible.test.ts.)
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nsSh, sh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { DebianChroot, debianRootTarball } from '../helpers/debian-chroot.js';
import { REPO, buildPackage, mb, packageScratch, type Build } from '../helpers/package.js';
import { rootSkip, toolSkip } from '../helpers/privileged.js';
import { Unit, asNobody } from '../helpers/unit-sandbox.js';
import { CLI, Proc, helperScript } from '../helpers/proc.js';

const PREFIX = 'xlbt-';
const VIP = '192.0.2.1';
const PORT = 5300;
const BACKEND_PORTS = [5301, 5302];
const MINUTES = 60_000;

/** Package names of a Depends field (alternatives included, versions and arch qualifiers dropped). */
const dependsNames = (field: string) => new Set(field.split(/[,|]/).map((d) => d.trim().split(/[ :(]/)[0]!));

/** The packages `apt-get install` reported as NEW. */
function newPackages(aptOutput: string): string[] {
  const lines = aptOutput.split('\n');
  const start = lines.findIndex((l) => l.startsWith('The following NEW packages will be installed'));
  if (start < 0) return [];
  const names: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith(' ')) break;
    names.push(...l.trim().split(/\s+/));
  }
  return names;
}

/**
 * What systemd runs for ExecStartPre=/ExecStart= of `unit`, as argv: a "+" line as root, the
 * others as User=/Group= with AmbientCapabilities= (setpriv, as test/helpers/unit-sandbox.ts
 * emulates the unit). No specifiers or quoting expected.
 */
function unitCommands(unit: Unit, key: 'ExecStartPre' | 'ExecStart'): string[][] {
  const user = unit.directive('User')[0];
  const creds = user === undefined ? [] : asNobody(unit.caps, [], user, unit.directive('Group')[0] ?? user);
  return unit.directive(key).map((line) => {
    const prefix = /^[-+!@:]*/.exec(line)![0];
    const cmd = line.slice(prefix.length);
    assert.doesNotMatch(
      cmd,
      /[%$"'\\]/,
      `${key} '${cmd}' uses specifiers or quoting: teach the test to expand them`,
    );
    const argv = cmd.split(/\s+/).filter(Boolean);
    return prefix.includes('+') ? argv : [...creds, ...argv];
  });
}

describe(
  'the Debian package',
  { skip: rootSkip() || toolSkip('debootstrap', 'debootstrap') || toolSkip('dpkg-deb', 'dpkg') },
  () => {
    const tmp = packageScratch();
    const client = netnsName(PREFIX, 'pc');
    const lb = netnsName(PREFIX, 'pl');
    const procs: Proc[] = [];
    let root: DebianChroot | undefined;
    let first: Build;
    let next: Build;

    const chroot = () => {
      assert.ok(root, 'the Debian root exists');
      return root;
    };
    const track = (p: Proc) => {
      procs.push(p);
      return p;
    };
    /** Round trips from the client to the service: the JSON of udp-client-cli. */
    const roundTrips = (count: number, sockets: number) =>
      JSON.parse(
        nsSh(client, process.execPath, [
          helperScript('udp-client-cli.js'),
          VIP,
          String(PORT),
          String(count),
          String(sockets),
        ]),
      ) as RoundTripResult;
    const serviceConfig = () =>
      [
        'interface: l0',
        'xdp_mode: native',
        'services:',
        '  - name: pkg',
        `    vip: ${VIP}`,
        `    port: ${PORT}`,
        '    mode: local',
        '    scheduler: round-robin',
        '    backends:',
        ...BACKEND_PORTS.map((p) => `      - { address: ${VIP}, port: ${p} }`),
        '',
      ].join('\n');
    const installInRoot = (build: Build) => {
      copyFileSync(build.deb, chroot().path(`/tmp/${build.deb.split('/').pop()}`));
      const t0 = performance.now();
      const out = chroot().sh(['apt-get', 'install', '-y', `/tmp/${build.deb.split('/').pop()}`], {
        timeoutMs: 10 * MINUTES,
      });
      return { out, seconds: (performance.now() - t0) / 1000 };
    };

    before(
      async () => {
        removeStaleNetns(PREFIX);
        first = buildPackage(REPO, join(tmp, 'a'));
        next = buildPackage(REPO, join(tmp, 'c'), { XLB_DEB_VERSION: `${first.version}+test1` });
        root = DebianChroot.create(debianRootTarball());

        // The load balancer's namespace (l0, where xlb attaches) and a client (c0).
        createNetns(client);
        createNetns(lb);
        sh('ip', ['link', 'add', 'c0', 'netns', client, 'type', 'veth', 'peer', 'name', 'l0', 'netns', lb]);
        nsSh(client, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'c0']);
        nsSh(lb, 'ip', ['addr', 'add', `${VIP}/24`, 'dev', 'l0']);
        nsSh(client, 'ip', ['link', 'set', 'c0', 'up']);
        nsSh(lb, 'ip', ['link', 'set', 'l0', 'up']);
        nsSh(client, 'ethtool', ['-K', 'c0', 'tx', 'off']); // full checksums, as from a NIC
        // The backends: echo servers of this checkout (they are not what is tested).
        const ports = BACKEND_PORTS.flatMap((p) => ['-p', String(p)]);
        const echo = track(
          Proc.start(lb, process.execPath, [CLI, 'echo-server', '--address', VIP, ...ports, '--quiet']),
        );
        await echo.waitFor(/^listening/);
      },
      { timeout: 15 * MINUTES },
    );

    after(async () => {
      for (const p of procs.reverse()) await p.stop('SIGKILL');
      try {
        root?.destroy();
      } finally {
        deleteNetns(client);
        deleteNetns(lb);
        rmSync(tmp, { recursive: true, force: true });
      }
    });

    it(
      'installs on a fresh Debian 12 with apt-get and forwards with `xlb run`',
      { timeout: 20 * MINUTES },
      async () => {
        const r = chroot();
        assert.equal(
          r.run(['sh', '-c', 'command -v node nodejs clang clang-14']).stdout,
          '',
          'no Node or clang in the root',
        );
        const tUpdate = performance.now();
        r.sh(['apt-get', 'update', '-qq'], { timeoutMs: 10 * MINUTES });
        const updateSeconds = (performance.now() - tUpdate) / 1000;

        const t0 = performance.now();
        const install = installInRoot(first);
        assert.deepEqual(r.processes(), [], 'the install started nothing');
        writeFileSync(r.path('/root/run-test.yaml'), serviceConfig());
        const run = track(
          r.spawn(lb, [
            'xlb',
            'run',
            '--config',
            '/root/run-test.yaml',
            '--instance',
            'pkgtest',
            '--interval',
            '0',
          ]),
        );
        await run.waitFor(/^xlb: attached to l0 \(native\)/, 60_000);
        let firstEcho: RoundTripResult | undefined;
        for (let i = 0; i < 10 && !firstEcho?.received; i++) firstEcho = roundTrips(1, 1);
        const toForwarding = (performance.now() - t0) / 1000;
        assert.equal(firstEcho?.received, 1, 'the first datagram came back');

        const res = roundTrips(300, 6);
        assert.equal(res.lost, 0);
        assert.deepEqual(
          res.replySources,
          { [`${VIP}:${PORT}`]: 300 },
          'every reply from the service address',
        );
        assert.equal(await run.stop('SIGINT'), 0, run.stderr.join('\n'));
        assert.doesNotMatch(nsSh(lb, 'ip', ['link', 'show', 'l0']), /xdp/, 'xlb run detached on exit');

        const pulled = newPackages(install.out);
        assert.ok(
          pulled.includes('xlb') && pulled.includes('libbpf1'),
          `apt-get installed ${pulled.join(' ')}:\n${install.out}`,
        );
        const installedKib = Number(r.sh(['dpkg-query', '-W', '-f=${Installed-Size}', 'xlb']));
        console.log(
          `# package: ${mb(statSync(first.deb).size)} .deb, ${mb(installedKib * 1024)} installed; ` +
            `apt-get install ${install.seconds.toFixed(1)} s (new: ${pulled.join(' ')}; apt-get update before it ${updateSeconds.toFixed(1)} s); ` +
            `install to first forwarded datagram ${toForwarding.toFixed(1)} s`,
        );
      },
    );

    it('the installed files: --version, the shipped config validates, user, unit, conffile', () => {
      const r = chroot();
      assert.equal(r.sh(['xlb', '--version']).trim(), first.version);
      assert.match(r.sh(['xlb', 'validate', '/etc/xlb/xlb.yaml']), /ok/);
      const [, , uid, gid] = r.sh(['getent', 'passwd', 'xlb']).trim().split(':');
      assert.ok(Number(uid) < 1000, `xlb is a system user (uid ${uid})`);
      assert.equal(r.sh(['getent', 'group', 'xlb']).trim().split(':')[2], gid, 'its group is xlb');
      assert.equal(
        readFileSync(r.path('/lib/systemd/system/xlb.service'), 'utf8'),
        readFileSync(join(REPO, 'contrib/xlb.service'), 'utf8'),
        'the unit of contrib/',
      );
      assert.match(
        r.sh(['dpkg-query', '-W', '-f=${Conffiles}', 'xlb']),
        /^ \/etc\/xlb\/xlb\.yaml [0-9a-f]{32}$/m,
      );
    });

    it('every library it loads and every program it runs belongs to a package of Depends', () => {
      const r = chroot();
      const depends = dependsNames(r.sh(['dpkg-query', '-W', '-f=${Depends}', 'xlb']));
      const lib = '/usr/lib/xlb';
      const paths = new Set<string>();
      for (const elf of [
        `${lib}/node`,
        `${lib}/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node`,
      ]) {
        const ldd = r.sh(['ldd', elf]);
        assert.doesNotMatch(ldd, /not found/, `${elf}: ${ldd}`);
        for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) paths.add(m[1]!);
      }
      // Libraries the code opens with koffi.load, read from the shipped bundle itself.
      const bundle = readFileSync(r.path(`${lib}/dist/src/cli/main.js`), 'utf8');
      const opened = [...bundle.matchAll(/\.load\("(lib[^"]+\.so[.\d]*)"\)/g)].map((m) => m[1]!);
      assert.ok(opened.includes('libbpf.so.1'), `the bundle loads ${opened.join(', ')}`);
      const cache = r.sh(['ldconfig', '-p']);
      for (const so of opened) {
        const m = new RegExp(`^\\s+${so.replace(/\./g, '\\.')} \\(libc6,x86-64\\) => (\\S+)$`, 'm').exec(
          cache,
        );
        assert.ok(m, `${so} is in the root's library cache`);
        paths.add(m[1]!);
      }
      paths.add(r.sh(['sh', '-c', 'command -v ip']).trim()); // probe routes of dsr health checks
      const owners = new Map<string, string>();
      for (const p of paths) {
        const alt = p.startsWith('/usr/') ? p.slice(4) : `/usr${p}`; // merged /usr: either spelling
        const found =
          r.run(['dpkg', '-S', p]).status === 0 ? r.sh(['dpkg', '-S', p]) : r.sh(['dpkg', '-S', alt]);
        owners.set(p, found.split(':')[0]!);
      }
      const missing = [...owners].filter(([, pkg]) => !depends.has(pkg));
      assert.deepEqual(missing, [], `Depends: ${[...depends].join(', ')}`);
      console.log(`# loads ${[...new Set(owners.values())].sort().join(', ')}: all in Depends`);
    });

    it(
      'the unit’s daemon forwards while a newer build is installed and it is restarted: 0 lost',
      { timeout: 20 * MINUTES },
      async () => {
        const r = chroot();
        const unit = new Unit(readFileSync(r.path('/lib/systemd/system/xlb.service'), 'utf8'));
        const pre = unitCommands(unit, 'ExecStartPre');
        const [start] = unitCommands(unit, 'ExecStart');
        assert.ok(start, 'the unit has an ExecStart');
        writeFileSync(r.path('/etc/xlb/xlb.yaml'), serviceConfig());
        /** What systemd does on start: ExecStartPre (each must succeed), then ExecStart until ready;
         * as the unit's user with its capabilities where the unit says so. */
        const startDaemon = async () => {
          for (const cmd of pre) r.sh(cmd, { ns: lb });
          const p = track(r.spawn(lb, start));
          await p.waitFor(/"event":"ready"/, 60_000);
          return p;
        };
        let daemon = await startDaemon();
        const user = unit.directive('User')[0];
        if (user !== undefined) {
          const uid = r.sh(['id', '-u', user]).trim();
          const status = readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8');
          assert.match(
            status,
            new RegExp(`^Uid:\\s+${uid}\\s`, 'm'),
            `the daemon runs as ${user} (uid ${uid})`,
          );
        }

        // Ended by SIGTERM once the new daemon serves; the duration only bounds it.
        const flows = track(
          Proc.start(client, process.execPath, [
            helperScript('udp-flows-cli.js'),
            VIP,
            String(PORT),
            '20',
            '43000',
            String(5 * MINUTES),
            '20',
          ]),
        );
        const t0 = performance.now();
        await new Promise((res) => setTimeout(res, 1500));
        const upgrade = installInRoot(next);
        assert.match(
          upgrade.out,
          new RegExp(
            `Unpacking xlb \\(${next.version.replace(/[+.]/g, '\\$&')}\\) over \\(${first.version.replace(/[+.]/g, '\\$&')}\\)`,
          ),
        );
        // postinst's `deb-systemd-invoke try-restart xlb.service`, as systemd carries it out:
        // SIGTERM to the running daemon (it was running, so it is restarted), then a start.
        assert.equal(await daemon.stop('SIGTERM'), 0, daemon.stderr.join('\n'));
        daemon = await startDaemon();
        const restartedAt = performance.now() - t0;
        const status = JSON.parse(r.sh(['xlb', 'status', '--json'], { ns: lb })) as {
          version: string;
          adopted: boolean;
        };
        assert.equal(status.version, next.version, 'the new build serves');
        assert.equal(status.adopted, true, 'it adopted the pinned data plane');

        await new Promise((res) => setTimeout(res, 2000)); // the new daemon's programs serve too
        assert.equal(await flows.stop('SIGTERM'), 0, flows.stderr.join('\n'));
        const counts = Object.values(
          JSON.parse(flows.lines.find((l) => l.startsWith('{'))!) as Record<
            string,
            { sent: number; received: number }
          >,
        ).reduce((a, c) => ({ sent: a.sent + c.sent, received: a.received + c.received }), {
          sent: 0,
          received: 0,
        });
        assert.ok(counts.sent > 200, `${counts.sent} datagrams sent`);
        assert.equal(counts.sent - counts.received, 0, 'datagrams lost across the upgrade');
        console.log(
          `# upgrade ${first.version} -> ${next.version} under traffic: apt-get install ${upgrade.seconds.toFixed(1)} s, ` +
            `restarted after ${(restartedAt / 1000).toFixed(1)} s; ${counts.sent} datagrams, ${counts.sent - counts.received} lost`,
        );
        assert.equal(
          await daemon.stop('SIGTERM'),
          0,
          'the daemon stops (as prerm would have systemd stop it)',
        );
      },
    );

    it(
      'removal detaches the data plane and keeps the config; purge removes it',
      { timeout: 10 * MINUTES },
      () => {
        const r = chroot();
        assert.ok(
          existsSync(r.path('/sys/fs/bpf/xlb/default')),
          'the stopped daemon left its pins (forwarding goes on)',
        );
        assert.match(nsSh(lb, 'ip', ['link', 'show', 'l0']), /xdp/);
        r.sh(['apt-get', 'remove', '-y', 'xlb'], { ns: lb, timeoutMs: 5 * MINUTES });
        assert.equal(existsSync(r.path('/sys/fs/bpf/xlb/default')), false, 'pins removed (xlb down)');
        assert.doesNotMatch(nsSh(lb, 'ip', ['link', 'show', 'l0']), /xdp/, 'XDP detached');
        assert.equal(existsSync(r.path('/usr/bin/xlb')), false);
        assert.ok(existsSync(r.path('/etc/xlb/xlb.yaml')), 'the conffile stays until purge');
        r.sh(['apt-get', 'purge', '-y', 'xlb'], { timeoutMs: 5 * MINUTES });
        assert.equal(existsSync(r.path('/etc/xlb')), false, 'purge removed /etc/xlb and the API token');
        assert.equal(r.run(['getent', 'passwd', 'xlb']).status, 0, 'the system user stays (Debian practice)');
      },
    );
  },
);
