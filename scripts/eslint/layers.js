// The layers of the repository and the ESLint rule that keeps imports flowing one way.
//
// A folder may import itself and the folders listed for it, nothing else. The order, from
// the bottom: util (host paths, formatting) < abi (codecs, the data plane's ABI) < kernel
// (libbpf) and model (pure: config, plans, tables) < testing (oracles for tests) and lab
// (namespaces, instruments) and control (the data plane object, reconciler) < daemon
// (long-running service, its contract and error codes) < api (HTTP) < cli; bench/ and
// test/ sit on top. Used by eslint.config.js (rule `xlb/layers`) and by its own test.
import { dirname, relative, resolve, sep } from 'node:path';

/** layer -> the layers it may import (besides itself). Paths are relative to the repo root. */
export const LAYERS = {
  'src/util': [],
  'src/abi': ['src/util'],
  'src/kernel': ['src/abi', 'src/util'],
  'src/model': ['src/abi', 'src/util'],
  'src/testing': ['src/model', 'src/abi', 'src/util'],
  'src/lab': ['src/kernel', 'src/model', 'src/abi', 'src/util'],
  'src/control': ['src/kernel', 'src/model', 'src/abi', 'src/util'],
  'src/daemon': ['src/control', 'src/kernel', 'src/model', 'src/abi', 'src/util'],
  // The HTTP layer knows the daemon only by its contract (interface, views, error codes).
  'src/api': ['src/daemon/contract.ts', 'src/model', 'src/abi', 'src/util'],
  'src/cli': [
    'src/api',
    'src/daemon',
    'src/control',
    'src/lab',
    'src/kernel',
    'src/model',
    'src/abi',
    'src/util',
  ],
  bench: ['src', 'test/helpers'],
  test: ['src', 'bench'],
  scripts: [],
};

/** Modules of Node that touch the outside world: the pure layers may not import them. */
const IO_MODULES = [
  'fs',
  'fs/promises',
  'child_process',
  'net',
  'dgram',
  'http',
  'https',
  'os',
  'worker_threads',
];
const PURE = new Set(['src/model', 'src/abi']);

const layerOf = (rel) =>
  Object.keys(LAYERS)
    .filter((l) => rel === l || rel.startsWith(l + '/'))
    .sort((a, b) => b.length - a.length)[0];

const allowed = (from, toRel) =>
  toRel.startsWith(from + '/') ||
  LAYERS[from].some((a) => toRel === a || toRel.startsWith(a + '/') || toRel === a.replace(/\.ts$/, '.js'));

/** The problem with `fileRel` importing `spec`, or undefined. Exported for the test. */
export function layerProblem(root, fileRel, spec) {
  const from = layerOf(fileRel);
  if (from === undefined) return undefined;
  if (!spec.startsWith('.')) {
    const mod = spec.replace(/^node:/, '');
    if (PURE.has(from) && IO_MODULES.includes(mod)) {
      return `${from} is pure (no file, process or network I/O) and may not import '${spec}': do the I/O in a layer above (control, daemon, cli) and pass the data in`;
    }
    return undefined;
  }
  const target = relative(root, resolve(root, dirname(fileRel), spec))
    .split(sep)
    .join('/')
    .replace(/\.js$/, '.ts');
  if (allowed(from, target)) return undefined;
  const to = layerOf(target) ?? target;
  const may = LAYERS[from].length > 0 ? LAYERS[from].join(', ') : 'nothing outside itself';
  return (
    `${from} may not import ${to} ('${spec}'): imports run one way (${from} may use ${may}); ` +
    'move what both need into a lower layer, or pass it in from above (docs/ARCHITECTURE.md, "Layers")'
  );
}

/** The ESLint plugin: rule `layers`. */
export const layersPlugin = {
  rules: {
    layers: {
      meta: {
        type: 'problem',
        docs: { description: 'imports flow one way between the folders of the repository' },
        schema: [],
      },
      create(context) {
        const root = context.cwd;
        const fileRel = relative(root, context.filename).split(sep).join('/');
        const check = (node, source) => {
          if (!source || typeof source.value !== 'string') return;
          const problem = layerProblem(root, fileRel, source.value);
          if (problem) context.report({ node: source, message: problem });
        };
        return {
          ImportDeclaration: (node) => check(node, node.source),
          ExportNamedDeclaration: (node) => check(node, node.source),
          ExportAllDeclaration: (node) => check(node, node.source),
          ImportExpression: (node) => check(node, node.source.type === 'Literal' ? node.source : undefined),
        };
      },
    },
  },
};
