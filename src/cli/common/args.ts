// Command-line parsing on node:util's parseArgs: every command declares its options
// once, and gets --help, strict unknown-flag errors and usage text from that.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command of `xlb`: its name, the line `xlb --help` gives it, and what runs it. */
export interface CliCommand {
  name: string;
  summary: string;
  run: (argv: string[]) => number | Promise<number>;
}

/**
 * A command from its spec: `--help` prints the usage (exit 0), a flag the spec does not
 * know is a UsageError (exit 2), anything else is parsed and handed to `body`.
 */
export function defineCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  summary: string,
  body: (parsed: Parsed<O>) => number | Promise<number>,
): CliCommand {
  return {
    name: spec.name,
    summary,
    run: (argv) => {
      const parsed = parse(spec, argv);
      if (!parsed.help) return body(parsed);
      console.log(usage(spec));
      return 0;
    },
  };
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in usage, e.g. FILE. */
  arg?: string;
  help: string;
  default?: string | boolean;
}

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  name: string;
  summary: string;
  usage: string;
  options: O;
  /** Extra text after the options. */
  details?: string;
  positionals?: { min: number; max: number };
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean'
    ? boolean | undefined
    : O[K]['multiple'] extends true
      ? string[] | undefined
      : string | undefined;
};

export function usage(spec: CommandSpec<Record<string, OptionSpec>>): string {
  const lines = [`usage: ${spec.usage}`, '', spec.summary, '', 'options:'];
  const helpOption: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };
  const entries: [string, OptionSpec][] = [...Object.entries(spec.options), ['help', helpOption]];
  const left = entries.map(
    ([name, o]) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  entries.forEach(([, o], i) => {
    const def = o.default !== undefined && o.type === 'string' ? ` (default: ${String(o.default)})` : '';
    lines.push(`  ${(left[i] ?? '').padEnd(width)}${o.help}${def}`);
  });
  if (spec.details) lines.push('', spec.details);
  return lines.join('\n');
}

export interface Parsed<O extends Record<string, OptionSpec>> {
  values: Values<O>;
  positionals: string[];
  help: boolean;
}

export function parse<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>, argv: string[]): Parsed<O> {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(
      `${spec.name}: ${(e as Error).message.replace(/\. To specify.*$/s, '')} (see xlb ${spec.name} --help)`,
    );
  }
  const help = parsed.values.help === true;
  const pos = spec.positionals ?? { min: 0, max: 0 };
  if (!help && (parsed.positionals.length < pos.min || parsed.positionals.length > pos.max)) {
    throw new UsageError(
      parsed.positionals.length > pos.max
        ? `${spec.name}: unexpected argument '${parsed.positionals[pos.max]}' (see xlb ${spec.name} --help)`
        : `${spec.name}: missing argument (usage: ${spec.usage})`,
    );
  }
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec.options)) values[name] = parsed.values[name] ?? o.default;
  return { values: values as Values<O>, positionals: parsed.positionals, help };
}

/** Parses a whole number option within bounds, or throws a UsageError naming it. */
export function intOption(command: string, name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${command}: --${name} must be a whole number from ${min} to ${max}, got '${value}'`,
    );
  }
  return n;
}
