// scripts/bootstrap.sh is idempotent and silent once everything is installed (npm
// test runs it first, so by the time this test runs, everything is).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { rootSkip } from '../helpers/privileged.js';

const script = fileURLToPath(new URL('../../../scripts/bootstrap.sh', import.meta.url));

describe('bootstrap', { skip: rootSkip() }, () => {
  it('a second run changes nothing and prints nothing', () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '', 'silent when all is there');
  });
});
