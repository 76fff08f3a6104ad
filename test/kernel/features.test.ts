// The feature probe on this kernel: everything the kernel is new enough for is found (a
// feature reported missing on a kernel that should have it fails here, so that a broken probe
// cannot pass for an old kernel); XLB_FEATURES makes any of them missing; and each feature
// xlb cannot do without, forced missing, stops `xlb run` and `xlb daemon` with one message,
// word for word, before anything is loaded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Dataplane } from '../../src/control/dataplane.js';
import {
  FEATURES,
  MissingFeatureError,
  kernelFeatures,
  requireKernel,
  tcMethod,
} from '../../src/control/features.js';
import { kernelRelease, releaseAtLeast } from '../../src/kernel/probe.js';
import { nsArgv, nsSh } from '../../src/lab/exec.js';
import { createNetns, deleteNetns, netnsName, removeStaleNetns } from '../../src/lab/netns.js';
import { instancePaths } from '../../src/util/host.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI } from '../helpers/proc.js';

const PREFIX = 'xlbt-';

/** Every feature xlb cannot run without: its name, what it is and the version that brought it, as the message says them. */
const WITHOUT_FALLBACK: [string, string, string][] = [
  ['prog_xdp', 'XDP programs', '4.8'],
  ['prog_sched_cls', 'TC (sched_cls) programs', '4.1'],
  ['xdp_link', 'XDP attached through bpf_link (pinnable, replaced atomically)', '5.9'],
  ['map_hash', 'hash maps', '3.19'],
  ['map_array', 'array maps', '3.19'],
  ['map_percpu_array', 'per-CPU array maps', '4.6'],
  ['map_lru_hash', 'LRU hash maps (the flow tables)', '4.10'],
  ['map_devmap_hash', 'hashed device maps (XDP_REDIRECT targets)', '5.4'],
  ['mmapable_array', 'BPF_F_MMAPABLE arrays (scheduling tables filled through a shared mapping)', '5.5'],
  ['xdp:bpf_map_lookup_elem', 'bpf_map_lookup_elem in XDP programs', '4.8'],
  ['xdp:bpf_map_update_elem', 'bpf_map_update_elem in XDP programs', '4.8'],
  ['xdp:bpf_get_prandom_u32', 'bpf_get_prandom_u32 in XDP programs', '4.8'],
  ['xdp:bpf_redirect_map', 'bpf_redirect_map in XDP programs', '4.14'],
  ['xdp:bpf_xdp_adjust_meta', 'bpf_xdp_adjust_meta in XDP programs', '4.15'],
  ['xdp:bpf_fib_lookup', 'bpf_fib_lookup in XDP programs', '4.18'],
  ['xdp:bpf_ktime_get_coarse_ns', 'bpf_ktime_get_coarse_ns in XDP programs', '5.11'],
  ['tc:bpf_map_lookup_elem', 'bpf_map_lookup_elem in TC programs', '4.1'],
  ['tc:bpf_skb_store_bytes', 'bpf_skb_store_bytes in TC programs', '4.1'],
  ['tc:bpf_l3_csum_replace', 'bpf_l3_csum_replace in TC programs', '4.1'],
  ['tc:bpf_l4_csum_replace', 'bpf_l4_csum_replace in TC programs', '4.1'],
  ['tc:bpf_redirect_neigh', 'bpf_redirect_neigh with a next hop in TC programs', '5.11'],
  ['tc:bpf_ktime_get_coarse_ns', 'bpf_ktime_get_coarse_ns in TC programs', '5.11'],
];

const refusal = (name: string, what: string, since: string) =>
  `this kernel (Linux ${kernelRelease()}) lacks ${name}: ${what}, in Linux since ${since}; xlb has no ` +
  `fallback for it. XLB_FEATURES=-${name} reports it missing: unset XLB_FEATURES to use what the kernel ` +
  'has. Nothing was loaded or attached.';

