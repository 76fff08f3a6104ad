// Least privilege, in a dsr lab: `xlb run` and `xlb daemon` as uid 65534 with exactly the
// capabilities contrib/xlb.service grants (read from the unit) load, attach, forward and reload;
// the daemon does so inside the unit's sandbox as far as it can be emulated without systemd
// (test/helpers/unit-sandbox.ts), its health checks install dsr policy routes, and what it used
// (system calls, address families) is what the unit allows; a restart adopts. With each
// capability taken away in turn, the error names it and nothing stays attached; a bpffs
// directory it may not write is named with its owner and the fix. The API socket's group: a
// member uses the CLI without root, a non-member is refused, a group that cannot be given is
// refused before anything is loaded.
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nsArgv, nsSh, nsSpawn } from '../../src/lab/exec.js';
import { createLab, type Lab } from '../../src/lab/lab.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { XLB_CAPS } from '../../src/util/caps.js';
import { pidAlive } from '../../src/util/host.js';
import { lookupGroup } from '../../src/util/users.js';
import { rootSkip, toolSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript, startListener } from '../helpers/proc.js';
import { Unit, allowedSyscalls, asNobody, sandboxScript, tracedUse } from '../helpers/unit-sandbox.js';
import { tcPathLabel } from '../helpers/tc-path.js';

/** The checkout the test runs xlb from (dist/src/cli/main.js lies three levels down). */
const INSTALL = resolve(dirname(CLI), '../../..');

const PREFIX = 'xlbp-';
const PORT = 5300;
const HEALTH = '{ type: udp, interval: 500ms, timeout: 300ms, rise: 2, fall: 2 }';
/** A group every Debian system has; the test changes nothing about it. */
const SOCKET_GROUP = 'users';
/** A user that is not the daemon's (65534), for the CLI: it reaches the socket through the group only. */
const OTHER_UID = 65533;
/** Where the test keeps what the unit keeps in /etc/xlb, /run/xlb and /sys/fs/bpf (not /tmp: PrivateTmp hides it). */
const BASE_PREFIX = 'xlbt-lp-';

