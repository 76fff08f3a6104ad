// xlb backend add|rm|drain|undrain|weight: changes one backend of a service in the running
// daemon, over its REST API. Backends are named ADDR:PORT ([V6]:PORT), their id in the API.
import type { ApiClient } from '../../api/client.js';
import { intOption } from '../common/args.js';
import { apiOptions, commandGroup, printJson, runApiCommand, type ApiSpec } from '../common/api.js';
import { MAX_WEIGHT, backendId, parseEndpoint, parseWeight } from '../common/endpoints.js';
import type { BackendView } from '../../daemon/contract.js';
import { describeBackend } from '../common/render.js';

const common = '[--instance NAME | --socket PATH | --url URL] [--token-file FILE] [--json]';

const addSpec = {
  name: 'backend add',
  summary: "Adds a backend to a service of the running daemon (the service's mode and family apply).",
  usage: `xlb backend add SERVICE ADDR:PORT [--weight W] ${common}`,
  options: {
    ...apiOptions,
    weight: { type: 'string', arg: 'W', help: `weight, 0 (drained) to ${MAX_WEIGHT}; default 1` },
  },
  positionals: { min: 2, max: 2 },
  details: 'In dsr mode the port may be left out (it equals the service port). IPv6: [ADDR]:PORT.',
} satisfies ApiSpec;

async function add(argv: string[]): Promise<number> {
  return runApiCommand(addSpec, argv, async (api, { values, positionals }) => {
    const [service = '', target = ''] = positionals;
    const ep = parseEndpoint(addSpec.name, target, true);
    const weight =
      values.weight === undefined
        ? undefined
        : intOption(addSpec.name, 'weight', values.weight, 0, MAX_WEIGHT);
    const b = await api.addBackend(service, { ...ep, ...(weight === undefined ? {} : { weight }) });
    if (values.json) printJson(b);
    else console.log(`added backend ${b.id} to ${service} (${describeBackend(b)})`);
    return 0;
  });
}

/** A subcommand on one backend: `xlb backend NAME SERVICE ADDR:PORT [extra]`. */
function backendAction(
  name: string,
  summary: string,
  action: (api: ApiClient, service: string, id: string, extra: string[]) => Promise<BackendView | undefined>,
  message: (service: string, id: string, b: BackendView | undefined) => string,
  extra: string[] = [],
) {
  const spec = {
    name: `backend ${name}`,
    summary,
    usage: `xlb backend ${name} SERVICE ADDR:PORT${extra.map((e) => ` ${e}`).join('')} ${common}`,
    options: apiOptions,
    positionals: { min: 2 + extra.length, max: 2 + extra.length },
  } satisfies ApiSpec;
  const run = (argv: string[]) =>
    runApiCommand(spec, argv, async (api, { values, positionals }) => {
      const [service = '', target = '', ...rest] = positionals;
      const id = backendId(spec.name, target);
      const b = await action(api, service, id, rest);
      if (values.json) printJson(b);
      else console.log(message(service, id, b));
      return 0;
    });
  return { summary, run };
}

const rm = backendAction(
  'rm',
  'Removes a backend from a service; its flows move to the other backends at once.',
  async (api, service, id) => {
    await api.removeBackend(service, id);
    return undefined;
  },
  (service, id) => `removed backend ${id} from ${service}`,
);

const drain = backendAction(
  'drain',
  'Drains a backend: no new flows; established flows stay on it until they go idle.',
  (api, service, id) => api.drain(service, id),
  (service, id, b) => `drained backend ${id} of ${service} (${b ? describeBackend(b) : 'done'})`,
);

const undrain = backendAction(
  'undrain',
  'Puts a drained backend back, with the weight it had before the drain.',
  (api, service, id) => api.undrain(service, id),
  (service, id, b) => `undrained backend ${id} of ${service} (${b ? describeBackend(b) : 'done'})`,
);

const weight = backendAction(
  'weight',
  `Sets a backend's weight (0 to ${MAX_WEIGHT}; 0 drains it).`,
  (api, service, id, [w = '']) => api.setWeight(service, id, parseWeight('backend weight', w)),
  (service, id, b) => `backend ${id} of ${service}: ${b ? describeBackend(b) : 'done'}`,
  ['W'],
);

export const command = commandGroup(
  'backend',
  'add, remove, drain, undrain or re-weight a backend (over the API)',
  'Changes the backends of a service in the running daemon (not written to the config file).',
  { add: { summary: 'add a backend to a service', run: add }, rm, drain, undrain, weight },
);
