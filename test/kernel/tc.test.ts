// Classic TC, xlb's fallback where the kernel has no tcx: a clsact qdisc with direct-action
// bpf filters at xlb's slot (handle 0x786c62, priority 30828), on a veth in a namespace of
// the test's own. What xlb finds there stays: an operator's qdisc and filters are never
// deleted, a filter of anybody else at xlb's priority is a conflict named with its fix, and
// the qdisc goes only if xlb made it and nothing else is left in it. A program of xlb's own at
// the slot is replaced in place (that no packet finds the hook empty meanwhile is shown under
// traffic by test/lab/daemon.test.ts).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { XLB_TC_SLOT, attachTcHook, removeClassicTc } from '../../src/control/attachments.js';
import { inNetns } from '../../src/kernel/netns.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { ProgType, loadConstantProgram, progInfoByFd, type BpfProgramFd } from '../../src/kernel/program.js';
import {
  TcSlotBusyError,
  attachClassicTc,
  classicTcProgram,
  tcFilters,
  type ClassicTcAttachment,
} from '../../src/kernel/tc.js';
import { nsSh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import { rootSkip } from '../helpers/privileged.js';

const PREFIX = 'xlbt-';

describe('classic TC: clsact qdisc and xlb-owned filter slot', { skip: rootSkip() }, () => {
  const ns = netnsName(PREFIX, 'tc');
  const progs: BpfProgramFd[] = [];
  /** A do-nothing TC program under `name` (xlb's are xlb_tc_ingress and xlb_egress). */
  const prog = (name: string) => {
    const p = loadConstantProgram(ProgType.SCHED_CLS, 0, name);
    progs.push(p);
    return p;
  };
  const tc = (...args: string[]) => nsSh(ns, 'tc', args);
  const qdiscs = () => tc('qdisc', 'show', 'dev', 'v0');
  const filters = (d: 'ingress' | 'egress') => inNetns(ns, () => tcFilters(ifindexOf('v0'), d));
  const atSlot = (d: 'ingress' | 'egress') =>
    inNetns(ns, () => classicTcProgram(ifindexOf('v0'), d, XLB_TC_SLOT)?.name);
  const xlbAttach = (p: BpfProgramFd, d: 'ingress' | 'egress', created = false) =>
    inNetns(ns, () => attachTcHook(p.fd, 'v0', d, 'classic', created) as ClassicTcAttachment);
  const OPERATOR_FILTER = 'filter add dev v0 ingress prio 100 u32 match u32 0 0'.split(' ');

  before(() => {
    removeStaleNetns(PREFIX);
    createNetns(ns);
    nsSh(ns, 'ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
  });

  beforeEach(() => {
    nsSh(ns, 'tc', ['qdisc', 'del', 'dev', 'v0', 'clsact'], { allowFail: true });
  });

  after(() => {
    for (const p of progs) p.close();
    deleteNetns(ns);
  });

  it('makes the clsact qdisc when there is none, says so, and removes it with its filters', () => {
    const ingress = xlbAttach(prog('xlb_tc_ingress'), 'ingress');
    const egress = xlbAttach(prog('xlb_egress'), 'egress');
    assert.equal(ingress.qdiscCreated, true);
    assert.equal(egress.qdiscCreated, false, 'the second hook found the qdisc the first made');
    assert.match(qdiscs(), /qdisc clsact ffff:/);
    assert.deepEqual(
      filters('ingress')
        .filter((f) => f.handle !== 0)
        .map(({ prog, ...f }) => ({ ...f, prog: prog?.name })),
      [{ priority: 30828, protocol: 3, handle: 0x786c62, kind: 'bpf', prog: 'xlb_tc_ingress' }],
      'one bpf filter at the slot, for every protocol',
    );
    assert.match(
      tc('filter', 'show', 'dev', 'v0', 'egress'),
      /pref 30828 bpf .*handle 0x786c62 xlb_egress.* direct-action/,
    );
    const removed = inNetns(ns, () =>
      removeClassicTc([{ name: 'v0', mode: 'native', tc: 'classic', clsactCreated: true }]),
    );
    assert.equal(removed, 2);
    assert.doesNotMatch(qdiscs(), /clsact/);
  });

  it("keeps an operator's qdisc and filters: attaches beside them, removes only its own", () => {
    tc('qdisc', 'add', 'dev', 'v0', 'clsact');
    tc(...OPERATOR_FILTER);
    const a = xlbAttach(prog('xlb_tc_ingress'), 'ingress');
    assert.equal(a.qdiscCreated, false, 'the qdisc was there');
    assert.deepEqual([...new Set(filters('ingress').map((f) => f.priority))].sort(), [100, 30828]);
    // Even a record claiming the qdisc (a confused state file) does not delete a qdisc with filters.
    inNetns(ns, () => removeClassicTc([{ name: 'v0', mode: 'native', tc: 'classic', clsactCreated: true }]));
    assert.match(qdiscs(), /qdisc clsact/);
    assert.equal(atSlot('ingress'), undefined, "xlb's filter is gone");
    assert.ok(
      filters('ingress').some((f) => f.priority === 100 && f.kind === 'u32'),
      "the operator's filter stays",
    );
  });

  it('keeps the qdisc it made when an operator has added a filter to it since', () => {
    xlbAttach(prog('xlb_egress'), 'egress');
    tc(...OPERATOR_FILTER);
    inNetns(ns, () => removeClassicTc([{ name: 'v0', mode: 'native', tc: 'classic', clsactCreated: true }]));
    assert.match(qdiscs(), /qdisc clsact/);
    assert.equal(atSlot('egress'), undefined);
  });

  it('refuses a priority that another kind of filter holds, naming it and the fix; changes nothing', () => {
    tc('qdisc', 'add', 'dev', 'v0', 'clsact');
    tc(...'filter add dev v0 ingress prio 30828 protocol ip u32 match u32 0 0'.split(' '));
    const before = filters('ingress');
    assert.throws(
      () => xlbAttach(prog('xlb_tc_ingress'), 'ingress'),
      (e: unknown) =>
        e instanceof TcSlotBusyError &&
        e.message ===
          'interface v0: the TC ingress hook already has a u32 filter (protocol 0x0800) at priority 30828, ' +
            'where xlb attaches its filter (handle 0x786c62 priority 30828): remove it ' +
            '(tc filter del dev v0 ingress priority 30828) or move it to another priority',
    );
    assert.deepEqual(filters('ingress'), before);
  });

  it("refuses somebody else's program at its slot, naming it, and never removes it", () => {
    const foreign = prog('foreign_tc');
    const planted = inNetns(ns, () =>
      attachClassicTc(foreign.fd, 'v0', 'egress', { slot: XLB_TC_SLOT, mayReplace: () => false }),
    );
    assert.equal(planted.qdiscCreated, true);
    assert.throws(
      () => xlbAttach(prog('xlb_egress'), 'egress'),
      (e: unknown) =>
        e instanceof TcSlotBusyError &&
        e.message ===
          `interface v0: the TC egress hook already has BPF program 'foreign_tc' (id ${progInfoByFd(foreign.fd).id}) ` +
            'at priority 30828, where xlb attaches its filter (handle 0x786c62 priority 30828): remove it ' +
            '(tc filter del dev v0 egress priority 30828) or move it to another priority',
    );
    assert.equal(atSlot('egress'), 'foreign_tc', 'still there');
    inNetns(ns, () => removeClassicTc([{ name: 'v0', mode: 'native', tc: 'classic' }]));
    assert.equal(atSlot('egress'), 'foreign_tc', 'xlb never removes a program that is not its own');
  });

  it('a leftover of its own is replaced in place, and replace() swaps the program of the same filter', () => {
    const first = prog('xlb_egress');
    xlbAttach(first, 'egress', false);
    // Another process (a dead xlb run, a daemon being upgraded) attaches: the filter is replaced.
    const second = prog('xlb_egress');
    const again = xlbAttach(second, 'egress', true);
    assert.equal(again.qdiscCreated, true, 'who made the qdisc is carried over');
    const id = () => inNetns(ns, () => classicTcProgram(ifindexOf('v0'), 'egress', XLB_TC_SLOT)?.id);
    assert.equal(id(), progInfoByFd(second.fd).id);
    const third = prog('xlb_egress');
    inNetns(ns, () => again.replace(third.fd));
    assert.equal(id(), progInfoByFd(third.fd).id);
    assert.equal(filters('egress').filter((f) => f.handle !== 0).length, 1, 'one filter, replaced');
  });
});