/** Removes what an earlier run of this test that died left (its pid is in the names). */
function removeStale(): void {
  for (const dir of ['/run', '/sys/fs/bpf']) {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const pid = Number(/^xlbt-lp-(\d+)$/.exec(name)?.[1]);
      if (pid > 0 && !pidAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

describe(
  `least privilege: xlb as uid 65534 with the capabilities of contrib/xlb.service ${tcPathLabel()}`,
  { skip: rootSkip() },
  () => {
    const unit = new Unit();
    const caps = unit.caps;
    const base = `/run/${BASE_PREFIX}${process.pid}`;
    const etc = join(base, 'etc');
    const run = join(base, 'run');
    const trace = join(base, 'trace');
    const bpffs = `/sys/fs/bpf/${BASE_PREFIX}${process.pid}`;
    const env = {
      ...process.env,
      XLB_BPFFS: bpffs,
      XLB_RUN_DIR: run,
      XLB_TOKEN_FILE: join(etc, 'api-token'),
    };
    const configPath = join(etc, 'xlb.yaml');
    const runInstance = `lp-run-${process.pid}`;
    const daemonInstance = `lp-daemon-${process.pid}`;
    const procs: Proc[] = [];
    const group = lookupGroup(SOCKET_GROUP);
    let lab: Lab;

    /** The unit's paths as this test has them. */
    const local = (s: string) => {
      const to: Record<string, string> = {
        '/etc/xlb': etc,
        '/sys/fs/bpf': bpffs,
        '/run/xlb': run,
        xlbadm: SOCKET_GROUP,
      };
      return s.replace(/\/etc\/xlb|\/sys\/fs\/bpf|\/run\/xlb|xlbadm/g, (m) => to[m] ?? m);
    };
    /** An xlb command line of the unit (its commented socket-group example when `example`), for this test. */
    const unitArgs = (key: 'ExecStartPre' | 'ExecStart', example: boolean): string[] => {
      const lines = example
        ? unit.text
            .split('\n')
            .map((l) => new RegExp(`^#\\s+${key}=(.*)$`).exec(l)?.[1])
            .filter((l): l is string => l !== undefined)
        : unit.directive(key);
      const line = lines.find((l) => (key === 'ExecStartPre' ? l.startsWith('+') : true));
      assert.ok(line, `the unit has a ${key} line`);
      const argv = local(line).replace(/^\+/, '').split(/\s+/);
      assert.deepEqual(argv.slice(0, 2), ['/usr/bin/env', 'xlb']);
      return argv.slice(2);
    };
    /** The daemon's command line: the unit's example with the socket group, a test instance, no watch. */
    const daemonArgs = () => [...unitArgs('ExecStart', true), '--instance', daemonInstance, '--no-watch'];

    /** Runs `node CLI ARGS` in the LB's namespace under `wrapper` to completion. */
    const xlb = (args: string[], wrapper: string[] = [], timeout = 60_000) => {
      const [cmd, argv] = nsArgv(lab.lb.ns, wrapper[0] ?? process.execPath, [
        ...wrapper.slice(1),
        ...(wrapper.length ? [process.execPath] : []),
        CLI,
        ...args,
      ]);
      const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout, env });
      return { status: r.status, out: r.stdout, err: r.stderr };
    };
    /** Starts `node CLI ARGS` in the LB's namespace under `wrapper`. */
    const start = (args: string[], wrapper: string[]): Proc => {
      const p = new Proc(
        nsSpawn(lab.lb.ns, wrapper[0]!, [...wrapper.slice(1), process.execPath, CLI, ...args], { env }),
      );
      procs.push(p);
      return p;
    };
    /**
     * Starts `cmd` in the LB's namespace inside the unit's sandbox: a private mount namespace with
     * ReadWritePaths= and RuntimeDirectory= writable (and the trace directory, for strace only).
     */
    const startSandboxed = (cmd: string[]): Proc => {
      const writable = [...unit.directive('ReadWritePaths').map(local), run, trace];
      const script = sandboxScript(writable, unit.directive('UMask')[0] ?? '0022', [INSTALL]);
      const argv = ['--mount', '--propagation', 'private', '--', 'sh', '-ec', script, 'sandbox', ...cmd];
      const p = new Proc(nsSpawn(lab.lb.ns, 'unshare', argv, { env }));
      procs.push(p);
      return p;
    };

    const roundTrips = (family: 'v4' | 'v6', count = 200): RoundTripResult =>
      JSON.parse(
        nsSh(lab.clients[0]!.ns, process.execPath, [
          helperScript('udp-client-cli.js'),
          lab.vip[family],
          String(PORT),
          String(count),
          '4',
        ]),
      ) as RoundTripResult;
    const forwardsBothFamilies = () => {
      for (const f of ['v4', 'v6'] as const) {
        const r = roundTrips(f);
        assert.equal(r.lost, 0, `IPv${f === 'v4' ? 4 : 6}: lost ${r.lost} of ${r.sent}`);
      }
    };
    const xdpOnLb = () => nsSh(lab.lb.ns, 'ip', ['link', 'show', lab.lb.interfaces[0]!.ifname]);

    before(async () => {
      assert.ok(group, `group ${SOCKET_GROUP} exists`);
      assert.deepEqual(caps, [...XLB_CAPS], 'the unit grants what xlb needs');
      assert.deepEqual(unit.directive('CapabilityBoundingSet'), [caps.join(' ')]);
      removeStaleNetns(PREFIX);
      removeStale();
      lab = createLab({ prefix: `${PREFIX}${process.pid}-`, mode: 'dsr', backends: 2 });
      for (const l of lab.listeners({ port: PORT })) procs.push(await startListener(l, { quiet: true }));
      for (const d of [etc, trace]) mkdirSync(d, { recursive: true, mode: 0o755 });
      chmodSync(base, 0o755);
      writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH }), { mode: 0o644 });
      // As a root-run xlb leaves it: the bpffs directory exists and belongs to root.
      mkdirSync(join(bpffs, 'xlb'), { recursive: true, mode: 0o755 });
    });

    after(async () => {
      for (const p of procs) await p.stop('SIGKILL');
      if (lab) {
        for (const instance of [daemonInstance, runInstance]) {
          const [cmd, args] = nsArgv(lab.lb.ns, process.execPath, [CLI, 'down', '--instance', instance]);
          spawnSync(cmd, args, { env });
        }
        lab.destroy();
      }
      rmSync(base, { recursive: true, force: true });
      rmSync(bpffs, { recursive: true, force: true });
    });

    it('a bpffs directory it may not write is named, with its owner, mode and the fix; nothing is attached', () => {
      const r = xlb(['run', '--config', configPath, '--instance', runInstance], asNobody(caps));
      assert.equal(r.status, 1, r.err);
      assert.match(
        r.err,
        new RegExp(
          `cannot make the pin directory ${bpffs}/xlb/${runInstance}: EACCES — ${bpffs}/xlb \\(where .* would be made\\) ` +
            'is owned by root:root with mode 0755, and xlb runs as uid 65534 \\(nobody\\): as root, run `xlb prepare --user nobody`',
        ),
      );
      assert.doesNotMatch(xdpOnLb(), /xdp/);
    });

    it("the unit's root step (xlb prepare) gives the directories and the token file to the user, once", () => {
      const prepare = unitArgs('ExecStartPre', true).map((a) => (a === 'xlb' ? 'nobody' : a));
      assert.deepEqual(prepare.slice(0, 3), ['prepare', '--user', 'nobody']);
      const first = xlb(prepare);
      assert.equal(first.status, 0, first.err);
      assert.match(first.out, new RegExp(`${bpffs}/xlb: owner root:root -> nobody:nogroup`));
      assert.match(first.out, new RegExp(`${etc}/api-token: made a token`));
      const again = xlb(prepare);
      assert.equal(again.status, 0, again.err);
      assert.equal(again.out.trim(), 'xlb: prepare: nothing to change');
      const ls = sh(['stat', '-c', '%U:%G %a', join(etc, 'api-token'), join(bpffs, 'xlb'), run]);
      assert.deepEqual(ls.trim().split('\n'), [
        `nobody:${SOCKET_GROUP} 640`,
        'nobody:nogroup 750',
        'nobody:nogroup 755',
      ]);
    });

    it('xlb run loads, attaches, forwards (IPv4, IPv6), reloads on SIGHUP and detaches on SIGTERM, with 64 KiB of RLIMIT_MEMLOCK', async () => {
      // Megabytes of maps under a 64 KiB RLIMIT_MEMLOCK it cannot raise (no CAP_SYS_RESOURCE): BPF
      // memory is charged to the memory cgroup.
      const p = start(
        ['run', '--config', configPath, '--instance', runInstance, '--interval', '0'],
        ['prlimit', '--memlock=65536:65536', ...asNobody(caps)],
      );
      await p.waitFor(/^xlb: attached to /, 30_000);
      assert.match(xdpOnLb(), /xdp/);
      forwardsBothFamilies();
      writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH, scheduler: 'round-robin' }));
      p.child.kill('SIGHUP');
      await p.waitFor(/^xlb: SIGHUP: config applied/);
      forwardsBothFamilies();
      assert.equal(await p.stop('SIGTERM'), 0, p.stderr.join('\n'));
      assert.doesNotMatch(xdpOnLb(), /xdp/);
      assert.equal(existsSync(join(bpffs, 'xlb', runInstance)), false, 'its pins are gone');
    });

    for (const cap of XLB_CAPS) {
      it(`without ${cap}, xlb run and xlb daemon fail naming it, and leave nothing attached`, () => {
        const fewer = asNobody(caps.filter((c) => c !== cap));
        for (const args of [
          ['run', '--config', configPath, '--instance', runInstance],
          ['daemon', '--config', configPath, '--instance', daemonInstance, '--no-watch', '--no-health'],
        ]) {
          const r = xlb(args, fewer);
          assert.equal(r.status, 1, `${args[0]}: ${r.err}`);
          assert.match(
            r.err,
            new RegExp(`${cap} is missing \\(xlb runs as uid 65534 \\(nobody\\) without it\\)`),
            r.err,
          );
          assert.doesNotMatch(xdpOnLb(), /xdp/);
        }
      });
    }

    it('--api-socket-group: an unknown group, or one the daemon is not in, is refused before anything is loaded', () => {
      const unknown = xlb(
        [
          'daemon',
          '--config',
          configPath,
          '--instance',
          daemonInstance,
          '--api-socket-group',
          'xlb-no-such-group',
        ],
        asNobody(caps, [group!.gid]),
      );
      assert.equal(unknown.status, 2, unknown.err);
      assert.match(unknown.err, /there is no group 'xlb-no-such-group': create it \(addgroup --system/);
      const notMember = xlb(
        ['daemon', '--config', configPath, '--instance', daemonInstance, '--api-socket-group', SOCKET_GROUP],
        asNobody(caps),
      );
      assert.equal(notMember.status, 2, notMember.err);
      assert.match(
        notMember.err,
        new RegExp(`not a member of group ${SOCKET_GROUP}.*SupplementaryGroups=${SOCKET_GROUP}`),
      );
      assert.doesNotMatch(xdpOnLb(), /xdp/);
      assert.equal(existsSync(join(bpffs, 'xlb', daemonInstance)), false);
    });

    describe("xlb daemon in the unit's sandbox", { skip: toolSkip('strace', 'strace') }, () => {
      let daemon: Proc;
      const log = join(trace, 'strace.log');
      // Users other than the daemon's (which owns the socket): one in the socket's group, one not.
      const member = asNobody([], [group?.gid ?? 100], OTHER_UID);
      const nonMember = asNobody([], [], OTHER_UID);
      /** SIGTERM to the daemon itself (under strace, the process started is strace); its exit code. */
      const stopDaemon = async (p: Proc): Promise<number | null> => {
        const state = JSON.parse(readFileSync(join(run, `${daemonInstance}.json`), 'utf8')) as {
          pid: number;
        };
        process.kill(state.pid, 'SIGTERM');
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
        const code = await p.wait();
        clearTimeout(timer);
        return code;
      };

      before(async () => {
        writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH }));
        const user = asNobody(caps, [group!.gid]); // SupplementaryGroups= of the example
        daemon = startSandboxed([
          'strace',
          '-f',
          '-qq',
          '-o',
          log,
          ...user,
          process.execPath,
          CLI,
          ...daemonArgs(),
        ]);
        await daemon.waitFor(/"event":"ready"/, 90_000);
      });

      it('health checks find the dsr backends healthy through policy routes it installs', async () => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const r = xlb(['service', 'show', 'lab-v4', '--instance', daemonInstance, '--json'], member);
          assert.equal(r.status, 0, r.err);
          const backends = (JSON.parse(r.out) as { backends: { health: string }[] }).backends;
          if (backends.every((b) => b.health === 'healthy')) break;
          assert.ok(Date.now() < deadline, `backends still ${backends.map((b) => b.health).join(', ')}`);
          await new Promise((res) => setTimeout(res, 200));
        }
        assert.match(nsSh(lab.lb.ns, 'ip', ['rule', 'show']), /lookup \d+ proto 245/);
      });

      it('forwards IPv4 and IPv6', () => forwardsBothFamilies());

      it("a member of the socket's group uses the CLI without root; a non-member is refused", () => {
        const st = sh(['stat', '-c', '%G %a', join(run, `${daemonInstance}.sock`)]).trim();
        assert.equal(st, `${SOCKET_GROUP} 660`);
        const ok = xlb(['status', '--instance', daemonInstance, '--json'], member);
        assert.equal(ok.status, 0, ok.err);
        assert.equal((JSON.parse(ok.out) as { instance: string }).instance, daemonInstance);
        const refused = xlb(['status', '--instance', daemonInstance], nonMember);
        assert.equal(refused.status, 1);
        assert.match(refused.err, /EACCES.*member of the socket's group/);
      });

      it('reloads a changed file (xlb config reload by a member)', () => {
        const generation = () => {
          const r = xlb(['status', '--instance', daemonInstance, '--json'], member);
          assert.equal(r.status, 0, r.err);
          return (JSON.parse(r.out) as { generation: number }).generation;
        };
        const before = generation();
        writeFileSync(configPath, lab.xlbConfig({ port: PORT, health: HEALTH, scheduler: 'round-robin' }));
        const r = xlb(['config', 'reload', '--instance', daemonInstance, '--json'], member);
        assert.equal(r.status, 0, r.err);
        assert.equal((JSON.parse(r.out) as { generation: number }).generation, before + 1);
        forwardsBothFamilies();
      });

      it('used no system call and no address family that the unit forbids', async () => {
        assert.equal(await stopDaemon(daemon), 0, daemon.stderr.join('\n'));
        const used = tracedUse(readFileSync(log, 'utf8'), process.execPath);
        const allowed = allowedSyscalls(unit.directive('SystemCallFilter').flatMap((f) => f.split(/\s+/)));
        assert.ok(used.syscalls.has('bpf') && used.syscalls.size > 30, [...used.syscalls].join(' '));
        assert.deepEqual(
          [...used.syscalls].filter((s) => !allowed.has(s)),
          [],
          'outside SystemCallFilter=',
        );
        const families = new Set((unit.directive('RestrictAddressFamilies')[0] ?? '').split(/\s+/));
        assert.ok(
          used.families.has('AF_NETLINK') && used.families.has('AF_UNIX'),
          [...used.families].join(' '),
        );
        assert.deepEqual(
          [...used.families].filter((f) => !families.has(f)),
          [],
          'outside RestrictAddressFamilies=',
        );
      });

      it('a restart in the same sandbox adopts the pinned data plane and forwards', async () => {
        const again = startSandboxed([
          ...asNobody(caps, [group!.gid]),
          process.execPath,
          CLI,
          ...daemonArgs(),
        ]);
        const ready = await again.waitFor(/"event":"ready"/, 60_000);
        assert.match(ready, /"adopted":true/);
        forwardsBothFamilies();
        assert.equal(await stopDaemon(again), 0, again.stderr.join('\n'));
      });
    });
  },
);

/** Runs a command here to completion; its stdout. */
function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
