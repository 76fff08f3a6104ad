// How much slower this machine is than the ones the lab's and the tests' waits were written
// for. XLB_TIME_SCALE (a number ≥ 1, default 1) multiplies every bounded wait of the lab
// (Proc.waitFor, Proc.stop, sh, the UDP client's per-datagram timeout and deadline) and the
// test runner's limit per file. The kernel guests (QEMU's software emulation, 10–40× slower)
// set it. Bounds stay bounds: a scaled wait still ends, only later.

/** The factor a value of XLB_TIME_SCALE gives; throws on anything but a number ≥ 1. */
export function parseTimeScale(raw: string | undefined): number {
  const n = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!Number.isFinite(n) || n < 1)
    throw new Error(
      `XLB_TIME_SCALE='${raw}': expected a number ≥ 1 (how many times longer to wait), e.g. 10`,
    );
  return n;
}

let cached: number | undefined;

/** This process's XLB_TIME_SCALE. */
export function timeScale(): number {
  cached ??= parseTimeScale(process.env.XLB_TIME_SCALE);
  return cached;
}

/** `ms` multiplied by XLB_TIME_SCALE. */
export const scaledMs = (ms: number): number => Math.round(ms * timeScale());
