// Helpers for data-plane tests: a loaded (never attached) data plane configured from
// YAML, one-packet test runs, and counter deltas.
import { Dataplane } from '../../src/control/dataplane.js';
import { testRun, xdpContext, type TestRunResult } from '../../src/kernel/program.js';
import { sh } from '../../src/lab/exec.js';
import { createFixtureNet, type FixtureNet } from '../../src/lab/fixture-net.js';
import { Reason, type Reason as ReasonName } from '../../src/abi/abi.js';
import { parseConfig } from '../../src/model/config.js';
import { describePacket, hexdiff, type PacketSpec } from '../../src/testing/packet.js';
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

/** A data plane whose test runs happen inside a fixture network (routes, static neighbours). */
export interface FixtureLb {
  dp: Dataplane;
  fx: FixtureNet;
  /** One test run arriving on `ingress` (fx.cl0 or fx.be0): action, output and counted reasons. */
  run(
    frame: Buffer,
    ingress: number,
  ): { action: number; out: Buffer; reasons: Partial<Record<ReasonName, number>> };
  close(): void;
}

/**
 * Loads `yaml` into a data plane and builds the fixture network `tag`, with both of its
 * interfaces in tx_ports. The calling thread is pinned to CPU 0: the next-hop and flow
 * caches are per CPU, and consecutive runs must share them.
 */
export function fixtureLb(yaml: string, tag: string): FixtureLb {
  sh('taskset', ['-cp', '0', String(process.pid)]);
  const fx = createFixtureNet(tag);
  let dp: Dataplane;
  try {
    dp = loadDataplane(yaml);
  } catch (e) {
    fx.destroy();
    throw e;
  }
  fx.run(() => {
    dp.maps.txPorts.set(fx.cl0, fx.cl0);
    dp.maps.txPorts.set(fx.be0, fx.be0);
  });
  return {
    dp,
    fx,
    run(frame, ingress) {
      let out!: { retval: number; data: Buffer };
      const reasons = reasonDeltas(dp, () => {
        out = fx.run(() =>
          testRun(dp.xdpProgram.fd, { data: frame, ctx: xdpContext(frame.length, ingress) }),
        );
      });
      return { action: out.retval, out: out.data, reasons };
    },
    close() {
      dp.close();
      fx.destroy();
    },
  };
}

export type Fam = 4 | 6;

/** The IP part of a PacketSpec in either family. */
export function ipSpec(
  fam: Fam,
  src: string,
  dst: string,
  extra: object = {},
): Pick<PacketSpec, 'ipv4' | 'ipv6'> {
  return fam === 4 ? { ipv4: { src, dst, ...extra } } : { ipv6: { src, dst, ...extra } };
}

/** A TTL (IPv4) or hop limit (IPv6) for ipSpec's `extra`. */
export const ttlSpec = (fam: Fam, n: number) => (fam === 4 ? { ttl: n } : { hopLimit: n });

/**
 * A `last_seen_ns` that is `seconds` old by the data plane's clock (bpf_ktime_get_coarse_ns:
 * CLOCK_MONOTONIC, which process.hrtime reads too), modulo 2^64 like the C's `now - last`:
 * so a flow ages past its timeout even on a machine up for less than that (a fresh kernel
 * guest), where a plain small value would still be "recent".
 */
export const secondsAgoNs = (seconds: number): bigint =>
  BigInt.asUintN(64, process.hrtime.bigint() - BigInt(seconds) * 1_000_000_000n);

/** Older than any flow timeout a config can set (65,535 s). */
export const EXPIRED_NS = (): bigint => secondsAgoNs(65_536);
