// Helpers for data-plane tests: a loaded (never attached) data plane configured from
// YAML, one-packet test runs, and counter deltas.
import { Dataplane } from '../../src/control/dataplane.js';
import { testRun, type TestRunResult } from '../../src/kernel/program.js';
import { Reason, type Reason as ReasonName } from '../../src/model/abi.js';
import { parseConfig } from '../../src/model/config.js';
import { describePacket, hexdiff } from '../../src/model/packet.js';
import assert from 'node:assert/strict';

export function loadDataplane(yaml: string, flowTableSize = 4096): Dataplane {
  const dp = Dataplane.load({ flowTableSize });
  try {
    dp.apply(parseConfig(yaml, 'test-config'));
    return dp;
  } catch (e) {
    dp.close();
    throw e;
  }
}

export function runXdp(dp: Dataplane, frame: Uint8Array): TestRunResult {
  return testRun(dp.xdpProgram.fd, { data: frame });
}

export function runEgress(dp: Dataplane, frame: Uint8Array): TestRunResult {
  return testRun(dp.egressProgram.fd, { data: frame });
}

const sum = (vs: { packets: bigint; bytes: bigint }[] | undefined) =>
  (vs ?? []).reduce(
    (a, v) => ({ packets: a.packets + Number(v.packets), bytes: a.bytes + Number(v.bytes) }),
    {
      packets: 0,
      bytes: 0,
    },
  );

export function reasonCount(dp: Dataplane, reason: ReasonName): { packets: number; bytes: number } {
  return sum(dp.maps.statsReason.getPerCpu(Reason[reason]));
}

export function backendCount(dp: Dataplane, id: number): number {
  return sum(dp.maps.statsBackend.getPerCpu(id)).packets;
}

export function serviceCount(dp: Dataplane, id: number): { packets: number; bytes: number } {
  return sum(dp.maps.statsSvc.getPerCpu(id));
}

/** Runs `fn` and returns how much each reason's packet counter grew. */
export function reasonDeltas(dp: Dataplane, fn: () => void): Partial<Record<ReasonName, number>> {
  const before = Object.keys(Reason).map((r) => reasonCount(dp, r as ReasonName).packets);
  fn();
  const out: Partial<Record<ReasonName, number>> = {};
  Object.keys(Reason).forEach((r, i) => {
    const d = reasonCount(dp, r as ReasonName).packets - (before[i] ?? 0);
    if (d) out[r as ReasonName] = d;
  });
  return out;
}

export function serviceId(dp: Dataplane, name: string): number {
  const s = dp.reconciler.applied.services.find((x) => x.name === name);
  if (!s) throw new Error(`no service ${name}`);
  return s.id;
}

/** Frames equal byte for byte; the message shows both and where they differ. */
export function assertSame(actual: Buffer, expected: Buffer, what: string): void {
  assert.ok(
    actual.equals(expected),
    `${what}\n  got      ${describePacket(actual)}\n  expected ${describePacket(expected)}\n${hexdiff(actual, expected)}`,
  );
}
