// xlb echo-server: the demo backends.
import { formatDatagram, startEchoServers } from '../../lab/echo-server.js';
import { UsageError, intOption, type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';

const spec = {
  name: 'echo-server',
  summary:
    'UDP servers that print every datagram they receive (port, size, sender, contents) and echo it back.\n' +
    'They are the backends of the built-in demo; run them where the backends of your config live.',
  usage: 'xlb echo-server --port PORT [--port PORT ...] [--address ADDR] [--no-echo] [--quiet]',
  options: {
    port: {
      type: 'string',
      short: 'p',
      multiple: true,
      arg: 'PORT',
      help: 'UDP port to serve (repeat for more)',
    },
    address: { type: 'string', short: 'a', arg: 'ADDR', help: 'address to bind', default: '127.0.0.1' },
    'no-echo': { type: 'boolean', help: 'only print, do not answer' },
    quiet: {
      type: 'boolean',
      short: 'q',
      help: 'do not print datagrams (a summary is still printed on exit)',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export const command = defineCommand(
  spec,
  'UDP echo backends that print what they receive',
  async ({ values }) => {
    if (!values.port?.length)
      throw new UsageError('echo-server: give at least one --port (e.g. --port 9876)');
    const ports = values.port.map((p) => intOption('echo-server', 'port', p, 1, 65535));
    const address = values.address ?? '127.0.0.1';
    const servers = await startEchoServers({
      ports,
      address,
      echo: !values['no-echo'],
      onDatagram: values.quiet ? undefined : (d) => console.log(formatDatagram(d)),
    });
    console.log(
      `listening on ${ports.map((p) => `${address}:${p}`).join(', ')}${values['no-echo'] ? ' (no echo)' : ''}`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await servers.close();
    console.log(`received: ${[...servers.received].map(([p, n]) => `${p}=${n}`).join(' ')}`);
    return 0;
  },
);
