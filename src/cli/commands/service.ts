// xlb service ls|show|add|rm: the services of the running daemon, over its REST API.
// Changes apply at once and are not written to the config file (`xlb status` shows drift).
import { hostPort } from '../../util/endpoint.js';
import type { BackendInput, ServiceInput, ServiceView } from '../../daemon/contract.js';
import { UsageError, intOption } from '../common/args.js';
import { apiOptions, commandGroup, printJson, runApiCommand, type ApiSpec } from '../common/api.js';
import { parseEndpoint, parseWeight } from '../common/endpoints.js';
import { backendState, humanBytes, keyValues, table } from '../common/render.js';

const common = '[--instance NAME | --socket PATH | --url URL] [--token-file FILE] [--json]';

const serviceAddress = (s: ServiceView): string => hostPort(s.vip, s.port, s.family);
const activeOfTotal = (s: ServiceView): string =>
  `${s.backends.filter((b) => b.active).length}/${s.backends.length}`;

export function renderServices(services: ServiceView[]): string {
  if (services.length === 0) return 'no services (add one with `xlb service add` or in the config file)';
  return table(
    ['name', 'address', 'mode', 'scheduler', 'backends', 'packets', 'bytes'],
    services.map((s) => [
      s.name,
      serviceAddress(s),
      s.mode,
      s.scheduler,
      activeOfTotal(s),
      s.packets,
      humanBytes(s.bytes),
    ]),
  );
}

export function renderService(s: ServiceView): string {
  const head = keyValues([
    ['service', s.name],
    ['address', `${serviceAddress(s)}/${s.protocol}`],
    ['mode', s.mode],
    ['scheduler', s.scheduler],
    ...(s.allDown ? ([['all down', s.allDown]] as [string, string][]) : []),
    ['backends', `${activeOfTotal(s)} active`],
    ['packets', s.packets],
    ['bytes', humanBytes(s.bytes)],
  ]);
  if (s.backends.length === 0) return `${head}\n\nno backends: packets to this service are dropped`;
  const rows = s.backends.map((b) => [
    b.id,
    b.weight,
    backendState(b),
    b.health,
    b.packets,
    humanBytes(b.bytes),
    b.flows ?? '-',
  ]);
  return `${head}\n\n${table(['backend', 'weight', 'state', 'health', 'packets', 'bytes', 'flows'], rows)}`;
}

const lsSpec = {
  name: 'service ls',
  summary: 'Lists the services of the running daemon with their backends (active/total) and counters.',
  usage: `xlb service ls ${common}`,
  options: apiOptions,
} satisfies ApiSpec;

async function ls(argv: string[]): Promise<number> {
  return runApiCommand(lsSpec, argv, async (api, { values }) => {
    const services = await api.services();
    if (values.json) printJson(services);
    else console.log(renderServices(services));
    return 0;
  });
}

const showSpec = {
  name: 'service show',
  summary: 'Shows one service of the running daemon and each of its backends.',
  usage: `xlb service show NAME ${common}`,
  options: apiOptions,
  positionals: { min: 1, max: 1 },
} satisfies ApiSpec;

async function show(argv: string[]): Promise<number> {
  return runApiCommand(showSpec, argv, async (api, { values, positionals }) => {
    const service = await api.service(positionals[0] ?? '');
    if (values.json) printJson(service);
    else console.log(renderService(service));
    return 0;
  });
}

const addSpec = {
  name: 'service add',
  summary:
    'Adds a service to the running daemon. The whole resulting configuration is validated first;\n' +
    'a problem changes nothing.',
  usage:
    'xlb service add NAME --vip ADDR --port P [--mode M] [--scheduler S] [--backend ADDR:PORT[@WEIGHT]]... ' +
    common,
  options: {
    ...apiOptions,
    vip: { type: 'string', arg: 'ADDR', help: 'the service address (IPv4, IPv6, or "*" for any)' },
    port: { type: 'string', arg: 'P', help: 'the service port, 1 to 65535' },
    mode: { type: 'string', arg: 'M', help: 'local, nat, fullnat or dsr (default: local)' },
    scheduler: {
      type: 'string',
      arg: 'S',
      help: 'maglev, round-robin or weighted-round-robin (default: maglev)',
    },
    backend: {
      type: 'string',
      arg: 'ADDR:PORT[@W]',
      multiple: true,
      help: 'a backend, with an optional weight; repeat for more',
    },
  },
  positionals: { min: 1, max: 1 },
  details:
    'IPv6 backends: --backend [2001:db8::1]:53@2. In dsr mode a backend may leave out the port.\n' +
    'Options the CLI does not take (snat, hash_key, ...) go in the config file.',
} satisfies ApiSpec;

/** ADDR:PORT[@WEIGHT] as the API's backend input. */
export function parseBackendOption(command: string, text: string): BackendInput {
  const at = text.lastIndexOf('@');
  const ep = parseEndpoint(command, at < 0 ? text : text.slice(0, at), true);
  return at < 0 ? { ...ep } : { ...ep, weight: parseWeight(command, text.slice(at + 1)) };
}

async function add(argv: string[]): Promise<number> {
  return runApiCommand(addSpec, argv, async (api, { values, positionals }) => {
    const name = positionals[0] ?? '';
    if (values.vip === undefined) throw usageMissing('vip', 'ADDR');
    if (values.port === undefined) throw usageMissing('port', 'P');
    const input: ServiceInput = {
      name,
      vip: values.vip,
      port: intOption(addSpec.name, 'port', values.port, 1, 65535),
      ...(values.mode === undefined ? {} : { mode: values.mode }),
      ...(values.scheduler === undefined ? {} : { scheduler: values.scheduler }),
      backends: (values.backend ?? []).map((b) => parseBackendOption(addSpec.name, b)),
    };
    const service = await api.addService(input);
    if (values.json) printJson(service);
    else console.log(`added service ${service.name}\n\n${renderService(service)}`);
    return 0;
  });
}

function usageMissing(option: string, arg: string): UsageError {
  return new UsageError(`service add: --${option} ${arg} is required (usage: ${addSpec.usage})`);
}

const rmSpec = {
  name: 'service rm',
  summary: 'Removes a service from the running daemon; its packets are no longer balanced.',
  usage: `xlb service rm NAME ${common}`,
  options: apiOptions,
  positionals: { min: 1, max: 1 },
} satisfies ApiSpec;

async function rm(argv: string[]): Promise<number> {
  return runApiCommand(rmSpec, argv, async (api, { values, positionals }) => {
    const name = positionals[0] ?? '';
    await api.removeService(name);
    if (values.json) printJson({});
    else console.log(`removed service ${name}`);
    return 0;
  });
}

export const command = commandGroup(
  'service',
  'list, show, add or remove services (over the API)',
  'Lists and changes the services of the running daemon (changes are not written to the config file).',
  {
    ls: { summary: 'list the services', run: ls },
    show: { summary: 'one service and its backends', run: show },
    add: { summary: 'add a service', run: add },
    rm: { summary: 'remove a service', run: rm },
  },
);
