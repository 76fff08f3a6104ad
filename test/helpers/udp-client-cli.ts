// Runs udpRoundTrips from the command line (inside a lab namespace) and prints the
// result as JSON: node udp-client-cli.js HOST PORT COUNT SOCKETS [FIRST_SOURCE_PORT]
import { udpRoundTrips } from '../../src/lab/udp-client.js';

const [host, port, count, sockets, firstSourcePort] = process.argv.slice(2);
if (!host || !port || !count || !sockets) {
  console.error('usage: udp-client-cli.js HOST PORT COUNT SOCKETS [FIRST_SOURCE_PORT]');
  process.exit(2);
}
const n = Number(sockets);
const result = await udpRoundTrips({
  host,
  port: Number(port),
  count: Number(count),
  sockets: n,
  sourcePorts: firstSourcePort ? Array.from({ length: n }, (_, i) => Number(firstSourcePort) + i) : undefined,
});
console.log(JSON.stringify(result));
