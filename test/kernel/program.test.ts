// bpf_prog_info as progInfoByFd reads it: the sizes of a program as the kernel rewrote it
// (xlated) and as the JIT compiled it, and the instructions the verifier processed — the
// figures the benchmark reports for xlb's programs (bench/footprint.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XdpAction, loadConstantXdp, progInfoByFd } from '../../src/kernel/program.js';
import { rootSkip } from '../helpers/privileged.js';

describe('progInfoByFd', { skip: rootSkip() }, () => {
  it('reports a two-instruction program as 16 xlated bytes, JITed code and 2 verified instructions', () => {
    const p = loadConstantXdp(XdpAction.PASS, 'xlb_info_test');
    try {
      const info = progInfoByFd(p.fd);
      assert.equal(info.name, 'xlb_info_test');
      assert.equal(info.xlatedBytes, 16, 'r0 = 2; exit');
      // The JIT is on in every supported kernel (Debian's: bpf_jit_enable 1, CONFIG_BPF_JIT_ALWAYS_ON).
      assert.ok(info.jitedBytes > 0 && info.jitedBytes < 4096, `jited ${info.jitedBytes}`);
      assert.equal(info.verifiedInsns, 2, 'the verifier walked both instructions once');
    } finally {
      p.close();
    }
  });
});
