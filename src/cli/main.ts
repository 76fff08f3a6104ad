#!/usr/bin/env node
// xlb: the command line. Thin: each command parses its flags and calls the library.
import { readFileSync } from 'node:fs';
import { quietLibbpf } from '../kernel/libbpf.js';
import { UsageError } from './args.js';
import { demoCommand } from './commands/demo.js';
import { echoServerCommand } from './commands/echo.js';
import { runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';
import { validateCommand } from './commands/validate.js';

const commands: Record<string, { summary: string; run: (argv: string[]) => number | Promise<number> }> = {
  run: { summary: 'run the load balancer in the foreground, with live counters', run: runCommand },
  demo: { summary: 'the built-in demo: echo backends + load balancer on lo (npm start)', run: demoCommand },
  'echo-server': { summary: 'UDP echo backends that print what they receive', run: echoServerCommand },
  stats: { summary: 'counters of a running instance', run: statsCommand },
  validate: { summary: 'check a config file without applying it', run: validateCommand },
  lab: (await import('./commands/lab.js')).labEntry,
  daemon: (await import('./commands/daemon.js')).daemonEntry,
  down: (await import('./commands/daemon.js')).downEntry,
  status: (await import('./commands/status.js')).statusEntry,
  service: (await import('./commands/service.js')).serviceEntry,
  backend: (await import('./commands/backend.js')).backendEntry,
  top: (await import('./commands/top.js')).topEntry,
  config: (await import('./commands/config.js')).configEntry,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length)) + 2;
  return [
    'usage: xlb COMMAND [options]',
    '',
    'xlb is a UDP load balancer: an XDP data plane in the kernel, configured from YAML.',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    '`xlb COMMAND --help` describes a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const sub = name === 'help' ? rest[0] : undefined;
    if (sub !== undefined && commands[sub]) return commands[sub].run(['--help']);
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  const command = commands[name];
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
