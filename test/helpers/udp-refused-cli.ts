// Sends datagrams from a connected UDP socket and reports whether the kernel turned an ICMP
// error into ECONNREFUSED (it does so only for an error that quotes this socket's own
// datagram: client -> the address it is connected to). Prints JSON and exits 0 either way:
// node udp-refused-cli.js HOST PORT [TIMEOUT_MS]
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [host, port, timeout] = process.argv.slice(2);
if (!host || !port) {
  console.error('usage: udp-refused-cli.js HOST PORT [TIMEOUT_MS]');
  process.exit(2);
}
const limit = Number(timeout ?? 3000);
const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
const started = Date.now();
let sent = 0;
let timer: NodeJS.Timeout | undefined;
const finish = (result: object) => {
  clearInterval(timer);
  socket.close();
  console.log(JSON.stringify({ ...result, sent, ms: Date.now() - started }));
};
socket.on('error', (e: NodeJS.ErrnoException) => finish({ error: e.code ?? e.message }));
socket.on('message', () => finish({ error: null, answered: true }));
socket.connect(Number(port), host, () => {
  // One datagram every 200 ms, so that a first one lost on neighbour resolution does not decide.
  const send = () => {
    if (Date.now() - started > limit) return finish({ error: null });
    sent++;
    socket.send('anyone there?');
  };
  send();
  timer = setInterval(send, 200);
});
