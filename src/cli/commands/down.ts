// xlb down: after the daemon stopped, detach what it left forwarding and remove its pins and state.
import { down } from '../../daemon/down.js';
import { type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';

const downSpec = {
  name: 'down',
  summary:
    "Detaches an instance's programs from its interfaces and removes its pinned maps and state: the\n" +
    'forwarding that survives `systemctl stop xlb` ends. Stop the daemon first.',
  usage: 'xlb down [--instance NAME]',
  options: {
    instance: { type: 'string', arg: 'NAME', help: 'instance name', default: 'default' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(
  downSpec,
  'detach and remove what a stopped daemon left forwarding',
  ({ values }) => {
    const r = down(String(values.instance));
    if (!r.removed) {
      console.log(`xlb: instance '${String(values.instance)}' has nothing pinned; nothing to do`);
      return 0;
    }
    const filters = r.filters > 0 ? ` and ${r.filters} classic TC filter(s)` : '';
    console.log(
      `xlb: instance '${String(values.instance)}' down: ${r.links} link(s)${filters} detached, pins and state removed`,
    );
    return 0;
  },
);
