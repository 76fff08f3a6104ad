// Runs the API fuzzer against a daemon (from inside its network namespace) and prints the result
// as one JSON line: node api-run.js URL SOCKET TOKEN_FILE CALLS SEED
import { readFileSync } from 'node:fs';
import { ApiClient } from '../../src/api/client.js';
import { fuzzApi } from './api.js';

const [url, socket, tokenFile, calls, seed] = process.argv.slice(2);
if (!url || !socket || !tokenFile || !calls || !seed) {
  console.error('usage: api-run.js URL SOCKET TOKEN_FILE CALLS SEED');
  process.exit(2);
}
const token = readFileSync(tokenFile, 'utf8').trim();
const api = new ApiClient({ socket, token });
const result = await fuzzApi(
  {
    url,
    socket,
    token,
    services: async () =>
      (await api.services()).map((s) => ({ name: s.name, backends: s.backends.map((b) => b.id) })),
  },
  { calls: Number(calls), seed: Number(seed) },
);
console.log(JSON.stringify(result));
