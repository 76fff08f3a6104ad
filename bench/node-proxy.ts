// A minimal Node.js UDP proxy, the benchmark's "typical userspace proxy": binds VIP:PORT,
// forwards every datagram to the next backend (round-robin) from one ephemeral socket,
// expects no replies. Usage: node node-proxy.js VIP PORT BACKEND:PORT [BACKEND:PORT ...]
import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';

interface Target {
  address: string;
  port: number;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port '${text}'`);
  return port;
}

function parseTarget(text: string): Target {
  const [address = '', port = ''] = text.split(':');
  if (!isIPv4(address)) throw new Error(`bad backend '${text}' (want IPv4:PORT)`);
  return { address, port: parsePort(port) };
}

function main(argv: string[]): void {
  const [vip = '', portText = '', ...rest] = argv;
  if (!isIPv4(vip) || rest.length === 0) {
    console.error('usage: node-proxy VIP PORT BACKEND:PORT [BACKEND:PORT ...]');
    process.exit(2);
  }
  const port = parsePort(portText);
  const backends = rest.map(parseTarget);
  const inbound = createSocket('udp4');
  const outbound = createSocket('udp4');
  let next = 0;
  let forwarded = 0;
  let errors = 0;
  inbound.on('message', (msg) => {
    const b = backends[next]!;
    next = (next + 1) % backends.length;
    outbound.send(msg, b.port, b.address, (e) => (e ? errors++ : forwarded++));
  });
  inbound.on('error', (e) => {
    console.error(`node-proxy: ${e.message}`);
    process.exit(1);
  });
  outbound.on('error', () => errors++);
  const stop = () => {
    inbound.close();
    outbound.close();
    console.log(`forwarded: ${forwarded}, errors: ${errors}`);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  outbound.bind(0, () => inbound.bind(port, vip, () => console.log(`listening on ${vip}:${port}`)));
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`node-proxy: ${(e as Error).message}`);
  process.exit(2);
}
