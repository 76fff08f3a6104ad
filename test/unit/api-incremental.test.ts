// The API's incremental validation (mutations.ts: the one service validated, checked against the
// others through the running configuration's index, config-conflicts.ts) against a whole
// validation of the configuration the edit asks for (validateConfig), over random sequences of
// edits: the same verdict every time, the same configuration when accepted, the same kinds of
// problem when refused, and a refused edit changes nothing. Some accepted edits are dropped (as a
// daemon does when the kernel refuses the apply), so that the index is also rebuilt and used
// from a configuration it had moved on from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, validateConfig, type Config } from '../../src/model/config.js';
import { configToInput } from '../../src/model/config-io.js';
import { randomEdit, rng, startConfig, verdictOf } from './api-edits.js';

/** The problems of one service with the others (what serviceConflicts finds). */
const CROSS = new Set(['duplicate_service', 'duplicate_listener', 'conflict', 'too_many', 'too_large']);

function wholeVerdict(input: Record<string, unknown> | undefined): { next: Config } | { codes: string[] } {
  if (input === undefined) return { codes: ['not_found'] };
  try {
    return { next: validateConfig(input) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { codes: [...new Set(e.problems.map((p) => p.code ?? ''))].sort() };
  }
}

describe('incremental validation of API edits', () => {
  for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
    it(`gives the whole validation's verdict on every edit of a random sequence (seed ${seed})`, () => {
      const r = rng(seed);
      let config = startConfig();
      const tally = { accepted: 0, refused: 0, conflicts: 0, budget: 0 };
      for (let step = 0; step < 300; step++) {
        const e = randomEdit(config, r);
        const before = JSON.stringify(configToInput(config));
        const inc = verdictOf(e, config);
        const whole = wholeVerdict(e.whole(config));
        const at = `step ${step}: ${e.what}`;
        if ('next' in inc) {
          assert.ok('next' in whole, `${at}: accepted by the API, refused whole (${JSON.stringify(whole)})`);
          assert.deepEqual(configToInput(inc.next), configToInput(whole.next), at);
          tally.accepted++;
          if (r() < 0.85) config = inc.next; // else dropped, as after a refused apply
          continue;
        }
        assert.ok(!('next' in whole), `${at}: refused by the API (${inc.message}), accepted whole`);
        assert.equal(JSON.stringify(configToInput(config)), before, `${at}: the refusal changed nothing`);
        tally.refused++;
        if (inc.refused === 'XLB_NOT_FOUND') {
          assert.deepEqual(whole.codes, ['not_found'], at);
          continue;
        }
        if (inc.refused === 'XLB_CONFLICT') {
          // A name or a backend the service has: the whole validation's duplicates.
          assert.ok(
            whole.codes.some((c) => c === 'duplicate_service' || c === 'duplicate_backend'),
            `${at}: ${whole.codes.join(',')}`,
          );
          continue;
        }
        assert.equal(inc.refused, 'XLB_INVALID_CONFIG', `${at}: ${inc.message}`);
        const codes = [...new Set(inc.problems.map((p) => p.code ?? ''))].sort();
        // The API stops at the service's own problems; the whole validation goes on to the
        // cross-service ones. Refused for conflicts alone, both name the same kinds.
        for (const c of codes)
          assert.ok(whole.codes.includes(c), `${at}: ${c} not in ${whole.codes.join(',')}`);
        if (whole.codes.every((c) => CROSS.has(c)))
          assert.deepEqual(codes, whole.codes, `${at}: ${inc.message}`);
        if (codes.includes('conflict') || codes.includes('duplicate_listener')) tally.conflicts++;
        if (codes.includes('too_large')) tally.budget++;
      }
      assert.ok(tally.accepted >= 40, `accepted ${tally.accepted}`);
      assert.ok(tally.refused >= 20, `refused ${tally.refused}`);
      assert.ok(tally.conflicts >= 2, `conflicts with other services ${tally.conflicts}`);
      assert.ok(tally.budget >= 1, `over memory_limit ${tally.budget}`);
    });
  }
});
