// xlb status: what the running daemon reports about itself, over its REST API.
import type { StatusView } from '../../daemon/contract.js';
import { apiOptions, printJson, runApiCommand, type ApiSpec } from '../common/api.js';
import { keyValues, renderFeatures, renderHooks } from '../common/render.js';
import type { CliCommand } from '../common/args.js';

// ---- xlb status ----------------------------------------------------------------------------------

const spec = {
  name: 'status',
  summary:
    "Shows the running daemon's state: instance, configuration generation, readiness, drift from\n" +
    'the config file, interfaces and how each hook is attached (xdp link, tcx or classic TC), the\n' +
    'kernel and what its feature probe found, and counts of services and backends.',
  usage: 'xlb status [--instance NAME | --socket PATH | --url URL] [--token-file FILE] [--json]',
  options: apiOptions,
} satisfies ApiSpec;

export function renderStatus(s: StatusView, changes?: string[]): string {
  const interfaces = s.interfaces.map(renderHooks).join('; ');
  const drift = s.drift ? 'yes: the running configuration differs from the file' : 'no';
  const lines = keyValues([
    ['instance', `${s.instance} (pid ${s.pid}, xlb ${s.version})`],
    ['started', s.startedAt],
    [
      'config',
      s.configValid === false
        ? `${s.configFile}: INVALID since ${s.configInvalidSince ?? '?'}: ${s.configProblem ?? '?'} ` +
          '(the last valid file still runs; fix it and xlb config reload)'
        : s.configFile,
    ],
    ['generation', s.generation],
    ['ready', s.ready ? 'yes' : 'no: the configuration is not applied yet'],
    ['drift', drift],
    ['adopted', s.adopted ? 'yes: the data plane was adopted from an earlier daemon' : 'no'],
    ['interfaces', interfaces || 'none'],
    ['kernel', `Linux ${s.kernel.release}`],
    ['features', renderFeatures(s.kernel)],
    ['services', s.services],
    ['backends', s.backends],
  ]);
  return changes && changes.length > 0 ? `${lines}\n${changes.map((c) => `  ${c}`).join('\n')}` : lines;
}

export async function statusCommand(argv: string[]): Promise<number> {
  return runApiCommand(spec, argv, async (api, { values }) => {
    const status = await api.status();
    if (values.json) {
      printJson(status);
      return 0;
    }
    const changes = status.drift ? (await api.drift()).changes : undefined;
    console.log(renderStatus(status, changes));
    return 0;
  });
}

export const command: CliCommand = {
  name: 'status',
  summary: 'state of the running daemon (over its API)',
  run: statusCommand,
};
