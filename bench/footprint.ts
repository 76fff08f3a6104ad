// What xlb's data plane costs the kernel, beside the per-packet figures: the size of each
// program (as the kernel rewrote it, "xlated", and as the JIT compiled it), the
// instructions the verifier processed to accept it, the time a whole load takes (open,
// verify every program, create every map) at a flow-table size, and the kernel memory of
// the flow tables per entry.
//
// Memory per flow is the kernel's own accounting of each flow map: `memlock` in
// /proc/self/fdinfo/<map fd>. The flow tables are preallocated LRU hashes, so that is what
// the map holds from creation whether or not flows fill it; divided by max_entries it is
// the cost of one flow's entry. (Linux ≥ 6.5 reports the map's real usage there; older
// kernels an estimate from the key and value sizes.)
import { readFileSync } from 'node:fs';
import { Dataplane } from '../src/control/dataplane.js';
import { progInfoByFd } from '../src/kernel/program.js';

export interface ProgramFootprint {
  program: string;
  xlatedBytes: number;
  /** xlatedBytes / 8: BPF instructions after the kernel's rewrites. */
  xlatedInsns: number;
  jitedBytes: number;
  /** The verifier's "processed N insns" (bpf_prog_info.verified_insns). */
  verifiedInsns: number;
}

export interface FlowTableFootprint {
  /** flow_table_size: entries of fwd_flows and of rev_nat. */
  entries: number;
  /** Milliseconds of Dataplane.load() at that size (open, verify, create maps). */
  loadMs: number;
  fwdFlowsBytes: number;
  revNatBytes: number;
  /** (fwd_flows + rev_nat) / entries: a flow that holds one entry of each (nat with affinity, fullnat). */
  bytesPerFlow: number;
}

export interface Footprint {
  programs: ProgramFootprint[];
  flowTables: FlowTableFootprint[];
  memoryMethod: string;
}

function memlock(fd: number): number {
  const m = /^memlock:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`/proc/self/fdinfo/${fd} has no memlock line`);
  return Number(m[1]);
}

export function measureFootprint(tableSizes: number[]): Footprint {
  const out: Footprint = {
    programs: [],
    flowTables: [],
    memoryMethod: 'memlock of /proc/self/fdinfo/<map fd> (preallocated LRU hashes) / max_entries',
  };
  for (const entries of tableSizes) {
    const started = process.hrtime.bigint();
    const dp = Dataplane.load({ flowTableSize: entries });
    try {
      const loadMs = Number(process.hrtime.bigint() - started) / 1e6;
      const fwd = memlock(dp.maps.fwdFlows.raw.fd);
      const rev = memlock(dp.maps.revNat.raw.fd);
      out.flowTables.push({
        entries,
        loadMs: Math.round(loadMs),
        fwdFlowsBytes: fwd,
        revNatBytes: rev,
        bytesPerFlow: Math.round(((fwd + rev) / entries) * 10) / 10,
      });
      if (out.programs.length === 0) {
        for (const p of [dp.xdpProgram, dp.tcIngressProgram, dp.egressProgram]) {
          const info = progInfoByFd(p.fd);
          out.programs.push({
            program: p.name,
            xlatedBytes: info.xlatedBytes,
            xlatedInsns: info.xlatedBytes / 8,
            jitedBytes: info.jitedBytes,
            verifiedInsns: info.verifiedInsns,
          });
        }
      }
    } finally {
      dp.close();
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(
    JSON.stringify(
      measureFootprint((process.env.XLB_TABLE_SIZES ?? '1024,262144').split(',').map(Number)),
      null,
      2,
    ),
  );
}
