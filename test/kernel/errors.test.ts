// Kernel failures reach the operator as typed errors with errno, operation and a
// hint: a verifier rejection with its log, a missing interface, a busy interface
// (naming the program that holds it), a non-root user, a driver without native XDP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { KernelError, VerifierError, hintFor, kernelError, verifierTail } from '../../src/kernel/errors.js';
import { BpfObject } from '../../src/kernel/object.js';
import { nsArgv, nsSh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc } from '../helpers/proc.js';

const E = constants.errno;
const fixture = (name: string) => fileURLToPath(new URL(`../../bpf/test/${name}.bpf.o`, import.meta.url));

/** Runs the CLI inside `ns`, optionally under a wrapper command (e.g. setpriv). */
function cli(ns: string | undefined, args: string[], wrapper: string[] = []) {
  const [first, ...rest] = [...wrapper, process.execPath, CLI, ...args];
  const [cmd, argv] = nsArgv(ns, first!, rest);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('kernel errors', () => {
  it('carry the operation, the errno name and a hint', () => {
    const e = kernelError('bpf_map_create(services)', -E.ENOMEM);
    assert.ok(e instanceof KernelError);
    assert.equal(e.errno, E.ENOMEM);
    assert.equal(e.code, 'ENOMEM');
    assert.match(e.message, /^bpf_map_create\(services\): ENOMEM — .*memory/);
  });

  it('give each cause its own hint', () => {
    assert.match(hintFor('load', E.ENOSYS), /CONFIG_BPF_SYSCALL/);
    assert.match(hintFor('attach xdp', E.EOPNOTSUPP), /--mode generic/);
    assert.match(hintFor('attach', E.EBUSY), /--force/);
    assert.match(hintFor('load dist/bpf/xlb.bpf.o', E.EAGAIN), /signals .*profiler/);
    assert.match(hintFor('pin map', E.ENOENT), /bpffs/);
    assert.match(hintFor('if', E.ENODEV), /ip link/);
    assert.match(
      hintFor('load', E.EPERM),
      process.getuid?.() === 0 ? /refused although xlb has the capabilities/ : /CAP_BPF .*missing/,
    );
  });

  it('keep the useful tail of a verifier log', () => {
    const log = [
      '0: (61) r2 = *(u32 *)(r1 +0)',
      '1: (71) r0 = *(u8 *)(r2 +20)',
      'invalid access to packet, off=20 size=1, R2(id=0,off=20,r=0)',
      'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '',
    ].join('\n');
    const tail = verifierTail(log);
    assert.match(tail, /invalid access to packet/);
    assert.doesNotMatch(tail, /processed 2 insns/);
  });
});

describe('kernel errors from a real kernel', { skip: rootSkip() }, () => {
  const PREFIX = 'xlbt-';
  const ns = netnsName(PREFIX, 'err');
  before(() => {
    removeStaleNetns(PREFIX);
    createNetns(ns);
  });
  after(() => deleteNetns(ns));

  it('a program the verifier rejects is a VerifierError with the log', () => {
    const obj = BpfObject.open(fixture('bad'));
    try {
      assert.throws(
        () => obj.load(),
        (e: unknown) => {
          assert.ok(e instanceof VerifierError, String(e));
          assert.equal(e.program, 'unchecked_read');
          assert.equal(e.code, 'EACCES');
          assert.match(e.log, /invalid access to packet/);
          assert.match(e.message, /rejected by the verifier/);
          assert.match(e.message, /invalid access to packet/, 'the message ends with the reason');
          return true;
        },
      );
    } finally {
      obj.close();
    }
  });

  it('a missing interface is named, before anything is loaded', () => {
    const r = cli(ns, ['run', '--iface', 'nosuch0', '--instance', `err-${process.pid}`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /interface 'nosuch0' does not exist in this network namespace/);
  });

  it('a user without privileges is told which capabilities are missing, and the whole set', () => {
    const r = cli(
      ns,
      ['run', '--instance', `err-${process.pid}`],
      ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /CAP_BPF and CAP_NET_ADMIN are missing \(xlb runs as uid 65534 \(nobody\) without them\): run xlb as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON/,
    );
  });

  it('native mode on lo fails with a hint to use generic mode', () => {
    const r = cli(ns, ['run', '--mode', 'native', '--instance', `err-${process.pid}`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /EOPNOTSUPP.*--mode generic/);
  });

  it('an interface with another XDP program is refused, naming it; --force replaces it', async () => {
    nsSh(ns, 'ip', ['link', 'set', 'dev', 'lo', 'xdpgeneric', 'obj', fixture('foreign'), 'sec', 'xdp']);
    const refused = cli(ns, ['run', '--instance', `err-${process.pid}`]);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /interface lo already has XDP program 'foreign_xdp' \(id \d+, generic mode\)/,
    );
    assert.match(refused.stderr, /--force/);
    assert.match(
      nsSh(ns, 'ip', ['link', 'show', 'lo']),
      /prog\/xdp id \d+/,
      'the foreign program is still there',
    );

    const forced = Proc.start(ns, process.execPath, [
      CLI,
      'run',
      '--force',
      '--interval',
      '0',
      '--instance',
      `err-${process.pid}`,
    ]);
    try {
      await forced.waitFor(/^xlb: attached to lo/);
      const show = nsSh(ns, 'ip', ['-details', 'link', 'show', 'lo']);
      assert.match(show, /xlb_xdp/);
      assert.doesNotMatch(show, /foreign_xdp/);
    } finally {
      assert.equal(await forced.stop(), 0);
    }
    assert.doesNotMatch(nsSh(ns, 'ip', ['link', 'show', 'lo']), /xdp/);
  });
});
