// Hostile input, CI-sized: 100,000 frames from the packet fuzzer (test/fuzz/packets.ts) through
// xlb_xdp — random bytes and mutated frames of every mode and family, replies, ICMP errors about
// live flows — each checked against the reference model, the fixture's routes, its checksums,
// lengths and counters. The seed is printed; XLB_TEST_SEED=<seed> replays the run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reasons } from '../../src/abi/abi.js';
import { fuzzPackets } from '../fuzz/packets.js';
import { rootSkip } from '../helpers/privileged.js';
import { testSeed } from '../helpers/random.js';

const FRAMES = 100_000;

describe('xlb_xdp under the packet fuzzer', { skip: rootSkip() }, () => {
  it(`${FRAMES.toLocaleString('en')} frames: no finding, every path reached`, async () => {
    const seed = testSeed();
    console.log(`# fuzz seed ${seed} (replay: XLB_TEST_SEED=${seed})`);
    const r = await fuzzPackets({ frames: FRAMES, seed });
    console.log(`# ${r.frames} frames in ${r.seconds.toFixed(1)} s; verdicts ${JSON.stringify(r.byVerdict)}`);
    const shown = r.findings
      .slice(0, 5)
      .map(
        (f) => `  #${f.index} (${f.kind}) ${f.check}: ${f.message}\n    in  ${f.input}\n    out ${f.output}`,
      );
    assert.deepEqual(r.findingsByCheck, {}, `XLB_TEST_SEED=${seed}: findings\n${shown.join('\n')}`);
    assert.equal(r.frames, FRAMES);
    // The generator must reach every path, or the run proves little: every verdict but the
    // event flow_update_failed and pass_egress_not_xlb (both fixture interfaces are xlb's).
    for (const reason of Reasons.filter((x) => x !== 'flow_update_failed' && x !== 'pass_egress_not_xlb')) {
      assert.ok(
        (r.byVerdict[reason] ?? 0) >= 20,
        `only ${r.byVerdict[reason] ?? 0} frames reached ${reason}`,
      );
    }
  });
});
