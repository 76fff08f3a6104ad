// xlb stats: counters of a running instance, read from its pinned maps.
import { join } from 'node:path';
import { BpfMap } from '../../kernel/map.js';
import { ownedByOther, readState, stateToPlan } from '../../control/instance.js';
import { instancePaths } from '../../util/host.js';
import { openMaps, type MapName } from '../../control/maps.js';
import { readStats } from '../../control/stats.js';
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
  const name = values.instance ?? 'default';
  const state = readState(name);
  if (!state || !ownedByOther(state)) {
    throw new Error(
      `no running xlb instance '${name}': start one with \`xlb run\` (or pass --instance NAME)`,
    );
  }
  const { pinDir } = instancePaths(name);
  const opened: BpfMap[] = [];
  const maps = openMaps((m: MapName) => {
    const map = BpfMap.fromPin(join(pinDir, m));
    opened.push(map);
    return map;
  });
  const plan = stateToPlan(state.services);
  try {
    let previous = readStats(maps, plan);
    console.log(values.json ? JSON.stringify(previous) : renderStats(previous));
    if (values.watch === undefined) return 0;
    const every = intOption('stats', 'watch', values.watch, 1, 3600);
    for (;;) {
      await new Promise((r) => setTimeout(r, every * 1000));
      if (!ownedByOther(state)) return 0;
      const now = readStats(maps, plan);
      console.log(values.json ? JSON.stringify(now) : `\n${renderStats(now, previous)}`);
      previous = now;
    }
  } finally {
    for (const m of opened) m.close();
  }
});
