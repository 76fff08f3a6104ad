// Capabilities: reading CapEff, what each kind of kernel operation needs, and hints that name
// exactly the missing capability (the lab test least-privilege.test.ts sees them from a real
// kernel). Permission errors on files name the path, its owner and mode, and the fix.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { capsForOp, hintFor, pinError } from '../../src/kernel/errors.js';
import {
  type CapName,
  XLB_CAPS,
  capList,
  capsFromMask,
  effectiveCaps,
  missingCaps,
} from '../../src/util/caps.js';
import { accessHint } from '../../src/util/users.js';

const E = constants.errno;
const caps = (...names: CapName[]) => new Set<CapName>(names);

describe('capabilities', () => {
  it('are read from a CapEff mask: bit 39 is CAP_BPF, 38 CAP_PERFMON, 12 CAP_NET_ADMIN', () => {
    assert.deepEqual([...capsFromMask('000000c000001000')].sort(), [
      'CAP_BPF',
      'CAP_NET_ADMIN',
      'CAP_PERFMON',
    ]);
    assert.deepEqual([...capsFromMask('0000000000000000')], []);
    // Root here lacks CAP_SYS_RESOURCE (bit 24): the mask this machine's root has.
    const root = capsFromMask('000001fffeffffff');
    assert.ok(root.has('CAP_BPF') && root.has('CAP_SYS_ADMIN') && !root.has('CAP_SYS_RESOURCE'));
  });

  it('come from the CapEff line of /proc/PID/status', () => {
    const status =
      'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t0000008000001000\nCapBnd:\t000001ffffffffff\n';
    assert.deepEqual([...(effectiveCaps(status) ?? [])].sort(), ['CAP_BPF', 'CAP_NET_ADMIN']);
    assert.equal(effectiveCaps('Name:\tnode\n'), undefined);
    assert.ok(effectiveCaps() instanceof Set, 'this process has a CapEff line');
  });

  it('CAP_SYS_ADMIN still grants CAP_BPF and CAP_PERFMON, not CAP_NET_ADMIN', () => {
    assert.deepEqual(missingCaps(XLB_CAPS, caps('CAP_SYS_ADMIN')), ['CAP_NET_ADMIN']);
    assert.deepEqual(missingCaps(XLB_CAPS, caps(...XLB_CAPS)), []);
    assert.deepEqual(missingCaps(XLB_CAPS, caps()), XLB_CAPS);
  });

  it('lists names as prose', () => {
    assert.equal(capList(['CAP_BPF']), 'CAP_BPF');
    assert.equal(capList(['CAP_BPF', 'CAP_PERFMON']), 'CAP_BPF and CAP_PERFMON');
    assert.equal(capList(XLB_CAPS), 'CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON');
  });
});

describe('what each kernel operation needs', () => {
  // The operations as the kernel layer names them (src/kernel/*.ts).
  const cases: [string, CapName[]][] = [
    ['load /usr/lib/xlb/bpf/xlb.bpf.o', ['CAP_BPF', 'CAP_NET_ADMIN']],
    ['bpf_map_create(services)', ['CAP_BPF', 'CAP_NET_ADMIN']],
    ['attach XDP (native mode) to eth0', ['CAP_NET_ADMIN']],
    ['attach TC egress program to eth0 (tcx)', ['CAP_NET_ADMIN']],
    ['detach XDP link on eth0', ['CAP_NET_ADMIN']],
    ['update TC ingress link on eth0', ['CAP_NET_ADMIN']],
    ["detach XDP program 'foreign' from ifindex 3", ['CAP_NET_ADMIN']],
    ['find bpf_links by id (bpf_link_get_next_id)', ['CAP_SYS_ADMIN']],
    ['setns(/run/netns/x)', ['CAP_SYS_ADMIN']],
    ['bpf_map_update_batch(services)', ['CAP_BPF']],
  ];
  for (const [op, need] of cases) {
    it(`${op}: ${need.join(' + ')}`, () => assert.deepEqual(capsForOp(op), need));
  }

  it('an EPERM names the capability that is missing, and only that one', () => {
    const load = 'load /usr/lib/xlb/bpf/xlb.bpf.o';
    assert.match(
      hintFor(load, E.EPERM, caps('CAP_BPF', 'CAP_PERFMON')),
      /^CAP_NET_ADMIN is missing \(xlb runs as .* without it\): run xlb as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON \(systemd: AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON/,
    );
    assert.match(hintFor(load, E.EPERM, caps('CAP_NET_ADMIN', 'CAP_PERFMON')), /^CAP_BPF is missing /);
    assert.match(hintFor(load, E.EPERM, caps()), /^CAP_BPF and CAP_NET_ADMIN are missing .*without them/);
    assert.match(
      hintFor('attach XDP (native mode) to eth0', E.EPERM, caps('CAP_BPF')),
      /^CAP_NET_ADMIN is missing/,
    );
    assert.match(
      hintFor('find bpf_links by id (bpf_link_get_next_id)', E.EPERM, caps(...XLB_CAPS)),
      /^CAP_SYS_ADMIN is missing .*run this step as root/,
    );
  });

  it('with every capability there, EPERM points at policy, not at capabilities', () => {
    assert.match(
      hintFor('load x.bpf.o', E.EPERM, caps(...XLB_CAPS)),
      /refused although xlb has the capabilities .*unprivileged_bpf_disabled.*seccomp/,
    );
  });
});

describe('permission errors on files', () => {
  it('name the path, its owner and mode, who xlb runs as, and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-caps-'));
    try {
      const sub = join(dir, 'xlb');
      mkdirSync(sub);
      chmodSync(sub, 0o750);
      const h = accessHint(join(sub, 'default'), 'FIX');
      assert.match(
        h,
        new RegExp(
          `^${sub} \\(where ${sub}/default would be made\\) is owned by \\S+:\\S+ with mode 0750, and xlb runs as uid \\d+.*: FIX$`,
        ),
      );
      assert.match(accessHint(sub, 'FIX'), new RegExp(`^${sub} is owned by .* mode 0750`));
      const make = pinError(`pin map 'services' at ${sub}/m`, -E.EACCES, `${sub}/m`, 'make');
      assert.match(
        make.message,
        /^pin map 'services' at .*: EACCES — .* mode 0750.*: as root, run `xlb prepare --user /,
      );
      const open = pinError(`open pinned map ${sub} (bpf_obj_get)`, -E.EACCES, sub, 'open');
      assert.match(open.message, /run this as root or as the pin's owner, ask the daemon over its API/);
      assert.equal(pinError('pin', -E.EEXIST, sub, 'make').code, 'EEXIST', 'other errors keep their hint');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
