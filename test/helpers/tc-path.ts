// The TC attach path a test run takes, and what is attached to an interface's TC hooks.
//
// Test files that attach xlb to interfaces other than lo carry the line
//   // xlb-test: both-tc-paths
// and scripts/run-tests.js runs them twice on a kernel with tcx: as they are (tcx) and with
// XLB_FEATURES=-tcx (classic TC). Their suites put tcPathLabel() in their names, so each
// case says which path it ran on, and assert with tcHooks() that it really ran there.
import { kernelFeatures, tcMethod } from '../../src/control/features.js';
import { inNetns } from '../../src/kernel/netns.js';
import { ifindexOf } from '../../src/kernel/netif.js';
import { progInfoById } from '../../src/kernel/program.js';
import { classicTcProgram, tcxPrograms, type TcMethod } from '../../src/kernel/tc.js';
import { XLB_TC_SLOT } from '../../src/control/attachments.js';

/** The path xlb takes for TC programs in this process: the probe's choice, XLB_FEATURES applied. */
export function tcPath(): TcMethod {
  if (process.getuid?.() !== 0) return 'tcx'; // privileged tests skip anyway; the probe needs root
  return tcMethod(kernelFeatures());
}

/** '[tc: classic]': for suite names, so that every case says which path it ran on. */
export const tcPathLabel = (): string => `[tc: ${tcPath()}]`;

export interface TcHooks {
  /** Programs attached through tcx, by name. */
  tcx: { ingress: string[]; egress: string[] };
  /** The program of the classic filter at xlb's slot, by name. */
  classic: { ingress?: string; egress?: string };
}

/** What is attached to the TC hooks of `ifname` in namespace `ns` (undefined: this one). */
export function tcHooks(ns: string | undefined, ifname: string): TcHooks {
  const read = (): TcHooks => {
    const ifindex = ifindexOf(ifname);
    const names = (ids: number[]) => ids.map((id) => progInfoById(id)?.name ?? `id ${id}`);
    const classic = (d: 'ingress' | 'egress') => classicTcProgram(ifindex, d, XLB_TC_SLOT)?.name;
    const [ci, ce] = [classic('ingress'), classic('egress')];
    return {
      tcx: { ingress: names(tcxPrograms(ifindex, 'ingress')), egress: names(tcxPrograms(ifindex, 'egress')) },
      classic: { ...(ci ? { ingress: ci } : {}), ...(ce ? { egress: ce } : {}) },
    };
  };
  return ns === undefined ? read() : inNetns(ns, read);
}

/** What tcHooks shows when xlb's TC programs are attached on `path`. */
export function xlbTcHooks(path: TcMethod): TcHooks {
  return path === 'tcx'
    ? { tcx: { ingress: ['xlb_tc_ingress'], egress: ['xlb_egress'] }, classic: {} }
    : { tcx: { ingress: [], egress: [] }, classic: { ingress: 'xlb_tc_ingress', egress: 'xlb_egress' } };
}

/** What tcHooks shows when nothing is attached. */
export const NO_TC_HOOKS: TcHooks = { tcx: { ingress: [], egress: [] }, classic: {} };
