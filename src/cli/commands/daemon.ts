// xlb daemon: the long-running control plane (systemd's ExecStart), and xlb down.
import { xlbVersion } from '../../util/paths.js';
import { pino, type Level } from 'pino';
import { defaultSocket } from '../../api/client.js';
import { checkExposure, startApi, type RunningApi } from '../../api/server.js';
import { deferredDaemon } from '../../daemon/deferred.js';
import { missingCaps } from '../../util/caps.js';
import { ensureTokenFile, tokenFileWarning } from '../../util/token.js';
import { type GroupEntry, inGroup, lookupGroup, whoAmI } from '../../util/users.js';
import { Daemon } from '../../daemon/daemon.js';
import { UsageError, type CommandSpec, type OptionSpec, defineCommand } from '../common/args.js';
import { xdpModeOption } from '../common/run.js';
import { renderFeatures, renderHooks } from '../common/render.js';

const daemonOptions = {
  config: {
    type: 'string',
    short: 'c',
    arg: 'FILE',
    help: 'YAML config, re-read on SIGHUP and when it changes',
    default: '/etc/xlb/xlb.yaml',
  },
  instance: { type: 'string', arg: 'NAME', help: 'instance name (pins, state, socket)', default: 'default' },
  mode: {
    type: 'string',
    short: 'm',
    arg: 'MODE',
    help: 'XDP mode: auto | native | generic (overrides the config)',
  },
  force: { type: 'boolean', help: 'replace an XDP program of another tool already on the interface' },
  'api-socket': {
    type: 'string',
    arg: 'PATH',
    help: "the API's unix socket, mode 0660 ('none': no socket) (default: /run/xlb/NAME.sock)",
  },
  'api-socket-group': {
    type: 'string',
    arg: 'NAME',
    help: 'give the socket (and a token file it makes) to group NAME, so that its members use the CLI without sudo',
  },
  'api-listen': {
    type: 'string',
    arg: 'HOST:PORT',
    help: 'also serve the API (and /metrics) over TCP; a non-loopback HOST needs a token',
  },
  'api-token-file': {
    type: 'string',
    arg: 'FILE',
    help: 'file holding the bearer token the API requires, made (mode 0600) when missing (or set XLB_API_TOKEN)',
  },
  'api-host': {
    type: 'string',
    multiple: true,
    arg: 'NAME',
    help: 'a name the TCP API may be reached under (Host header), besides its address (repeatable)',
  },
  'no-health': { type: 'boolean', help: 'do not run health checks (every backend counts as up)' },
  'no-watch': { type: 'boolean', help: 'do not reload when the config file changes (SIGHUP still does)' },
  'log-level': { type: 'string', arg: 'LEVEL', help: 'debug | info | warn | error', default: 'info' },
} satisfies Record<string, OptionSpec>;

const spec = {
  name: 'daemon',
  summary:
    'Runs xlb as a service: loads (or adopts) the data plane, applies the config, serves the REST API,\n' +
    'runs health checks and logs JSON lines to stdout. SIGHUP or a change of the file reloads it (a file\n' +
    'with problems changes nothing). SIGTERM stops the daemon but not the forwarding: links and maps stay\n' +
    'pinned, and the next `xlb daemon` adopts them without losing a packet (also with a new BPF object).\n' +
    '`xlb down` detaches and removes everything.',
  usage:
    'xlb daemon [--config FILE] [--instance NAME] [--api-listen HOST:PORT] [--api-token-file FILE] [--api-socket-group NAME]',
  options: daemonOptions,
} satisfies CommandSpec<Record<string, OptionSpec>>;

/** 'host:port', '[v6]:port' or ':port' (loopback). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`--api-listen '${s}' is not HOST:PORT (e.g. 127.0.0.1:9477 or [::1]:9477)`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function token(
  file: string | undefined,
  group: GroupEntry | undefined,
): { token: string | undefined; created?: string; warning?: string } {
  if (file === undefined) return { token: process.env.XLB_API_TOKEN || undefined };
  try {
    const t = ensureTokenFile(file, group ? { gid: group.gid } : {});
    if (t.created) return { token: t.token, created: file };
    const warning = group ? tokenFileWarning(file, group.gid, group.name) : undefined;
    return { token: t.token, ...(warning ? { warning } : {}) };
  } catch (e) {
    throw new UsageError(`--api-token-file: ${(e as Error).message}`);
  }
}

/**
 * The group --api-socket-group names, checked before anything is made or loaded: it exists, there
 * is a socket to give it, and this process may give files to it (it is a member, or has CAP_CHOWN).
 */
