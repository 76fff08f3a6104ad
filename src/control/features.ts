// What xlb needs of the kernel, probed at start (once per process): the program and map
// types, map flags and helpers the data plane uses, and the ways of attaching it. Each
// feature is named (the names XLB_FEATURES takes), tied to the Linux version that brought
// it, and either has a fallback (tcx: classic TC) or, when missing, stops xlb before it
// loads anything with one message that says what to do.
//
// XLB_FEATURES="-tcx" (names separated by commas or spaces, each after a '-') makes the
// probe report those features missing on any kernel, so that the fallbacks run, and the
// refusals can be seen, on a kernel that has everything.
import { BPF_F_MMAPABLE, MapType } from '../kernel/map.js';
import {
  checkProbePrivilege,
  kernelRelease,
  probeHelper,
  probeMapFlags,
  probeMapType,
  probeProgType,
  probeTcx,
  probeXdpLink,
  releaseAtLeast,
} from '../kernel/probe.js';
import { ProgType } from '../kernel/program.js';
import type { TcMethod } from '../kernel/tc.js';

export interface FeatureSpec {
  /** The name in XLB_FEATURES, status and messages. */
  readonly name: string;
  /** What it is, for people. */
  readonly what: string;
  /** The Linux version that brought it. */
  readonly since: string;
  /** What xlb does without it; absent: xlb cannot run without it. */
  readonly fallback?: string;
  /** A feature that must be present for this one to be (a helper needs its program type). */
  readonly needs?: string;
  /** What bpf/ uses that this feature stands for (checked against the object by a test). */
  readonly uses?: { helper: number; prog: 'xdp' | 'tc' } | { mapType: number } | { mapFlags: number };
  readonly probe: () => boolean;
}

const helper = (
  prog: 'xdp' | 'tc',
  name: string,
  id: number,
  since: string,
  what = `${name} in ${prog === 'xdp' ? 'XDP' : 'TC'} programs`,
): FeatureSpec => ({
  name: `${prog}:${name}`,
  what,
  since,
  needs: prog === 'xdp' ? 'prog_xdp' : 'prog_sched_cls',
  uses: { helper: id, prog },
  probe: () => probeHelper(prog === 'xdp' ? ProgType.XDP : ProgType.SCHED_CLS, id),
});

const mapType = (name: string, type: number, what: string, since: string): FeatureSpec => ({
  name: `map_${name}`,
  what,
  since,
  uses: { mapType: type },
  probe: () => probeMapType(type),
});

/**
 * Every feature xlb probes. The helpers (enum bpf_func_id), map types and flags are those
 * bpf/ uses (`uses`); test/bpf/features.test.ts checks the compiled object against them.
 */
export const FEATURES: readonly FeatureSpec[] = [
  { name: 'prog_xdp', what: 'XDP programs', since: '4.8', probe: () => probeProgType(ProgType.XDP) },
  {
    name: 'prog_sched_cls',
    what: 'TC (sched_cls) programs',
    since: '4.1',
    probe: () => probeProgType(ProgType.SCHED_CLS),
  },
  {
    name: 'xdp_link',
    what: 'XDP attached through bpf_link (pinnable, replaced atomically)',
    since: '5.9',
    needs: 'prog_xdp',
    probe: probeXdpLink,
  },
  {
    name: 'tcx',
    what: 'tcx: TC programs attached through bpf_link',
    since: '6.6',
    fallback: 'classic TC: a clsact qdisc with direct-action bpf filters',
    needs: 'prog_sched_cls',
    probe: probeTcx,
  },
  mapType('hash', MapType.HASH, 'hash maps', '3.19'),
  mapType('array', MapType.ARRAY, 'array maps', '3.19'),
  mapType('percpu_array', MapType.PERCPU_ARRAY, 'per-CPU array maps', '4.6'),
  mapType('lru_hash', MapType.LRU_HASH, 'LRU hash maps (the flow tables)', '4.10'),
  mapType('devmap_hash', MapType.DEVMAP_HASH, 'hashed device maps (XDP_REDIRECT targets)', '5.4'),
  {
    name: 'mmapable_array',
    what: 'BPF_F_MMAPABLE arrays (scheduling tables filled through a shared mapping)',
    since: '5.5',
    needs: 'map_array',
    uses: { mapFlags: BPF_F_MMAPABLE },
    probe: () => probeMapFlags(MapType.ARRAY, BPF_F_MMAPABLE),
  },
  helper('xdp', 'bpf_map_lookup_elem', 1, '4.8'),
  helper('xdp', 'bpf_map_update_elem', 2, '4.8'),
  helper('xdp', 'bpf_get_prandom_u32', 7, '4.8'),
  helper('xdp', 'bpf_redirect_map', 51, '4.14'),
  helper('xdp', 'bpf_xdp_adjust_meta', 54, '4.15'),
  helper('xdp', 'bpf_fib_lookup', 69, '4.18'),
  helper('xdp', 'bpf_ktime_get_coarse_ns', 160, '5.11'),
  helper('tc', 'bpf_map_lookup_elem', 1, '4.1'),
  helper('tc', 'bpf_skb_store_bytes', 9, '4.1'),
  helper('tc', 'bpf_l3_csum_replace', 10, '4.1'),
  helper('tc', 'bpf_l4_csum_replace', 11, '4.1'),
  helper('tc', 'bpf_redirect_neigh', 152, '5.11', 'bpf_redirect_neigh with a next hop in TC programs'),
  helper('tc', 'bpf_ktime_get_coarse_ns', 160, '5.11'),
];

