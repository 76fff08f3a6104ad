// xlb stats: counters of a running instance, read from its pinned maps.
import { openInstanceStats } from '../../control/instance-stats.js';
import { intOption, type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';
import { renderStats } from '../common/render.js';

const spec = {
  name: 'stats',
  summary: 'Shows the packet and byte counters of a running xlb: per service, per backend and per verdict.',
  usage: 'xlb stats [--instance NAME] [--json] [--watch SEC]',
  options: {
    instance: { type: 'string', arg: 'NAME', help: 'instance to read', default: 'default' },
    json: { type: 'boolean', help: 'print JSON instead of a table' },
    watch: { type: 'string', arg: 'SEC', help: 'print again every SEC seconds, with rates' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(spec, 'counters of a running instance', async ({ values }) => {
  const stats = openInstanceStats(values.instance ?? 'default');
  try {
    let previous = stats.read();
    console.log(values.json ? JSON.stringify(previous) : renderStats(previous));
    if (values.watch === undefined) return 0;
    const every = intOption('stats', 'watch', values.watch, 1, 3600);
    for (;;) {
      await new Promise((r) => setTimeout(r, every * 1000));
      if (!stats.running()) return 0;
      const now = stats.read();
      console.log(values.json ? JSON.stringify(now) : `\n${renderStats(now, previous)}`);
      previous = now;
    }
  } finally {
    stats.close();
  }
});
