// The kernel feature catalogue without a kernel: the XLB_FEATURES switch, the attach method
// the probe's answers choose, and the one message of a refusal, word for word, for a kernel
// that is too old, one that is new enough but built without a feature, and a forced one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FEATURES,
  missingFeaturesMessage,
  parseFeatureSwitch,
  tcMethod,
  type KernelFeatures,
} from '../../src/control/features.js';
import { releaseAtLeast } from '../../src/kernel/probe.js';

/** A probe result: every feature present but `missing` (and what needs them); `forced` by XLB_FEATURES. */
function kernel(release: string, missing: string[], forced: string[] = []): KernelFeatures {
  const gone = new Set([...missing, ...forced]);
  for (const f of FEATURES) if (f.needs && gone.has(f.needs)) gone.add(f.name);
  return {
    release,
    forced,
    features: FEATURES.map((f) => ({
      name: f.name,
      what: f.what,
      since: f.since,
      ...(f.fallback ? { fallback: f.fallback } : {}),
      available: !gone.has(f.name),
      forced: forced.includes(f.name) || (f.needs !== undefined && forced.includes(f.needs)),
    })),
  };
}

describe('XLB_FEATURES', () => {
  it('takes -NAME for each feature to report missing, separated by commas or spaces', () => {
    assert.deepEqual(parseFeatureSwitch(undefined), []);
    assert.deepEqual(parseFeatureSwitch(''), []);
    assert.deepEqual(parseFeatureSwitch('-tcx'), ['tcx']);
    assert.deepEqual(parseFeatureSwitch(' -tcx, -mmapable_array  -tcx,'), ['tcx', 'mmapable_array']);
    assert.deepEqual(parseFeatureSwitch('-tc:bpf_redirect_neigh'), ['tc:bpf_redirect_neigh']);
  });

  it('refuses a name without its minus, and names it', () => {
    assert.throws(() => parseFeatureSwitch('tcx'), {
      message:
        "XLB_FEATURES: 'tcx' must start with '-': the switch can only make the probe report a feature " +
        'missing (e.g. XLB_FEATURES=-tcx); unset it to use what the kernel has',
    });
  });

  it('refuses a name it does not probe, listing the names', () => {
    assert.throws(() => parseFeatureSwitch('-tcx,-tcxx'), {
      message:
        "XLB_FEATURES: 'tcxx' is not a feature xlb probes; the names are: " +
        `${FEATURES.map((f) => f.name).join(', ')} (e.g. XLB_FEATURES=-tcx)`,
    });
  });

  it('names every feature once, each with the Linux version that brought it', () => {
    const names = FEATURES.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    for (const f of FEATURES) {
      assert.match(f.since, /^\d+\.\d+$/, f.name);
      if (f.needs) assert.ok(names.indexOf(f.needs) < names.indexOf(f.name), `${f.name} after ${f.needs}`);
    }
    assert.deepEqual(
      FEATURES.filter((f) => f.fallback).map((f) => f.name),
      ['tcx'],
      'only tcx has a fallback',
    );
  });
});

describe('the attach method', () => {
  it('is tcx where the kernel has it, classic TC otherwise (or when forced)', () => {
    assert.equal(tcMethod(kernel('6.12.57+deb12-amd64', [])), 'tcx');
    assert.equal(tcMethod(kernel('6.1.0-57-amd64', ['tcx'])), 'classic');
    assert.equal(tcMethod(kernel('6.18.0', [], ['tcx'])), 'classic');
  });
});

describe('the refusal message', () => {
  it('is none when only what has a fallback is missing', () => {
    assert.equal(missingFeaturesMessage(kernel('6.1.0-57-amd64', ['tcx'])), undefined);
    assert.equal(missingFeaturesMessage(kernel('6.18.0', [])), undefined);
  });

  it('names every missing feature with its version, and says to upgrade an old kernel', () => {
    assert.equal(
      missingFeaturesMessage(
        kernel('5.4.0-150-generic', [
          'tcx',
          'mmapable_array',
          'xdp:bpf_ktime_get_coarse_ns',
          'tc:bpf_redirect_neigh',
        ]),
      ),
      'this kernel (Linux 5.4.0-150-generic) lacks mmapable_array: BPF_F_MMAPABLE arrays (scheduling tables ' +
        'filled through a shared mapping), in Linux since 5.5; and xdp:bpf_ktime_get_coarse_ns: bpf_ktime_get_coarse_ns in ' +
        'XDP programs, in Linux since 5.11; and tc:bpf_redirect_neigh: bpf_redirect_neigh with a next hop in TC ' +
        'programs, in Linux since 5.11; xlb has no fallback for them. Run xlb on Linux 5.15 or later (Debian 12 ' +
        'ships 6.1, Ubuntu 22.04 ships 5.15). Nothing was loaded or attached.',
    );
  });

  it('blames the build or a policy on a kernel recent enough, and lists a missing type, not its helpers', () => {
    assert.equal(
      missingFeaturesMessage(kernel('6.1.0-57-amd64', ['prog_xdp'])),
      'this kernel (Linux 6.1.0-57-amd64) lacks prog_xdp: XDP programs, in Linux since 4.8; xlb has no ' +
        'fallback for it. This kernel is recent enough, so it was built without it or a security policy ' +
        "(lockdown, an LSM, seccomp) blocks it: run xlb on a kernel with BPF and XDP enabled, as Debian's and " +
        "Ubuntu's are. Nothing was loaded or attached.",
    );
  });

  it('says when XLB_FEATURES made a feature missing, and how to undo it', () => {
    assert.equal(
      missingFeaturesMessage(kernel('6.18.0', [], ['tcx', 'map_lru_hash'])),
      'this kernel (Linux 6.18.0) lacks map_lru_hash: LRU hash maps (the flow tables), in Linux since 4.10; ' +
        'xlb has no fallback for it. XLB_FEATURES=-tcx,-map_lru_hash reports it missing: unset XLB_FEATURES ' +
        'to use what the kernel has. Nothing was loaded or attached.',
    );
  });
});

describe('kernel releases', () => {
  it('compare by major and minor version', () => {
    assert.equal(releaseAtLeast('6.1.0-57-amd64', '6.1'), true);
    assert.equal(releaseAtLeast('6.1.0-57-amd64', '6.6'), false);
    assert.equal(releaseAtLeast('5.15.0-91-generic', '5.11'), true);
    assert.equal(releaseAtLeast('6.18.44-fc-v782', '6.6'), true);
    assert.equal(releaseAtLeast('5.4.0', '5.10'), false);
    assert.equal(releaseAtLeast('10.0', '6.6'), true);
    assert.equal(releaseAtLeast('unknown', '6.6'), undefined);
  });
});
