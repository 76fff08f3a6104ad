// xlb lab up|down|status: a network-namespace lab (clients, load balancer, echo backends)
// for trying xlb's forwarding modes by hand. `up` builds it and leaves it running, with a
// state file under /run/xlb/lab that `status` reads and `down` uses to remove everything.
import { cliMainPath } from '../../util/paths.js';
import { hostPort } from '../../util/endpoint.js';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pidAlive, runDir } from '../../util/host.js';
import { nsArgv } from '../../lab/exec.js';
import {
  DEFAULT_BACKEND_PORT,
  DEFAULT_PORT,
  MAX_HOSTS,
  createLab,
  describeLab,
  labInfo,
  type Lab,
  type LabInfo,
  type LabListener,
  type LabMode,
} from '../../lab/lab.js';
import { deleteNetns, listNetns } from '../../lab/netns.js';
import {
  UsageError,
  intOption,
  parse,
  usage,
  type CommandSpec,
  type OptionSpec,
  type CliCommand,
} from '../common/args.js';

const MAIN = cliMainPath();
const DEFAULT_NAME = 'xlb-lab';
const NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$/;
/** The node part of a lab namespace name (after `${name}-`). */
const NODE_RE = /^(?:sw|lb|client\d+|be\d+)$/;
const LOG_RE = /^(?:lb|be\d+)\.log$/;
const MODES: readonly LabMode[] = ['local', 'nat', 'fullnat', 'dsr'];
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 2_000;

const nameOption = {
  type: 'string',
  short: 'n',
  arg: 'NAME',
  help: "the lab's name; its namespaces are NAME-lb, NAME-client1, …",
  default: DEFAULT_NAME,
} satisfies OptionSpec;

const upSpec = {
  name: 'lab up',
  summary:
    'Builds a lab of network namespaces for a forwarding mode (clients, a load balancer "lb", backends\n' +
    'running echo servers, a switch "sw"), writes an xlb config for it and prints how to use it.\n' +
    'A lab of the same name is removed first.',
  usage:
    'xlb lab up --mode dsr|nat|fullnat|local [--clients N] [--backends M] [--arms 1|2] [--health udp] [--name NAME]',
  options: {
    mode: { type: 'string', short: 'm', arg: 'MODE', help: 'forwarding mode: dsr, nat, fullnat or local' },
    clients: { type: 'string', arg: 'N', help: `client namespaces, 1..${MAX_HOSTS}`, default: '1' },
    backends: {
      type: 'string',
      arg: 'M',
      help: `backend namespaces, 1..${MAX_HOSTS} (local: backend ports on the lb)`,
      default: '3',
    },
    arms: { type: 'string', arg: '1|2', help: 'LB interfaces (default: 2 for nat and fullnat, else 1)' },
    name: nameOption,
    port: { type: 'string', arg: 'PORT', help: 'service port', default: String(DEFAULT_PORT) },
    'backend-port': {
      type: 'string',
      arg: 'PORT',
      help: 'backend port (dsr backends listen on the service port)',
      default: String(DEFAULT_BACKEND_PORT),
    },
    health: {
      type: 'string',
      arg: 'udp',
      help: 'add a udp health check to every service (for xlb daemon; in dsr it probes the VIP through each backend)',
    },
  },
  details: 'Needs root. Files: /run/xlb/lab/NAME.yaml (config), NAME.json (state), NAME-*.log (backends).',
} satisfies CommandSpec<Record<string, OptionSpec>>;

const downSpec = {
  name: 'lab down',
  summary: "Stops a lab's echo servers and deletes its namespaces and files. Succeeds if there is none.",
  usage: 'xlb lab down [--name NAME]',
  options: { name: nameOption },
} satisfies CommandSpec<Record<string, OptionSpec>>;

const statusSpec = {
  name: 'lab status',
  summary: 'What exists of a lab: its namespaces, its echo servers and its addresses.',
  usage: 'xlb lab status [--name NAME] [--json]',
  options: { name: nameOption, json: { type: 'boolean', help: 'print JSON' } },
  details: 'Exit status: 0 when the lab exists and is whole, 1 when it is absent or partly gone.',
} satisfies CommandSpec<Record<string, OptionSpec>>;

