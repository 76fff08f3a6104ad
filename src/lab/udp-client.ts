// A measuring UDP client for lab tests: several sockets, each sending one datagram
// at a time and waiting for its echo, so nothing is lost to socket buffers and
// every reply is matched to its request. Bounded in count and in time.
import { hostPort } from '../util/endpoint.js';
import { scaledMs } from '../util/time.js';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface RoundTripOptions {
  host: string;
  port: number;
  /** Datagrams in all, spread evenly over the sockets (each sends its share). */
  count: number;
  sockets: number;
  /** Source ports to bind (one per socket); default: ephemeral. */
  sourcePorts?: number[];
  /** Address to bind the sockets to (default: any). */
  bindAddress?: string;
  /** Per-datagram reply timeout. */
  timeoutMs?: number;
  /** Whole run deadline. */
  deadlineMs?: number;
}

export interface RoundTripResult {
  sent: number;
  received: number;
  lost: number;
  /** Replies counted by the address:port they came from. */
  replySources: Record<string, number>;
  /** Replies whose payload did not match the request. */
  mismatched: number;
  elapsedMs: number;
}

function bindSocket(s: Socket, port: number | undefined, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port: port ?? 0, address }, () => {
      s.off('error', reject);
      resolve();
    });
  });
}

export async function udpRoundTrips(o: RoundTripOptions): Promise<RoundTripResult> {
  const started = Date.now();
  const deadline = started + scaledMs(o.deadlineMs ?? 60_000);
  const timeoutMs = scaledMs(o.timeoutMs ?? 1000);
  const res: RoundTripResult = {
    sent: 0,
    received: 0,
    lost: 0,
    replySources: {},
    mismatched: 0,
    elapsedMs: 0,
  };
  const type = isIPv6(o.host) ? 'udp6' : 'udp4';
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < o.sockets; i++) {
      const s = createSocket(type);
      sockets.push(s);
      await bindSocket(s, o.sourcePorts?.[i], o.bindAddress);
    }
    const share = (i: number) => Math.floor(o.count / o.sockets) + (i < o.count % o.sockets ? 1 : 0);
    await Promise.all(
      sockets.map(async (s, i) => {
        let pending: ((msg: Buffer | undefined, from?: string) => void) | undefined;
        s.on('message', (msg, rinfo) => {
          const from = hostPort(rinfo.address, rinfo.port);
          pending?.(msg, from);
        });
        for (let seq = 0; seq < share(i) && Date.now() < deadline; seq++) {
          const payload = Buffer.from(`xlb ${i} ${seq}`);
          const reply = new Promise<[Buffer | undefined, string | undefined]>((resolve) => {
            const timer = setTimeout(() => resolve([undefined, undefined]), timeoutMs);
            pending = (msg, from) => {
              clearTimeout(timer);
              resolve([msg, from]);
            };
          });
          s.send(payload, o.port, o.host);
          res.sent++;
          const [msg, from] = await reply;
          pending = undefined;
          if (!msg || !from) {
            res.lost++;
            continue;
          }
          res.received++;
          res.replySources[from] = (res.replySources[from] ?? 0) + 1;
          if (!msg.equals(payload)) res.mismatched++;
        }
      }),
    );
  } finally {
    for (const s of sockets) s.close();
  }
  res.elapsedMs = Date.now() - started;
  return res;
}