/** The oldest kernel xlb supports and is tested on (docs and messages). */
export const MIN_KERNEL = '5.15';

export interface FeatureResult {
  name: string;
  what: string;
  since: string;
  fallback?: string;
  available: boolean;
  /** Reported missing because XLB_FEATURES says so (the kernel may have it). */
  forced: boolean;
}

export interface KernelFeatures {
  /** uname -r */
  release: string;
  features: FeatureResult[];
  /** The names XLB_FEATURES forced missing, in its order. */
  forced: string[];
}

/** XLB_FEATURES, read: the names of features to report missing. Throws on anything else. */
export function parseFeatureSwitch(text: string | undefined): string[] {
  const known = new Set(FEATURES.map((f) => f.name));
  const out: string[] = [];
  for (const token of (text ?? '').split(/[\s,]+/).filter((t) => t !== '')) {
    if (!token.startsWith('-')) {
      throw new Error(
        `XLB_FEATURES: '${token}' must start with '-': the switch can only make the probe report a ` +
          `feature missing (e.g. XLB_FEATURES=-tcx); unset it to use what the kernel has`,
      );
    }
    const name = token.slice(1);
    if (!known.has(name)) {
      throw new Error(
        `XLB_FEATURES: '${name}' is not a feature xlb probes; the names are: ${[...known].join(', ')} ` +
          `(e.g. XLB_FEATURES=-tcx)`,
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

let probed: Map<string, boolean> | undefined;

/** The kernel's answers, probed once per process (needs the privilege to load programs). */
function probeAll(): Map<string, boolean> {
  if (probed) return probed;
  checkProbePrivilege();
  const answers = new Map<string, boolean>();
  for (const f of FEATURES) {
    answers.set(f.name, f.needs !== undefined && answers.get(f.needs) === false ? false : f.probe());
  }
  probed = answers;
  return answers;
}

/**
 * What this kernel offers of what xlb uses, with XLB_FEATURES applied (read each time: it is
 * cheap, and tests change it; the kernel is asked once).
 */
export function kernelFeatures(env: NodeJS.ProcessEnv = process.env): KernelFeatures {
  const forced = parseFeatureSwitch(env.XLB_FEATURES);
  const answers = probeAll();
  const missingByForce = (f: FeatureSpec): boolean =>
    forced.includes(f.name) || (f.needs !== undefined && forced.includes(f.needs));
  return {
    release: kernelRelease(),
    forced,
    features: FEATURES.map((f) => {
      const isForced = missingByForce(f);
      return {
        name: f.name,
        what: f.what,
        since: f.since,
        ...(f.fallback ? { fallback: f.fallback } : {}),
        available: !isForced && answers.get(f.name) === true,
        forced: isForced,
      };
    }),
  };
}

/** How TC programs are attached on this kernel: tcx where present, else classic TC. */
export function tcMethod(k: KernelFeatures): TcMethod {
  return k.features.find((f) => f.name === 'tcx')?.available ? 'tcx' : 'classic';
}

/**
 * The one message of a refusal: the features xlb needs and cannot do without that the
 * kernel lacks, with their versions and what to do; undefined when nothing is missing. A
 * feature missing only because one it needs is (a helper of a missing program type) is
 * implied, not listed.
 */
export function missingFeaturesMessage(k: KernelFeatures): string | undefined {
  const spec = new Map(FEATURES.map((f) => [f.name, f]));
  const isMissing = (name: string | undefined) => k.features.some((f) => f.name === name && !f.available);
  const missing = k.features.filter(
    (f) => !f.available && f.fallback === undefined && !isMissing(spec.get(f.name)?.needs),
  );
  if (missing.length === 0) return undefined;
  const them = missing.length === 1 ? 'it' : 'them';
  const list = missing.map((f) => `${f.name}: ${f.what}, in Linux since ${f.since}`).join('; and ');
  const fixes: string[] = [];
  const real = missing.filter((f) => !f.forced);
  if (real.some((f) => releaseAtLeast(k.release, f.since) !== true)) {
    fixes.push(`Run xlb on Linux ${MIN_KERNEL} or later (Debian 12 ships 6.1, Ubuntu 22.04 ships 5.15)`);
  } else if (real.length > 0) {
    fixes.push(
      `This kernel is recent enough, so it was built without ${them} or a security policy (lockdown, an LSM, ` +
        "seccomp) blocks it: run xlb on a kernel with BPF and XDP enabled, as Debian's and Ubuntu's are",
    );
  }
  const forced = missing.filter((f) => f.forced);
  if (forced.length > 0) {
    const env = k.forced.map((n) => `-${n}`).join(',');
    fixes.push(
      `XLB_FEATURES=${env} reports ${forced.length === 1 ? 'it' : 'them'} missing: ` +
        'unset XLB_FEATURES to use what the kernel has',
    );
  }
  return (
    `this kernel (Linux ${k.release}) lacks ${list}; xlb has no fallback for ${them}. ` +
    `${fixes.join('. ')}. Nothing was loaded or attached.`
  );
}

/** Throws the refusal message unless the kernel has everything xlb cannot do without. */
export function requireKernel(k: KernelFeatures = kernelFeatures()): KernelFeatures {
  const message = missingFeaturesMessage(k);
  if (message) throw new MissingFeatureError(message);
  return k;
}

export class MissingFeatureError extends Error {
  override readonly name = 'MissingFeatureError';
}