const GROUP_HELP = [
  'usage: xlb lab up|down|status [options]',
  '',
  'Network-namespace labs for trying xlb: clients, a load balancer and echo backends.',
  '',
  'subcommands:',
  '  up      Builds a lab for a forwarding mode and starts its echo backends.',
  `  down    ${downSpec.summary}`,
  `  status  ${statusSpec.summary}`,
  '',
  '`xlb lab SUBCOMMAND --help` describes a subcommand.',
].join('\n');

// ---- files and state -----------------------------------------------------------------------------

interface LabProcess extends LabListener {
  pid: number;
  log: string;
}
interface LabState extends LabInfo {
  name: string;
  createdAt: string;
  port: number;
  backendPort: number;
  config: string;
  processes: LabProcess[];
}

const labDir = (): string => join(runDir(), 'lab');
const paths = (name: string) => ({
  config: join(labDir(), `${name}.yaml`),
  state: join(labDir(), `${name}.json`),
  log: (node: string) => join(labDir(), `${name}-${node}.log`),
});

function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new UsageError(
      `lab: bad --name '${name}': 1-24 of a-z, 0-9 and '-', not starting or ending with '-'`,
    );
  }
  return name;
}

function readLabState(name: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(paths(name).state, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** Namespaces of this lab that exist (recorded or not: leftovers of a crash count too). */
function presentNamespaces(name: string): string[] {
  const prefix = `${name}-`;
  return listNetns(prefix).filter((n) => NODE_RE.test(n.slice(prefix.length)));
}

/** True when `pid` is alive and is one of our echo servers (not a reused pid). */
function isEchoServer(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('echo-server');
  } catch {
    return false;
  }
}

// ---- down ----------------------------------------------------------------------------------------

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone meanwhile */
  }
}

/** SIGTERM, then SIGKILL after a bounded wait; returns how many were running. */
async function stopProcesses(pids: number[]): Promise<number> {
  const live = pids.filter(isEchoServer);
  live.forEach((pid) => signal(pid, 'SIGTERM'));
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (live.some(isEchoServer) && Date.now() < deadline) await sleep(50);
  live.filter(isEchoServer).forEach((pid) => signal(pid, 'SIGKILL'));
  return live.length;
}

function removeFiles(name: string): void {
  const p = paths(name);
  rmSync(p.config, { force: true });
  rmSync(p.state, { force: true });
  if (!existsSync(labDir())) return;
  for (const f of readdirSync(labDir())) {
    if (f.startsWith(`${name}-`) && LOG_RE.test(f.slice(name.length + 1)))
      rmSync(join(labDir(), f), { force: true });
  }
}

/** Removes everything of lab `name`; returns what there was. */
async function teardown(name: string): Promise<{ namespaces: number; processes: number; files: boolean }> {
  const state = readLabState(name);
  const processes = await stopProcesses(state?.processes.map((p) => p.pid) ?? []);
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...presentNamespaces(name)])];
  const present = new Set(listNetns(`${name}-`));
  const deleted = namespaces.filter((n) => present.has(n));
  deleted.forEach(deleteNetns);
  const files = state !== undefined || existsSync(paths(name).config);
  removeFiles(name);
  return { namespaces: deleted.length, processes, files };
}

async function down(argv: string[]): Promise<number> {
  const { values, help } = parse(downSpec, argv);
  if (help) return printHelp(downSpec);
  const name = checkName(values.name ?? DEFAULT_NAME);
  const r = await teardown(name);
  if (r.namespaces === 0 && r.processes === 0 && !r.files) console.log(`lab ${name}: nothing to remove`);
  else console.log(`lab ${name}: removed (${r.namespaces} namespaces, ${r.processes} echo servers stopped)`);
  return 0;
}

