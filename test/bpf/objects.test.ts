// Every BPF object built from bpf/*.bpf.c (the data plane, the lab's instruments, the
// pass-through program for veth peers) loads into the running kernel: each of its programs
// passes this kernel's verifier. The kernel guests (test/kernels) run this on Debian's
// kernels, whose verifiers are older than the host's.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BpfObject } from '../../src/kernel/object.js';
import { bpfObjectPath } from '../../src/util/paths.js';
import { rootSkip } from '../helpers/privileged.js';

const sources = readdirSync(fileURLToPath(new URL('../../../bpf/', import.meta.url)))
  .filter((f) => f.endsWith('.bpf.c'))
  .sort();

describe('BPF objects load', { skip: rootSkip() }, () => {
  it('the data plane, the lab instruments and the pass-through program are among them', () => {
    for (const s of ['xlb.bpf.c', 'lab.bpf.c', 'xdp_pass.bpf.c']) assert.ok(sources.includes(s), s);
  });

  for (const src of sources) {
    const object = src.replace(/\.c$/, '.o');
    it(`${object}: every program passes the verifier`, () => {
      const obj = BpfObject.open(bpfObjectPath(object));
      try {
        const names = obj.programNames();
        assert.ok(names.length > 0, `${object} has programs`);
        obj.load();
        for (const name of names) assert.ok(obj.program(name).fd >= 0, `${object}: ${name} has an fd`);
      } finally {
        obj.close();
      }
    });
  }
});
