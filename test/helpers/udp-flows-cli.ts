// Long-lived UDP flows for lab tests: one socket per flow (source ports FIRST..),
// each sending a datagram, awaiting its echo (or a timeout), pausing, and again,
// until the duration is over (or SIGTERM: each flow finishes the round trip in flight); then
// prints per-flow counts as JSON.
//   node udp-flows-cli.js HOST PORT FLOWS FIRST_SOURCE_PORT DURATION_MS INTERVAL_MS
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [host, port, flows, first, duration, interval] = process.argv
  .slice(2)
  .map((a, i) => (i === 0 ? a : Number(a)));
if (
  typeof host !== 'string' ||
  [port, flows, first, duration, interval].some((n) => typeof n !== 'number' || !Number.isFinite(n))
) {
  console.error('usage: udp-flows-cli.js HOST PORT FLOWS FIRST_SOURCE_PORT DURATION_MS INTERVAL_MS');
  process.exit(2);
}
const n = (v: string | number | undefined) => Number(v);
let deadline = Date.now() + n(duration);
process.on('SIGTERM', () => {
  deadline = Date.now();
});
const result: Record<number, { sent: number; received: number }> = {};

async function flow(i: number): Promise<void> {
  const sport = n(first) + i;
  const s = createSocket(isIPv6(host as string) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(sport, () => resolve());
  });
  const stats = (result[sport] = { sent: 0, received: 0 });
  let waiting: ((ok: boolean) => void) | undefined;
  s.on('message', () => waiting?.(true));
  for (let seq = 0; Date.now() < deadline; seq++) {
    const got = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      waiting = (ok) => {
        clearTimeout(t);
        resolve(ok);
      };
    });
    s.send(Buffer.from(`flow ${sport} ${seq}`), n(port), host as string);
    stats.sent++;
    if (await got) stats.received++;
    waiting = undefined;
    await new Promise((r) => setTimeout(r, n(interval)));
  }
  s.close();
}

await Promise.all(Array.from({ length: n(flows) }, (_, i) => flow(i)));
console.log(JSON.stringify(result));