// ---- up ------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function startListener(l: LabListener, log: string): { proc: LabProcess; exited: () => boolean } {
  const [cmd, args] = nsArgv(l.ns, process.execPath, [
    MAIN,
    'echo-server',
    '--address',
    l.address,
    ...l.ports.flatMap((p) => ['--port', String(p)]),
    '--quiet',
  ]);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start an echo server in ${l.ns}`);
    return {
      proc: { ...l, pid: child.pid, log },
      exited: () => child.exitCode !== null || child.signalCode !== null,
    };
  } finally {
    closeSync(fd);
  }
}

/** Waits until every echo server printed 'listening' (each log holds one line per process). */
async function waitReady(started: { proc: LabProcess; exited: () => boolean }[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const expected = new Map<string, number>();
  started.forEach((s) => expected.set(s.proc.log, (expected.get(s.proc.log) ?? 0) + 1));
  for (;;) {
    const dead = started.find((s) => s.exited());
    if (dead) {
      throw new Error(
        `echo server in ${dead.proc.ns} exited:\n${readFileSync(dead.proc.log, 'utf8').trim()}`,
      );
    }
    const pending = [...expected].filter(
      ([log, n]) => (readFileSync(log, 'utf8').match(/^listening on /gm) ?? []).length < n,
    );
    if (pending.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`echo servers not listening after 10 s: see ${pending[0]![0]}`);
    await sleep(50);
  }
}

/** The health block of --health (the echo backends answer udp probes). */
function healthOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value !== 'udp')
    throw new UsageError(
      `lab up: --health must be udp (the lab's backends are UDP echo servers), got '${value}'`,
    );
  return '{ type: udp, interval: 1, timeout: 500ms, rise: 2, fall: 2 }';
}

function upOptions(values: ReturnType<typeof parse<typeof upSpec.options>>['values']) {
  const mode = values.mode as LabMode | undefined;
  if (mode === undefined || !MODES.includes(mode)) {
    throw new UsageError(`lab up: --mode must be one of ${MODES.join(', ')} (see xlb lab up --help)`);
  }
  const arms = values.arms === undefined ? undefined : intOption('lab up', 'arms', values.arms, 1, 2);
  const backends = intOption('lab up', 'backends', values.backends ?? '3', 1, MAX_HOSTS);
  // local: the backends listen on backend-port .. backend-port + backends - 1
  const last = mode === 'local' ? 65536 - backends : 65535;
  return {
    name: checkName(values.name ?? DEFAULT_NAME),
    mode,
    arms: arms as 1 | 2 | undefined,
    clients: intOption('lab up', 'clients', values.clients ?? '1', 1, MAX_HOSTS),
    backends,
    port: intOption('lab up', 'port', values.port ?? String(DEFAULT_PORT), 1, 65535),
    health: healthOption(values.health),
    backendPort: intOption(
      'lab up',
      'backend-port',
      values['backend-port'] ?? String(DEFAULT_BACKEND_PORT),
      1,
      last,
    ),
  };
}

async function up(argv: string[]): Promise<number> {
  const { values, help } = parse(upSpec, argv);
  if (help) return printHelp(upSpec);
  const o = upOptions(values);
  if (process.getuid?.() !== 0) throw new Error('lab up needs root (it makes network namespaces)');
  const previous = await teardown(o.name);
  if (previous.namespaces > 0 || previous.files) console.log(`lab ${o.name}: removed the previous lab`);
  const lab = createLab({
    prefix: `${o.name}-`,
    mode: o.mode,
    clients: o.clients,
    backends: o.backends,
    arms: o.arms,
  });
  try {
    const state = await start(lab, o);
    console.log(describeUp(state));
    return 0;
  } catch (e) {
    await teardown(o.name);
    lab.destroy();
    throw e;
  }
}

async function start(lab: Lab, o: ReturnType<typeof upOptions>): Promise<LabState> {
  const p = paths(o.name);
  mkdirSync(labDir(), { recursive: true });
  const ports = { port: o.port, backendPort: o.backendPort };
  writeFileSync(
    p.config,
    lab.xlbConfig({ ...ports, ...(o.health === undefined ? {} : { health: o.health }) }),
  );
  const state: LabState = {
    name: o.name,
    createdAt: new Date().toISOString(),
    ...labInfo(lab),
    ...ports,
    config: p.config,
    processes: [],
  };
  const started = lab.listeners(ports).map((l) => startListener(l, p.log(l.node)));
  state.processes = started.map((s) => s.proc);
  writeFileSync(p.state, JSON.stringify(state, null, 2) + '\n');
  await waitReady(started);
  return state;
}

