// xlb demo: the tutorial in one command — three echo backends and the load balancer
// on the built-in config (lo, 127.0.0.1:9875 -> 9876, 9877, 9878).
import { formatDatagram, startEchoServers } from '../../lab/echo-server.js';
import { defaultConfig } from '../../model/config.js';
import { type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';
import { runOptions, serve, startFromOptions } from '../common/run.js';

const spec = {
  name: 'demo',
  summary:
    'Starts the echo backends of the built-in config and runs the load balancer on it: what `npm start` does.',
  usage: 'xlb demo [run options]',
  options: runOptions,
  details: 'Then, from another terminal:  echo hello | nc -u -w1 127.0.0.1 9875',
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(
  spec,
  'the built-in demo: echo backends + load balancer on lo (npm start)',
  async ({ values }) => {
    const config = defaultConfig();
    const service = config.services[0];
    const ports = service?.backends.map((b) => b.port) ?? [];
    const servers = await startEchoServers({
      ports,
      address: '127.0.0.1',
      onDatagram: (d) => console.log(formatDatagram(d)),
    });
    try {
      const { inst, intervalSec } = startFromOptions(values);
      console.log(`echo backends listening on 127.0.0.1:${ports.join(', :')}`);
      console.log(`try it:  echo hello | nc -u -w1 127.0.0.1 ${service?.port ?? 9875}   (Ctrl-C stops xlb)`);
      return await serve(inst, intervalSec);
    } finally {
      await servers.close();
    }
  },
);
