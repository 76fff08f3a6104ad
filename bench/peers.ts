// The benchmark's peer subjects: what an operator would use instead of xlb (nftables DNAT,
// nginx's stream proxy, a plain Node.js proxy), each started and stopped inside the load
// balancer's network namespace, with errors that name the peer, the command and its output.
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsArgv, nsSpawn } from '../src/lab/exec.js';

export interface PeerEnv {
  /** The load balancer's namespace. */
  ns: string;
  /** IPv4 service address, e.g. 192.0.2.100. */
  vip: string;
  /** Service port, e.g. 5300. */
  port: number;
  /** IPv4 backends. */
  backends: { address: string; port: number }[];
  /** For config files, logs and pid files (exists). */
  tmpDir: string;
}

export interface Peer {
  readonly name: 'nftables' | 'nginx' | 'node-proxy';
  start(env: PeerEnv): Promise<void>;
  /** Idempotent, and safe after a failed start. */
  stop(): Promise<void>;
}

const READY_MS = 10_000;
const STOP_MS = 5_000;
const NFT_TABLE = 'xlb_bench';
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
export const NODE_PROXY = fileURLToPath(new URL('./node-proxy.js', import.meta.url));

// ---- small helpers ---------------------------------------------------------------------------

/** The executable's path on PATH or in the sbin directories (absent from non-root PATHs). */
export function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const quote = (argv: string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');
const tail = (text: string, max = 2000) => (text.length > max ? `…${text.slice(-max)}` : text).trim();

function checkEnv(peer: string, env: PeerEnv): void {
  if (env.backends.length === 0) throw new Error(`${peer} peer: no backends`);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(env.vip)) throw new Error(`${peer} peer: VIP '${env.vip}' is not IPv4`);
}

/** Runs a command in the namespace to completion (bounded); throws naming the peer and command. */
function run(peer: string, ns: string, cmd: string, args: string[], allowFail = false): string {
  const [c, a] = nsArgv(ns, cmd, args);
  const r = spawnSync(c, a, { encoding: 'utf8', timeout: READY_MS });
  if ((r.error || r.status !== 0) && !allowFail) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    throw new Error(
      `${peer} peer: \`${quote([c, ...a])}\` failed (${why}): ${tail(r.stderr ?? '') || '(no output)'}`,
    );
  }
  return r.stdout ?? '';
}

