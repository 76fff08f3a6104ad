// What every command that talks to the daemon shares: the connection options (--instance,
// --socket, --url, --token-file, --json), the client they make, subcommand groups and error output.
import { ApiClient, defaultSocket } from '../../api/client.js';
import { ApiError, ErrorCodes } from '../../daemon/contract.js';
import { DEFAULT_TOKEN_FILE, clientToken } from '../../util/token.js';
import {
  UsageError,
  parse,
  usage,
  type CliCommand,
  type CommandSpec,
  type OptionSpec,
  type Parsed,
} from './args.js';

/** The options of every command that talks to the daemon. */
export const apiOptions = {
  instance: { type: 'string', arg: 'NAME', help: 'instance to talk to', default: 'default' },
  socket: { type: 'string', arg: 'PATH', help: "the daemon's unix socket (default: /run/xlb/NAME.sock)" },
  url: { type: 'string', arg: 'URL', help: "the daemon's HTTP address instead, e.g. http://127.0.0.1:9477" },
  'token-file': {
    type: 'string',
    arg: 'FILE',
    help: `file holding the API bearer token (default: $XLB_API_TOKEN, else ${DEFAULT_TOKEN_FILE} when readable)`,
  },
  json: { type: 'boolean', help: "print the API's JSON instead of text" },
} satisfies Record<string, OptionSpec>;

export type ApiSpec = CommandSpec<typeof apiOptions & Record<string, OptionSpec>>;

interface ConnectValues {
  instance?: string | undefined;
  socket?: string | undefined;
  url?: string | undefined;
  'token-file'?: string | undefined;
}

/** The client for the connection options; --socket and --url exclude each other. */
export function connect(command: string, v: ConnectValues): ApiClient {
  if (v.socket !== undefined && v.url !== undefined) {
    throw new UsageError(`${command}: give --socket or --url, not both`);
  }
  let token: string | undefined;
  try {
    token = clientToken(v['token-file']);
  } catch (e) {
    throw new UsageError(`${command}: --token-file: ${(e as Error).message}`);
  }
  if (v.url !== undefined) {
    try {
      return new ApiClient({ url: v.url, token });
    } catch {
      throw new UsageError(`${command}: --url must be a URL like http://127.0.0.1:9477, got '${v.url}'`);
    }
  }
  let socket = v.socket;
  if (socket === undefined) {
    try {
      socket = defaultSocket(v.instance ?? 'default');
    } catch (e) {
      throw new UsageError(`${command}: ${(e as Error).message}`);
    }
  }
  return new ApiClient({ socket, token });
}

/** Human lines for an error's details: config problems one a line, objects key by key. */
export function detailLines(details: unknown): string[] {
  if (details === undefined || details === null) return [];
  if (Array.isArray(details)) return details.map((d) => `- ${detailItem(d)}`);
  if (typeof details === 'object') {
    const problems = (details as { problems?: unknown }).problems;
    if (Array.isArray(problems)) return detailLines(problems);
    return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return [typeof details === 'string' ? details : (JSON.stringify(details) ?? '')];
}

function detailItem(d: unknown): string {
  if (typeof d === 'string') return d;
  if (d && typeof d === 'object' && typeof (d as { message?: unknown }).message === 'string') {
    const p = d as { path?: unknown; line?: unknown; message: string };
    const line = typeof p.line === 'number' ? `line ${p.line}: ` : '';
    const path = typeof p.path === 'string' && p.path !== '' ? `${p.path}: ` : '';
    return `${line}${path}${p.message}`;
  }
  return JSON.stringify(d);
}

/** `xlb: error: <message> (<code>)` and the details, on stderr. */
export function printApiError(e: ApiError): void {
  const lines = [`xlb: error: ${e.message} (${e.code})`, ...detailLines(e.details).map((l) => `  ${l}`)];
  if (e.code === 'XLB_RELOAD_FAILED' || e.code === 'XLB_INVALID_CONFIG') {
    lines.push(`  ${ErrorCodes[e.code].meaning.replace(/^.*; /, '')}`);
  }
  console.error(lines.join('\n'));
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value ?? {}, null, 2));
}

/**
 * Parses argv, answers --help, connects and runs `body`; an ApiError from the daemon is
 * printed with its code and details and exits 1.
 */
export async function runApiCommand<O extends typeof apiOptions & Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: string[],
  body: (api: ApiClient, parsed: Parsed<O>) => Promise<number>,
): Promise<number> {
  const parsed = parse(spec, argv);
  if (parsed.help) {
    console.log(usage(spec));
    return 0;
  }
  const api = connect(spec.name, parsed.values as ConnectValues);
  try {
    return await body(api, parsed);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    printApiError(e);
    return 1;
  }
}

export interface Subcommand {
  summary: string;
  run: (argv: string[]) => Promise<number>;
}

/** A command of subcommands (`xlb service ls|add|rm`): dispatch and the group's help. */
export function commandGroup(
  name: string,
  /** The line of `xlb --help`. */
  line: string,
  summary: string,
  subs: Record<string, Subcommand>,
): CliCommand {
  const names = Object.keys(subs);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const help = [
    `usage: xlb ${name} ${names.join('|')} [options]`,
    '',
    summary,
    '',
    'subcommands:',
    ...names.map((n) => `  ${n.padEnd(width)}${subs[n]?.summary ?? ''}`),
    '',
    `\`xlb ${name} SUBCOMMAND --help\` describes one. All take --instance NAME, --socket PATH,`,
    '--url URL, --token-file FILE (or $XLB_API_TOKEN) and --json.',
  ].join('\n');
  const run = async (argv: string[]): Promise<number> => {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      console.log(help);
      return sub === undefined ? 2 : 0;
    }
    const command = Object.hasOwn(subs, sub) ? subs[sub] : undefined;
    if (!command) {
      throw new UsageError(
        `${name}: unknown subcommand '${sub}' (use ${names.join(', ')}; see xlb ${name} --help)`,
      );
    }
    return command.run(rest);
  };
  return { name, summary: line, run };
}
