#!/usr/bin/env node
// Fails when the import graph of src/, bench/ and test/ has a cycle: between files (type-only
// imports included: they tie the files together for a reader just as much) or between folders.
// The layer rule (scripts/eslint/layers.js) keeps imports between layers one way; this keeps
// each layer's own files, and its subfolders, free of loops too.
//   node scripts/check-imports.js [ROOT]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') return [];
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** file -> files it imports (repo-relative, .ts). */
export function importGraph(root) {
  const files = ['src', 'bench', 'test']
    .flatMap((d) => {
      try {
        return walk(join(root, d));
      } catch {
        return [];
      }
    })
    .filter((f) => f.endsWith('.ts'));
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      deps.add(relative(root, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'));
    }
    graph.set(relative(root, file), [...deps]);
  }
  return graph;
}

/** Strongly connected components with more than one node (or a self-loop): the cycles. */
export function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** The folder graph: folder -> folders its files import (other than itself). */
export function folderGraph(graph) {
  const folders = new Map();
  for (const [file, deps] of graph) {
    const from = dirname(file);
    if (!folders.has(from)) folders.set(from, new Set());
    for (const d of deps) if (dirname(d) !== from) folders.get(from).add(dirname(d));
  }
  return new Map([...folders].map(([k, v]) => [k, [...v]]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..'));
  const graph = importGraph(root);
  const fileCycles = cycles(graph);
  const folderCycles = cycles(folderGraph(graph));
  for (const c of fileCycles) console.error(`import cycle between files: ${c.join(' <-> ')}`);
  for (const c of folderCycles) console.error(`import cycle between folders: ${c.join(' <-> ')}`);
  if (fileCycles.length + folderCycles.length > 0) {
    console.error(
      'break each cycle: move what both sides need into a module below them (docs/ARCHITECTURE.md)',
    );
    process.exit(1);
  }
}