/** Adds VIP/32 to the namespace's lo; false when it was there already (then it is not ours). */
function addVip(peer: string, ns: string, vip: string): boolean {
  const r = spawnSync('ip', ['-n', ns, 'addr', 'add', `${vip}/32`, 'dev', 'lo'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (/File exists|already assigned/.test(r.stderr)) return false;
  throw new Error(`${peer} peer: \`ip -n ${ns} addr add ${vip}/32 dev lo\` failed: ${tail(r.stderr)}`);
}

function removeVip(ns: string, vip: string): void {
  spawnSync('ip', ['-n', ns, 'addr', 'del', `${vip}/32`, 'dev', 'lo'], { encoding: 'utf8' });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A long-running process in a namespace whose output is kept (the last 64 KiB of each stream). */
class Daemon {
  stdout = '';
  stderr = '';
  readonly argv: string[];
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(ns: string, cmd: string, args: string[]) {
    const [c, a] = nsArgv(ns, cmd, args);
    this.argv = [c, ...a];
    this.child = nsSpawn(ns, cmd, args);
    const keep = (s: string, chunk: Buffer) => (s + chunk.toString()).slice(-65536);
    this.child.stdout?.on('data', (b: Buffer) => (this.stdout = keep(this.stdout, b)));
    this.child.stderr?.on('data', (b: Buffer) => (this.stderr = keep(this.stderr, b)));
    // 'exit', not 'close': an orphaned nginx worker would hold the pipes open.
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.once('error', (e) => (this.stderr += `\n${e.message}`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  describeExit(): string {
    if (this.running) return 'still running';
    return `exited ${this.child.exitCode ?? this.child.signalCode ?? '(did not start)'}`;
  }

  /** Polls until ready() holds; false on exit or after the timeout. */
  async waitReady(ready: () => boolean, timeoutMs = READY_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (ready()) return true;
      if (!this.running) return false;
      await sleep(100);
    }
    return ready();
  }

  /** Sends `signal`, then SIGKILL (to the process and its children) after the timeout. */
  async stop(signal: NodeJS.Signals, timeoutMs = STOP_MS): Promise<void> {
    if (this.running) this.child.kill(signal);
    const pid = this.child.pid;
    const timer = setTimeout(() => {
      if (pid !== undefined) [...childrenOf(pid), pid].forEach((p) => kill(p, 'SIGKILL'));
    }, timeoutMs);
    if (pid !== undefined) await this.exited;
    clearTimeout(timer);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** Whether process `pid` has a UDP socket bound to VIP:PORT in the namespace (`ss -Hlunp`). */
const listening = (ns: string, vip: string, port: number, pid: number | undefined) =>
  spawnSync(...nsArgv(ns, which('ss') ?? 'ss', ['-Hlunp']), { encoding: 'utf8' })
    .stdout.split('\n')
    .some((l) => l.split(/\s+/).includes(`${vip}:${port}`) && l.includes(`pid=${pid},`));

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

// ---- nftables ----------------------------------------------------------------------------------

export function nftablesRuleset(env: PeerEnv): string {
  const map = env.backends.map((b, i) => `${i} : ${b.address} . ${b.port}`).join(', ');
  return [
    `table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${env.vip} udp dport ${env.port} dnat ip to numgen inc mod ${env.backends.length} map { ${map} }`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** DNAT in the LB namespace; conntrack makes the choice per flow, kernel forwarding does the rest. */
export function nftablesPeer(): Peer {
  let ns: string | undefined;
  return {
    name: 'nftables',
    // Promise.resolve().then: a failure is a rejection, never a synchronous throw.
    start: (env) =>
      Promise.resolve().then(() => {
        checkEnv('nftables', env);
        const forwarding = run('nftables', env.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim();
        if (forwarding !== '1') throw new Error(`nftables peer: net.ipv4.ip_forward is off in ${env.ns}`);
        const file = join(env.tmpDir, 'nftables.nft');
        writeFileSync(file, nftablesRuleset(env));
        ns = env.ns;
        try {
          run('nftables', env.ns, which('nft') ?? 'nft', ['-f', file]);
        } catch (e) {
          stopNft(env.ns);
          ns = undefined;
          throw e;
        }
      }),
    stop: () =>
      Promise.resolve().then(() => {
        if (ns !== undefined) stopNft(ns);
        ns = undefined;
      }),
  };
}

function stopNft(ns: string): void {
  run('nftables', ns, which('nft') ?? 'nft', ['delete', 'table', 'ip', NFT_TABLE], true);
}

// ---- proxies (nginx, node-proxy) ---------------------------------------------------------------

interface ProxySpec {
  name: 'nginx' | 'node-proxy';
  /** The command to run (written config files first, if any). */
  command(env: PeerEnv): [string, string[]];
  ready(env: PeerEnv, d: Daemon): boolean;
  stopSignal: NodeJS.Signals;
  /** Extra detail for a failed start (e.g. a log file). */
  detail?(env: PeerEnv): string;
}

/** A userspace proxy bound to VIP:PORT: VIP on lo, the process, readiness, and cleanup on failure. */
function proxyPeer(spec: ProxySpec): Peer {
  let state: { ns: string; vip: string; vipAdded: boolean; daemon?: Daemon } | undefined;
  const stop = async () => {
    const s = state;
    state = undefined;
    if (!s) return;
    await s.daemon?.stop(s.daemon.running ? spec.stopSignal : 'SIGKILL');
    if (s.vipAdded) removeVip(s.ns, s.vip);
  };
  return {
    name: spec.name,
    async start(env) {
      checkEnv(spec.name, env);
      if (state) throw new Error(`${spec.name} peer: already started`);
      state = { ns: env.ns, vip: env.vip, vipAdded: addVip(spec.name, env.ns, env.vip) };
      try {
        const [cmd, args] = spec.command(env);
        const daemon = (state.daemon = new Daemon(env.ns, cmd, args));
        if (!(await daemon.waitReady(() => spec.ready(env, daemon)))) {
          const extra = daemon.stderr.trim() ? '' : (spec.detail?.(env) ?? '');
          throw new Error(
            `${spec.name} peer did not come up on ${env.vip}:${env.port} within ${READY_MS / 1000} s: ` +
              `\`${quote(daemon.argv)}\` ${daemon.describeExit()}; stderr: ${tail(daemon.stderr) || '(none)'}` +
              (extra ? `; ${extra}` : ''),
          );
        }
      } catch (e) {
        await stop();
        throw e;
      }
    },
    stop,
  };
}

export function nginxConfig(env: PeerEnv): string {
  const t = env.tmpDir;
  return [
    `load_module ${NGINX_STREAM_MODULE};`,
    'worker_processes 1;',
    'daemon off;',
    `pid ${join(t, 'nginx.pid')};`,
    `error_log ${join(t, 'nginx-error.log')} warn;`,
    'events { worker_connections 4096; }',
    'stream {',
    '  upstream xlb_bench {',
    ...env.backends.map((b) => `    server ${b.address}:${b.port};`),
    '  }',
    '  server {',
    `    listen ${env.vip}:${env.port} udp;`,
    '    proxy_pass xlb_bench;',
    '    proxy_responses 0;',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Debian's nginx with the stream module: one worker, round-robin upstream, no replies. */
export function nginxPeer(): Peer {
  return proxyPeer({
    name: 'nginx',
    command(env) {
      const conf = join(env.tmpDir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(env));
      // -e: the log used before the config's error_log is read (else /var/log/nginx/error.log).
      const args = ['-p', env.tmpDir, '-e', join(env.tmpDir, 'nginx-error.log'), '-c', conf];
      return [which('nginx') ?? 'nginx', args];
    },
    ready: (env, d) => listening(env.ns, env.vip, env.port, d.pid),
    stopSignal: 'SIGQUIT',
    detail: (env) => {
      const log = tail(readIfExists(join(env.tmpDir, 'nginx-error.log')));
      return log ? `error log: ${log}` : '';
    },
  });
}

/** The minimal Node.js dgram round-robin proxy (bench/node-proxy.ts). */
export function nodeProxyPeer(): Peer {
  return proxyPeer({
    name: 'node-proxy',
    command: (env) => [
      process.execPath,
      [NODE_PROXY, env.vip, String(env.port), ...env.backends.map((b) => `${b.address}:${b.port}`)],
    ],
    ready: (_env, d) => /^listening/m.test(d.stdout),
    stopSignal: 'SIGTERM',
  });
}

export const PEERS: (() => Peer)[] = [nftablesPeer, nginxPeer, nodeProxyPeer];

/** What the peers need and is missing, with the apt packages that provide it; empty when all there. */
export function peerPrerequisites(): string[] {
  const missing: string[] = [];
  const need = (ok: boolean, what: string) => ok || missing.push(what);
  need(which('nsenter') !== undefined, 'nsenter (apt-get install util-linux)');
  need(which('ip') !== undefined && which('ss') !== undefined, 'ip, ss (apt-get install iproute2)');
  need(which('sysctl') !== undefined, 'sysctl (apt-get install procps)');
  need(which('nft') !== undefined, 'nft (apt-get install nftables)');
  need(which('nginx') !== undefined, 'nginx (apt-get install nginx libnginx-mod-stream)');
  need(existsSync(NGINX_STREAM_MODULE), `${NGINX_STREAM_MODULE} (apt-get install libnginx-mod-stream)`);
  need(existsSync(NODE_PROXY), `${NODE_PROXY} (npm run build)`);
  return missing;
}
