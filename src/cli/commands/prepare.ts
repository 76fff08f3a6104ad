// xlb prepare: what root does before xlb runs as a user of its own (contrib/xlb.service's
// ExecStartPre=+): bpffs mounted, its xlb directory and the run directory owned by that user,
// the API token file made and readable by it.
import { prepareHost } from '../../control/prepare.js';
import { type CommandSpec, type OptionSpec, UsageError, defineCommand } from '../common/args.js';

const spec = {
  name: 'prepare',
  summary:
    'As root, before `xlb daemon` or `xlb run` runs as USER with only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON:\n' +
    'mounts bpffs at /sys/fs/bpf when it is not, gives /sys/fs/bpf/xlb and /run/xlb (and what a root-run\n' +
    'xlb left in them) to USER, and makes the API token file (when missing) readable by USER only, or also\n' +
    'by the socket group. Idempotent: prints what it changed. contrib/xlb.service runs it as ExecStartPre=+.',
  usage: 'xlb prepare --user USER [--group GROUP] [--api-token-file FILE] [--api-socket-group NAME]',
  options: {
    user: { type: 'string', arg: 'USER', help: 'the user xlb runs as (required)' },
    group: { type: 'string', arg: 'GROUP', help: "its group (default: the user's primary group)" },
    'api-token-file': { type: 'string', arg: 'FILE', help: 'the token file the daemon is given' },
    'api-socket-group': {
      type: 'string',
      arg: 'NAME',
      help: "the daemon's --api-socket-group: its members may read the token file (mode 0640)",
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(
  spec,
  'as root: bpffs and run directories and the token file for a non-root xlb',
  ({ values }) => {
    if (values.user === undefined) throw new UsageError('prepare needs --user USER (the user xlb runs as)');
    const report = prepareHost({
      user: values.user,
      ...(values.group === undefined ? {} : { group: values.group }),
      ...(values['api-token-file'] === undefined ? {} : { tokenFile: values['api-token-file'] }),
      ...(values['api-socket-group'] === undefined ? {} : { socketGroup: values['api-socket-group'] }),
    });
    for (const line of report) console.log(`xlb: prepare: ${line}`);
    if (report.length === 0) console.log('xlb: prepare: nothing to change');
    return 0;
  },
);
