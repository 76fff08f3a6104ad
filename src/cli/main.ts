#!/usr/bin/env node
// xlb: the command line. Thin: each command parses its flags and calls the library. Every
// command is a module of commands/ that exports `command: CliCommand`; this table orders them.
import { quietLibbpf } from '../kernel/libbpf.js';
import { xlbVersion } from '../util/paths.js';
import { UsageError, type CliCommand } from './common/args.js';
import { command as backend } from './commands/backend.js';
import { command as config } from './commands/config.js';
import { command as daemon } from './commands/daemon.js';
import { command as demo } from './commands/demo.js';
import { command as down } from './commands/down.js';
import { command as echoServer } from './commands/echo.js';
import { command as lab } from './commands/lab.js';
import { command as prepare } from './commands/prepare.js';
import { command as run } from './commands/run.js';
import { command as service } from './commands/service.js';
import { command as stats } from './commands/stats.js';
import { command as status } from './commands/status.js';
import { command as top } from './commands/top.js';
import { command as validate } from './commands/validate.js';

/** Every command, in the order `xlb --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  run,
  demo,
  echoServer,
  stats,
  validate,
  lab,
  daemon,
  prepare,
  down,
  status,
  service,
  backend,
  top,
  config,
];

const byName = new Map(COMMANDS.map((c) => [c.name, c]));

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'usage: xlb COMMAND [options]',
    '',
    'xlb is a UDP load balancer: an XDP data plane in the kernel, configured from YAML.',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    '`xlb COMMAND --help` describes a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const sub = name === 'help' && rest[0] !== undefined ? byName.get(rest[0]) : undefined;
    if (sub) return sub.run(['--help']);
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(xlbVersion());
    return 0;
  }
  const command = byName.get(name);
  if (!command) throw new UsageError(`unknown command '${name}' (xlb --help lists the commands)`);
  quietLibbpf();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    console.error(`xlb: error: ${err.message}`);
    if (process.env.XLB_DEBUG) console.error(err.stack);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