export function socketGroup(name: string | undefined, socket: string | undefined): GroupEntry | undefined {
  if (name === undefined) return undefined;
  if (socket === undefined) {
    throw new UsageError('--api-socket-group needs the unix socket: drop --api-socket none');
  }
  const group = lookupGroup(name);
  if (group === undefined) {
    throw new UsageError(
      `--api-socket-group: there is no group '${name}': create it (addgroup --system ${name}) and add ` +
        `the users who may use the CLI (adduser USER ${name}), or name another group`,
    );
  }
  if (!inGroup(group.gid) && missingCaps(['CAP_CHOWN']).length > 0) {
    throw new UsageError(
      `--api-socket-group ${name}: xlb runs as ${whoAmI()}, which is not a member of group ${name}, so it ` +
        `cannot give the socket to it: add SupplementaryGroups=${name} to the unit (or adduser USER ${name}), ` +
        'or run the daemon as root',
    );
  }
  return group;
}

export const command = defineCommand(
  spec,
  'run as a service: config file, REST API, health checks, metrics',
  async ({ values }) => {
    const level = String(values['log-level']);
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new UsageError(`--log-level must be debug, info, warn or error, got '${level}'`);
    }
    const instance = String(values.instance);
    const socketOpt = values['api-socket'];
    const socket = socketOpt === 'none' ? undefined : (socketOpt ?? defaultSocket(instance));
    const listen = values['api-listen'] === undefined ? undefined : parseListen(values['api-listen']);
    const mode = xdpModeOption(values.mode);
    // Exposure is checked before anything is made or loaded: a refused start leaves nothing behind.
    const group = socketGroup(values['api-socket-group'], socket);
    const exposure = { ...(listen ?? {}), token: process.env.XLB_API_TOKEN || undefined };
    if (values['api-token-file'] === undefined) checkExposure(exposure);
    const { token: apiToken, created, warning } = token(values['api-token-file'], group);
    if (socket === undefined && listen === undefined) {
      throw new UsageError(
        'the API needs somewhere to listen: keep --api-socket, or give --api-listen HOST:PORT',
      );
    }
    const log = pino({ level: level as Level, base: { instance } });
    if (created) {
      const mode = group ? `mode 0640, group ${group.name}` : 'mode 0600';
      log.info({ event: 'token_created', file: created }, `API token written to ${created} (${mode})`);
    }
    if (warning) log.warn({ event: 'warning', warning }, warning);

    // The API first: a listener that cannot be opened, or an exposure that is refused, fails
    // the start before the data plane is loaded or attached. Until the daemon is up it answers
    // XLB_NOT_READY.
    const deferred = deferredDaemon();
    const api: RunningApi = await startApi({
      daemon: deferred.api,
      ...(socket ? { socket } : {}),
      ...(group ? { socketGid: group.gid } : {}),
      ...(listen ?? {}),
      ...(apiToken ? { token: apiToken } : {}),
      ...(values['api-host'] ? { allowedHosts: values['api-host'] } : {}),
      onRequest: (r) => log.debug({ event: 'request', ...r }, `${r.method} ${r.url} ${r.status}`),
      onError: (e, r) =>
        log.error({ event: 'api_error', err: e, ...r }, `${r.method} ${r.url}: unexpected error`),
    });
    let daemon: Daemon;
    try {
      daemon = Daemon.start({
        configPath: String(values.config),
        instance,
        ...(mode ? { mode } : {}),
        force: values.force === true,
        health: values['no-health'] !== true,
        watch: values['no-watch'] !== true,
        log,
        version: xlbVersion(),
      });
    } catch (e) {
      await api.close();
      throw e;
    }
    deferred.set(daemon);
    const s = daemon.status();
    log.info(
      {
        event: 'ready',
        api: api.addresses,
        interfaces: s.interfaces,
        generation: s.generation,
        adopted: s.adopted,
        kernel: s.kernel.release,
        missing: s.kernel.features.filter((f) => !f.available).map((f) => f.name),
      },
      `xlb daemon ready: ${s.services} service(s) on ${s.interfaces.map(renderHooks).join('; ')}; ` +
        `kernel Linux ${s.kernel.release}, features: ${renderFeatures(s.kernel)}; API ${api.addresses.join(', ')}`,
    );

    const signal = await new Promise<string>((resolve) => {
      const keepAlive = setInterval(() => undefined, 1 << 30);
      process.on('SIGHUP', () => {
        try {
          daemon.reload();
        } catch {
          /* logged by the daemon; the running config stays */
        }
      });
      const end = (sig: string) => {
        clearInterval(keepAlive);
        resolve(sig);
      };
      process.once('SIGTERM', () => end('SIGTERM'));
      process.once('SIGINT', () => end('SIGINT'));
    });
    log.info({ event: 'signal', signal }, `${signal}: stopping (forwarding continues; xlb down removes it)`);
    await api.close();
    daemon.stop();
    return 0;
  },
);
