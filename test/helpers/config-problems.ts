// The problems of a config the tests expect to be refused.
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type ConfigProblem } from '../../src/model/config.js';

/** The problems of parsing `text` as `source`; fails the test when it is accepted. */
export function problemsOf(text: string, source = 'test.yaml'): ConfigProblem[] {
  try {
    parseConfig(text, source);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  return assert.fail(`accepted:\n${text.slice(0, 2000)}`);
}
