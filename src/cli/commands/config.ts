// xlb config dump|reload|drift: the running configuration of the daemon, over its REST API:
// write it out as YAML, make the daemon re-read its config file, or list what API changes
// made it differ from the file.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { apiOptions, commandGroup, printJson, runApiCommand, type ApiSpec } from '../common/api.js';

const common = '[--instance NAME | --socket PATH | --url URL] [--token-file FILE]';

const dumpSpec = {
  name: 'config dump',
  summary:
    'Writes the running configuration as YAML (with the changes made over the API), to FILE or\n' +
    'stdout. With --json, as JSON.',
  usage: `xlb config dump [--output FILE] ${common} [--json]`,
  options: {
    ...apiOptions,
    output: {
      type: 'string',
      short: 'o',
      arg: 'FILE',
      help: 'write to FILE (replaced whole) instead of stdout',
    },
  },
} satisfies ApiSpec;

/** Writes beside the file and renames, so FILE is never half written. */
function writeWhole(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${file} (${err.code ?? err.message}): check the directory and permissions`);
  }
}

async function dump(argv: string[]): Promise<number> {
  return runApiCommand(dumpSpec, argv, async (api, { values }) => {
    const yaml = await api.config();
    const text = values.json ? `${JSON.stringify(parseYaml(yaml), null, 2)}\n` : yaml;
    if (values.output === undefined) {
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    } else {
      writeWhole(values.output, text);
      console.log(`wrote the running configuration to ${values.output}`);
    }
    return 0;
  });
}

const reloadSpec = {
  name: 'config reload',
  summary:
    'Makes the daemon re-read its config file and apply the difference. A file with problems changes\n' +
    'nothing: every problem is listed and the exit status is 1. Changes made over the API are replaced\n' +
    'by the file.',
  usage: `xlb config reload ${common} [--json]`,
  options: apiOptions,
} satisfies ApiSpec;

async function reload(argv: string[]): Promise<number> {
  return runApiCommand(reloadSpec, argv, async (api, { values }) => {
    const before = values.json ? undefined : await api.status();
    const after = await api.reload();
    if (values.json) {
      printJson(after);
    } else if (before && before.generation === after.generation) {
      console.log(`reloaded ${after.configFile}: no changes (generation ${after.generation})`);
    } else {
      const was = before ? ` (was ${before.generation})` : '';
      console.log(`reloaded ${after.configFile}: generation ${after.generation}${was}`);
    }
    return 0;
  });
}

const driftSpec = {
  name: 'config drift',
  summary: 'Lists how the running configuration differs from the config file (changes made over the API).',
  usage: `xlb config drift ${common} [--json]`,
  options: apiOptions,
} satisfies ApiSpec;

async function drift(argv: string[]): Promise<number> {
  return runApiCommand(driftSpec, argv, async (api, { values }) => {
    const d = await api.drift();
    const invalid =
      d.fileValid === false
        ? `the config file is invalid (${d.fileProblem ?? 'see xlb status'}): the running configuration is the ` +
          'last valid file, with the changes below; fix the file and run xlb config reload'
        : undefined;
    if (values.json) printJson(d);
    else if (!d.drift) console.log(invalid ?? 'no drift: the running configuration is the config file');
    else
      console.log(
        [invalid ?? 'the running configuration differs from the config file:', ...d.changes].join('\n  '),
      );
    return invalid === undefined ? 0 : 1;
  });
}

export const command = commandGroup(
  'config',
  'dump the running configuration, reload the file, show drift (over the API)',
  "The daemon's running configuration: dump it, reload the config file, or show the drift from it.",
  {
    dump: { summary: 'write the running configuration (YAML) to a file or stdout', run: dump },
    reload: { summary: 're-read the config file and apply it', run: reload },
    drift: { summary: 'how the running configuration differs from the file', run: drift },
  },
);
