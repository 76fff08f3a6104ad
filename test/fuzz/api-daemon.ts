// A real `xlb daemon` for the API fuzzer: in a network namespace of its own, on its `lo`
// (generic XDP), with the API on a unix socket and on TCP with a token. Removed afterwards,
// also when the fuzzer fails. runApiFuzz runs the fuzzer in a child process inside the
// namespace (its TCP listener is on the namespace's loopback).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/api/client.js';
import { nsSh, nsSpawn } from '../../src/lab/exec.js';
import { createNetns, deleteNetns } from '../../src/lab/netns.js';
import { CLI, Proc } from '../../src/lab/proc.js';
import type { ApiFuzzResult } from './api.js';

const CONFIG = `interface: lo
xdp_mode: generic
services:
  - name: dns
    vip: 192.0.2.10
    port: 53
    mode: nat
    backends:
      - { address: 198.51.100.11, port: 53 }
      - { address: 198.51.100.12, port: 53, weight: 3 }
  - name: rr
    vip: 192.0.2.10
    port: 5400
    mode: nat
    scheduler: round-robin
    backends:
      - { address: 198.51.100.11, port: 5400 }
  - name: dns6
    vip: "fd00:192::10"
    port: 53
    mode: nat
    backends:
      - { address: "fd00:198::11", port: 53 }
`;

/** Where the fuzz daemon answers: its namespace (TCP is reachable only from inside it). */
export interface FuzzDaemon {
  ns: string;
  url: string;
  socket: string;
  tokenFile: string;
}

export async function withFuzzDaemon<T>(fn: (d: FuzzDaemon) => Promise<T>): Promise<T> {
  const ns = `xlbf-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-apifuzz-'));
  const instance = `apifuzz-${process.pid}`;
  const socket = join(tmp, 'api.sock');
  const tokenFile = join(tmp, 'token');
  const port = 30000 + (process.pid % 20000);
  createNetns(ns);
  let daemon: Proc | undefined;
  try {
    nsSh(ns, 'ip', ['link', 'set', 'lo', 'up']);
    writeFileSync(join(tmp, 'xlb.yaml'), CONFIG);
    daemon = new Proc(
      nsSpawn(ns, process.execPath, [
        CLI,
        'daemon',
        '--config',
        join(tmp, 'xlb.yaml'),
        '--instance',
        instance,
        '--api-socket',
        socket,
        '--api-listen',
        `127.0.0.1:${port}`,
        '--api-token-file',
        tokenFile,
        '--no-watch',
        '--log-level',
        'warn',
      ]),
    );
    await daemon.waitFor(/"event":"ready"|ready/, 30_000).catch(async () => {
      // log level warn hides 'ready': wait for the socket to answer instead
      const api = new ApiClient({ socket, token: readFileSync(tokenFile, 'utf8').trim() });
      for (let i = 0; i < 300; i++) {
        if (await api.ready().catch(() => false)) return '';
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the fuzz daemon did not come up:\n${daemon?.stderr.join('\n') ?? ''}`);
    });
    return await fn({ ns, url: `http://127.0.0.1:${port}`, socket, tokenFile });
  } finally {
    await daemon?.stop('SIGTERM');
    nsSh(ns, process.execPath, [CLI, 'down', '--instance', instance], { allowFail: true });
    deleteNetns(ns);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs `calls` fuzzed requests against the daemon, from a child process inside its namespace. */
export async function runApiFuzz(d: FuzzDaemon, calls: number, seed: number): Promise<ApiFuzzResult> {
  const p = new Proc(
    nsSpawn(d.ns, process.execPath, [
      fileURLToPath(new URL('./api-run.js', import.meta.url)),
      d.url,
      d.socket,
      d.tokenFile,
      String(calls),
      String(seed),
    ]),
  );
  const code = await p.wait();
  const line = p.lines.find((l) => l.startsWith('{'));
  if (code !== 0 || line === undefined) {
    throw new Error(`the API fuzzer failed (exit ${code}):\n${p.stderr.join('\n')}`);
  }
  return JSON.parse(line) as ApiFuzzResult;
}
