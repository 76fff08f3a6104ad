// The tutorial's test backend, done properly: UDP servers on several ports that print
// each datagram (port, size, sender, contents) and echo it back to the sender.
import { hostPort } from '../util/endpoint.js';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface Datagram {
  port: number;
  size: number;
  from: { address: string; port: number };
  data: Buffer;
}

export interface EchoServerOptions {
  ports: number[];
  /** Address to bind (default 127.0.0.1, the tutorial's). */
  address?: string;
  /** Send each datagram back (default true). */
  echo?: boolean;
  onDatagram?: (d: Datagram) => void;
}

export interface EchoServers {
  /** Datagrams received, per port. */
  readonly received: Map<number, number>;
  close(): Promise<void>;
}

/** Printable, one-line rendering of a payload (at most 64 characters shown). */
export function printable(data: Buffer): string {
  const text = data
    .subarray(0, 64)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, (c) =>
      c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
  return data.length > 64 ? `${text}…` : text;
}

export function formatDatagram(d: Datagram): string {
  return `port ${d.port}: ${d.size} bytes from ${hostPort(d.from.address, d.from.port)}: ${printable(d.data)}`;
}

function bind(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) =>
      reject(new Error(`echo-server: cannot bind ${address}:${port}: ${e.message}`));
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

export async function startEchoServers(opts: EchoServerOptions): Promise<EchoServers> {
  const address = opts.address ?? '127.0.0.1';
  const received = new Map<number, number>();
  const sockets: Socket[] = [];
  const close = () =>
    Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(
      () => undefined,
    );
  try {
    for (const port of opts.ports) {
      const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
      sockets.push(socket);
      received.set(port, 0);
      socket.on('message', (data, rinfo) => {
        received.set(port, (received.get(port) ?? 0) + 1);
        opts.onDatagram?.({
          port,
          size: data.length,
          from: { address: rinfo.address, port: rinfo.port },
          data,
        });
        if (opts.echo !== false) socket.send(data, rinfo.port, rinfo.address);
      });
      await bind(socket, port, address);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { received, close };
}