describe('kernel feature probe', { skip: rootSkip() }, () => {
  it('finds every feature this kernel is new enough for', () => {
    const k = kernelFeatures({});
    assert.equal(k.release, kernelRelease());
    assert.deepEqual(k.forced, []);
    const expected = k.features.filter((f) => releaseAtLeast(k.release, f.since) === true);
    assert.ok(expected.length > 0, `the release ${k.release} was read`);
    assert.deepEqual(
      expected.filter((f) => !f.available).map((f) => f.name),
      [],
      `features of Linux <= ${k.release} reported missing`,
    );
  });

  it('covers every feature without a fallback in the table above, and only those', () => {
    assert.deepEqual(
      WITHOUT_FALLBACK.map(([n]) => n),
      FEATURES.filter((f) => !f.fallback).map((f) => f.name),
    );
  });

  it('XLB_FEATURES=-tcx: tcx reported missing, TC goes classic, nothing refused', () => {
    const k = kernelFeatures({ XLB_FEATURES: '-tcx' });
    assert.deepEqual(k.forced, ['tcx']);
    const tcx = k.features.find((f) => f.name === 'tcx');
    assert.equal(tcx?.available, false);
    assert.equal(tcx?.forced, true);
    assert.equal(tcMethod(k), 'classic');
    assert.equal(requireKernel(k), k);
  });

  for (const [name, what, since] of WITHOUT_FALLBACK) {
    it(`XLB_FEATURES=-${name}: refused with one message, before anything is loaded`, () => {
      assert.throws(
        () => requireKernel(kernelFeatures({ XLB_FEATURES: `-${name}` })),
        (e: unknown) => e instanceof MissingFeatureError && e.message === refusal(name, what, since),
      );
    });
  }

  it('the data plane refuses to load what the kernel lacks (XLB_FEATURES in the environment)', () => {
    const saved = process.env.XLB_FEATURES;
    process.env.XLB_FEATURES = '-mmapable_array';
    try {
      assert.throws(() => Dataplane.load(), {
        message: refusal('mmapable_array', WITHOUT_FALLBACK.find(([n]) => n === 'mmapable_array')![1], '5.5'),
      });
    } finally {
      if (saved === undefined) delete process.env.XLB_FEATURES;
      else process.env.XLB_FEATURES = saved;
    }
  });
});

describe('xlb run and xlb daemon on a kernel that lacks a feature', { skip: rootSkip() }, () => {
  const ns = netnsName(PREFIX, 'ft');
  const instance = `features-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-features-'));
  const config = join(tmp, 'xlb.yaml');

  const cli = (args: string[], features: string) => {
    const [cmd, argv] = nsArgv(ns, process.execPath, [CLI, ...args]);
    const r = spawnSync(cmd, argv, {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, XLB_FEATURES: features },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const nothingMade = () => {
    assert.equal(existsSync(instancePaths(instance).stateFile), false, 'no state file');
    assert.equal(existsSync(instancePaths(instance).pinDir), false, 'no pins');
    assert.doesNotMatch(nsSh(ns, 'ip', ['link', 'show', 'lo']), /xdp/, 'nothing attached');
  };

  before(() => {
    removeStaleNetns(PREFIX);
    createNetns(ns);
    nsSh(ns, 'ip', ['link', 'set', 'lo', 'up']);
    writeFileSync(config, 'interface: lo\nservices: []\n');
  });

  after(() => {
    deleteNetns(ns);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('xlb run: exit 1, the message, nothing loaded, pinned or attached', () => {
    const r = cli(['run', '--config', config, '--instance', instance], '-mmapable_array');
    assert.equal(r.status, 1, r.stderr);
    const what = WITHOUT_FALLBACK.find(([n]) => n === 'mmapable_array')![1];
    assert.equal(r.stderr, `xlb: error: ${refusal('mmapable_array', what, '5.5')}\n`);
    nothingMade();
  });

  it('xlb daemon: exit 1, the message, nothing loaded, pinned or attached', () => {
    const r = cli(
      ['daemon', '--config', config, '--instance', instance, '--api-socket', join(tmp, 'api.sock')],
      '-xdp_link',
    );
    assert.equal(r.status, 1, r.stderr);
    const what = WITHOUT_FALLBACK.find(([n]) => n === 'xdp_link')![1];
    assert.ok(r.stderr.split('\n').includes(`xlb: error: ${refusal('xdp_link', what, '5.9')}`), r.stderr);
    nothingMade();
  });

  it('a bad XLB_FEATURES is named, and changes nothing', () => {
    const r = cli(['run', '--config', config, '--instance', instance], '-tcx,-nosuch');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^xlb: error: XLB_FEATURES: 'nosuch' is not a feature xlb probes; the names are: prog_xdp, /,
    );
    nothingMade();
  });
});
