// The API fuzzer (test/fuzz/api.ts) against a real daemon: requests made from the OpenAPI
// document and mutated, raw malformed HTTP too. No answer is a 5xx, every error is in the one
// shape with a known code, and no refused request changes the configuration or the generation.
// `npm run fuzz -- --api N` runs it longer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runApiFuzz, withFuzzDaemon } from '../fuzz/api-daemon.js';
import { rootSkip } from '../helpers/privileged.js';
import { testSeed } from '../helpers/random.js';

const CALLS = 1200;

describe('the API under fuzzed requests', { skip: rootSkip() }, () => {
  it(`${CALLS} requests from the OpenAPI document: no 5xx, one error shape, refusals change nothing`, async () => {
    const seed = testSeed();
    console.log(`# seed ${seed} (XLB_SEED=${seed} replays it)`);
    const r = await withFuzzDaemon((d) => runApiFuzz(d, CALLS, seed));
    console.log(
      `# ${r.calls} calls, by status ${JSON.stringify(r.byStatus)}, ${r.refusedChecked} refused mutations checked`,
    );
    assert.equal(r.calls, CALLS);
    assert.ok(r.refusedChecked > CALLS / 10, 'refused mutations were checked');
    assert.ok(
      Object.keys(r.byStatus).some((s) => Number(s) < 300),
      'some requests succeeded',
    );
    assert.deepEqual(r.findings, []);
  });
});