function describeUp(s: LabState): string {
  const nameFlag = s.name === DEFAULT_NAME ? '' : ` --name ${s.name}`;
  const client = s.clients[0]!;
  const nc = (flags: string, vip: string) =>
    `  nsenter --net=/run/netns/${client.ns} sh -c 'echo hi | nc ${flags}-u -w1 ${vip} ${s.port}'`;
  return [
    describeLab(s),
    'echo backends:',
    ...s.processes.map(
      (p) =>
        `  ${p.ns.slice(s.prefix.length).padEnd(4)} ${p.ports.map((port) => hostPort(p.address, port)).join(' ')}  (log ${p.log})`,
    ),
    `config: ${s.config}`,
    '',
    "run xlb in the load balancer's namespace (from the repository):",
    `  nsenter --net=/run/netns/${s.lb.ns} ./xlb run --config ${s.config}`,
    `send a datagram from ${client.ns.slice(s.prefix.length)} (IPv4, IPv6):`,
    nc('', s.vip.v4),
    nc('-6 ', s.vip.v6),
    'tear down:',
    `  ./xlb lab down${nameFlag}`,
  ].join('\n');
}

// ---- status --------------------------------------------------------------------------------------

interface LabStatus {
  name: string;
  exists: boolean;
  whole: boolean;
  state?: LabState;
  namespaces: { name: string; present: boolean }[];
  processes: (LabProcess & { alive: boolean })[];
}

function labStatus(name: string): LabStatus {
  const state = readLabState(name);
  const present = new Set(presentNamespaces(name));
  const names = [...new Set([...(state?.namespaces ?? []), ...present])];
  const namespaces = names.map((n) => ({ name: n, present: present.has(n) }));
  const processes = (state?.processes ?? []).map((p) => ({ ...p, alive: isEchoServer(p.pid) }));
  const exists = state !== undefined || present.size > 0;
  const whole = state !== undefined && namespaces.every((n) => n.present) && processes.every((p) => p.alive);
  return { name, exists, whole, ...(state ? { state } : {}), namespaces, processes };
}

function printStatus(st: LabStatus): void {
  if (!st.exists) {
    console.log(`lab ${st.name}: none`);
    return;
  }
  if (st.state) console.log(describeLab(st.state));
  else console.log(`lab ${st.name}: no state file, leftover namespaces only (xlb lab down removes them)`);
  const missing = st.namespaces.filter((n) => !n.present).map((n) => n.name);
  console.log(
    `namespaces: ${st.namespaces.length - missing.length} present` +
      (missing.length ? `, missing: ${missing.join(' ')}` : ''),
  );
  for (const p of st.processes) {
    console.log(
      `  echo ${p.ns} ${p.ports.map((port) => hostPort(p.address, port)).join(' ')} pid ${p.pid} ${p.alive ? 'alive' : 'DEAD'}`,
    );
  }
  if (st.state) console.log(`config: ${st.state.config}`);
  console.log(
    st.whole ? 'status: up' : 'status: partly gone (xlb lab up rebuilds it, xlb lab down removes it)',
  );
}

function status(argv: string[]): number {
  const { values, help } = parse(statusSpec, argv);
  if (help) return printHelp(statusSpec);
  const st = labStatus(checkName(values.name ?? DEFAULT_NAME));
  if (values.json) console.log(JSON.stringify(st, null, 2));
  else printStatus(st);
  return st.exists && st.whole ? 0 : 1;
}

// ---- dispatch ------------------------------------------------------------------------------------

function printHelp(spec: CommandSpec<Record<string, OptionSpec>>): number {
  console.log(usage(spec));
  return 0;
}

export async function labCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    console.log(GROUP_HELP);
    return sub === undefined ? 2 : 0;
  }
  switch (sub) {
    case 'up':
      return up(rest);
    case 'down':
      return down(rest);
    case 'status':
      return status(rest);
    default:
      throw new UsageError(`lab: unknown subcommand '${sub}' (use up, down or status; see xlb lab --help)`);
  }
}

/** The `lab` entry of main.ts's command table. */
export const command: CliCommand = {
  name: 'lab',
  summary: 'network-namespace labs (clients, load balancer, echo backends) to try xlb in',
  run: labCommand,
};
