// What `xlb run` and `xlb demo` share: the options, loading the config, starting an
// instance from them, and serving it (live counters, SIGHUP reload) until a signal.
import { RunningInstance } from '../../control/runner.js';
import type { StatsSnapshot } from '../../control/stats.js';
import type { XdpMode } from '../../abi/abi.js';
import {
  ConfigError,
  LIMITS,
  defaultConfig,
  parseConfig,
  tooLargeProblem,
  type Config,
} from '../../model/config.js';
import { FileTooLargeError, readTextFile } from '../../util/read-file.js';
import { interfaceNameProblem } from '../../util/ifname.js';
import { UsageError, intOption, type OptionSpec } from './args.js';
import { renderFeatures, renderHooks, renderStats } from './render.js';

export const runOptions = {
  config: {
    type: 'string',
    short: 'c',
    arg: 'FILE',
    help: 'YAML config (default: the built-in demo config)',
  },
  iface: {
    type: 'string',
    short: 'i',
    multiple: true,
    arg: 'IF',
    help: "interface to attach to (repeatable; overrides the config's)",
  },
  mode: {
    type: 'string',
    short: 'm',
    arg: 'MODE',
    help: 'XDP mode: auto | native | generic (overrides the config)',
  },
  force: { type: 'boolean', help: 'replace an XDP program already attached to the interface' },
  instance: {
    type: 'string',
    arg: 'NAME',
    help: 'instance name, for running several (xlb stats --instance)',
    default: 'default',
  },
  interval: { type: 'string', arg: 'SEC', help: 'seconds between counter updates (0: never)', default: '2' },
} satisfies Record<string, OptionSpec>;

export function loadConfig(file: string | undefined): Config {
  if (file === undefined) return defaultConfig();
  let text: string;
  try {
    text = readTextFile(file, LIMITS.maxFileBytes);
  } catch (e) {
    if (e instanceof FileTooLargeError) throw new ConfigError(file, [tooLargeProblem(e.size)]);
    throw new UsageError(
      `cannot read config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseConfig(text, file);
}

/** --iface: every name one Linux could have (checked before anything is loaded or attached). */
export function ifaceOption(value: string[] | undefined): string[] | undefined {
  for (const name of value ?? []) {
    const problem = interfaceNameProblem(name);
    if (problem !== undefined) {
      throw new UsageError(`--iface ${JSON.stringify(name)}: ${problem}; use a name shown by 'ip link'`);
    }
  }
  return value;
}

export function xdpModeOption(value: string | undefined): XdpMode | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto' || value === 'native' || value === 'generic') return value;
  throw new UsageError(`--mode must be auto, native or generic, got '${value}'`);
}

type RunValues = { [K in keyof typeof runOptions]: string | string[] | boolean | undefined };

/** Starts an instance from run's options; shared with `xlb demo`. */
export function startFromOptions(values: RunValues): {
  inst: RunningInstance;
  intervalSec: number;
  reload: () => Config;
} {
  const intervalSec = intOption('run', 'interval', String(values.interval ?? '2'), 0, 3600);
  const interfaces = ifaceOption(values.iface as string[] | undefined);
  const reload = () => loadConfig(values.config as string | undefined);
  const config = reload();
  const inst = RunningInstance.start({
    config,
    interfaces,
    mode: xdpModeOption(values.mode as string | undefined),
    force: values.force === true,
    instance: values.instance as string | undefined,
  });
  return { inst, intervalSec, reload };
}

/** SIGHUP: re-read the config and apply the difference; a bad file changes nothing. */
function onReload(inst: RunningInstance, reload: () => Config): void {
  try {
    const r = inst.apply(reload());
    console.log(
      `xlb: SIGHUP: config applied (${r.writes} map writes: services +${r.servicesAdded} ~${r.servicesChanged} ` +
        `-${r.servicesRemoved}, backends +${r.backendsAdded} -${r.backendsRemoved})`,
    );
  } catch (e) {
    console.error(`xlb: SIGHUP: config not applied, the running one stays: ${(e as Error).message}`);
  }
}

/** Prints counters every `intervalSec` while they change, until a signal; then stops. */
export async function serve(
  inst: RunningInstance,
  intervalSec: number,
  reload?: () => Config,
): Promise<number> {
  const where = inst.attachments.map((a) => `${a.name} (${a.mode})`).join(', ');
  const services = inst.dataplane.reconciler.applied.services;
  console.log(`xlb: kernel Linux ${inst.kernel.release}; features: ${renderFeatures(inst.kernel)}`);
  console.log(`xlb: attached to ${where}; ${services.length} service(s); instance '${inst.name}'`);
  for (const i of inst.dataplane.interfaceHooks()) console.log(`xlb: ${renderHooks(i)}`);
  for (const w of inst.warnings) console.error(`xlb: warning: ${w}`);
  let previous: StatsSnapshot | undefined;
  let lastShown = -1;
  let timer: NodeJS.Timeout | undefined;
  try {
    const stopped = new Promise<string>((resolve, reject) => {
      // Signal listeners do not keep Node's event loop alive; this timer does.
      timer = setInterval(() => undefined, 1 << 30);
      process.once('SIGINT', () => resolve('SIGINT'));
      if (reload) process.on('SIGHUP', () => onReload(inst, reload));
      process.once('SIGTERM', () => resolve('SIGTERM'));
      if (intervalSec > 0) {
        clearInterval(timer);
        timer = setInterval(() => {
          try {
            const s = inst.dataplane.stats();
            const total = Object.values(s.reasons).reduce((a, c) => a + c.packets, 0);
            if (total !== lastShown) console.log(`\n${renderStats(s, previous)}`);
            lastShown = total;
            previous = s;
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        }, intervalSec * 1000);
      }
    });
    const signal = await stopped;
    console.log(`\n${renderStats(inst.dataplane.stats(), previous)}\nxlb: ${signal}: detaching`);
  } finally {
    clearInterval(timer);
    inst.stop();
  }
  console.log('xlb: detached, maps removed');
  return 0;
}
