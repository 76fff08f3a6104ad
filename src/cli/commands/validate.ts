// xlb validate: checks a config file without touching the kernel.
import { type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';
import { loadConfig } from '../common/run.js';

const spec = {
  name: 'validate',
  summary: 'Checks a config file: every problem is reported with its line, field and fix. Changes nothing.',
  usage: 'xlb validate FILE',
  options: {},
  positionals: { min: 1, max: 1 },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(spec, 'check a config file without applying it', ({ positionals }) => {
  const file = positionals[0] ?? '';
  const config = loadConfig(file);
  const backends = config.services.reduce((n, s) => n + s.backends.length, 0);
  console.log(
    `${file}: ok — ${config.services.length} service(s), ${backends} backend(s), interfaces ${config.interfaces.join(', ')}`,
  );
  return 0;
});
