// xlb run: the load balancer in the foreground, with live counters.
import { type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';
import { runOptions, serve, startFromOptions } from '../common/run.js';

const spec = {
  name: 'run',
  summary:
    'Loads the XDP data plane, applies the config, attaches to the interfaces and shows live per-backend\n' +
    'counters until Ctrl-C or SIGTERM, then detaches and removes everything it created. SIGHUP re-reads\n' +
    'the config and applies only the difference (a config with problems changes nothing).',
  usage: 'xlb run [--config FILE] [--iface IF] [--mode auto|native|generic] [--force]',
  options: runOptions,
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(
  spec,
  'run the load balancer in the foreground, with live counters',
  async ({ values }) => {
    const { inst, intervalSec, reload } = startFromOptions(values);
    return serve(inst, intervalSec, reload);
  },
);
