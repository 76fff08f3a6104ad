// Where xlb's own files are, relative to the installed code: the BPF objects, the CLI's
// entry point and package.json (for the version). One place, so that a bundled or packaged
// build moves them by changing this file only. Compiled layout: dist/src/util/paths.js,
// dist/bpf/*.bpf.o, package.json at the root.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fromHere = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));

/** A BPF object built from bpf/ (e.g. 'xlb.bpf.o', 'test/xlb-next.bpf.o'). */
export const bpfObjectPath = (name: string): string => fromHere(`../../bpf/${name}`);

/** The CLI's entry point (to run `xlb` as a child process). */
export const cliMainPath = (): string => fromHere('../cli/main.js');

let cachedVersion: string | undefined;

/** xlb's version, from package.json. */
export function xlbVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(fromHere('../../../package.json'), 'utf8')) as {
        version?: unknown;
      };
      cachedVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}
