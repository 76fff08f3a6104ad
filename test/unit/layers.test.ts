// The repository's import rules: the layer rule (scripts/eslint/layers.js) fails an import
// that runs the wrong way, and the import graph has no cycle between files or folders.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

// The checks are plain JS under scripts/ (ESLint loads them uncompiled): imported from there.
const root = fileURLToPath(new URL('../../../', import.meta.url));
type Graph = Map<string, string[]>;
const { layerProblem: find, layersPlugin } = (await import(`${root}scripts/eslint/layers.js`)) as {
  layerProblem: (root: string, file: string, spec: string) => string | undefined;
  layersPlugin: unknown;
};
const { cycles, folderGraph, importGraph } = (await import(`${root}scripts/check-imports.js`)) as {
  cycles: (g: Graph) => string[][];
  folderGraph: (g: Graph) => Graph;
  importGraph: (root: string) => Graph;
};

async function lint(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { xlb: layersPlugin as never },
        rules: { 'xlb/layers': 'error' },
      },
    ],
  });
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` });
  return (result?.messages ?? []).map((m) => m.message);
}

describe('layers', () => {
  it('the lint rule fails an upward import, naming both layers and the way out', async () => {
    const messages = await lint('src/kernel/fixture.ts', "import { Daemon } from '../daemon/daemon.js';\n");
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.match(messages[0]!, /^src\/kernel may not import src\/daemon \('\.\.\/daemon\/daemon\.js'\)/);
    assert.match(messages[0]!, /move what both need into a lower layer/);
  });

  it('dynamic imports and re-exports are checked too; downward imports pass', async () => {
    assert.equal((await lint('src/model/x.ts', "export { a } from '../control/maps.js';\n")).length, 1);
    assert.equal(
      (await lint('src/abi/x.ts', "const m = await import('../kernel/map.js');\nvoid m;\n")).length,
      1,
    );
    assert.deepEqual(
      await lint('src/control/x.ts', "import { BpfMap } from '../kernel/map.js';\nvoid BpfMap;\n"),
      [],
    );
    assert.deepEqual(
      await lint('src/cli/commands/x.ts', "import { Daemon } from '../../daemon/daemon.js';\n"),
      [],
    );
  });

  it('the API knows the daemon by its contract only; production code never imports the test oracles', () => {
    assert.equal(find(root, 'src/api/server.ts', '../daemon/contract.js'), undefined);
    assert.match(
      find(root, 'src/api/server.ts', '../daemon/daemon.js') ?? '',
      /src\/api may not import src\/daemon/,
    );
    assert.match(find(root, 'src/cli/main.ts', '../testing/packet.js') ?? '', /may not import src\/testing/);
    assert.equal(find(root, 'bench/cost.ts', '../src/testing/packet.js'), undefined);
  });

  it('the pure layers may not do I/O', () => {
    assert.match(find(root, 'src/model/plan.ts', 'node:fs') ?? '', /src\/model is pure/);
    assert.equal(find(root, 'src/model/plan.ts', 'node:path'), undefined);
  });
});

describe('import cycles', () => {
  it('are found between files and between folders', () => {
    const g: Graph = new Map([
      ['a/x.ts', ['a/y.ts']],
      ['a/y.ts', ['b/z.ts']],
      ['b/z.ts', ['a/x.ts']],
      ['c/w.ts', []],
    ]);
    assert.deepEqual(cycles(g), [['a/x.ts', 'a/y.ts', 'b/z.ts']]);
    const folders = folderGraph(g);
    assert.deepEqual(cycles(folders), [['a', 'b']]);
  });

  it('the repository has none (type-only imports included)', () => {
    const graph = importGraph(root);
    assert.ok(graph.size > 100, `read ${graph.size} files`);
    assert.deepEqual(cycles(graph), []);
    assert.deepEqual(cycles(folderGraph(graph)), []);
  });
});
