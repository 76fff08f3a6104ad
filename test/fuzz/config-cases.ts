// The config fuzzer's cases: valid seed configs (the README's examples, the built-in default,
// the configs of the tests, and seeds written here to cover every field) turned into files by
// mutations of three kinds:
//
//   neutral        the same configuration written otherwise (key order, flow style, quotes,
//                  comments, CRLF, a BOM, document markers, hex integers, anchors): must be
//                  accepted as exactly the seed's configuration;
//   known-invalid  one change that no valid config has (a wrong type, a value out of range, an
//                  unknown or missing key, a duplicate, an address that cannot work, a snat range
//                  over another service's port, a duplicate YAML key, too many of something, a
//                  nesting or alias bomb, a file over the size limit), perhaps with neutral ones:
//                  must be refused;
//   random         anything (bytes flipped, inserted, deleted; lines moved; values replaced with
//                  random values, huge strings, deep nesting, tags, control and unicode
//                  characters; many services; other documents): any verdict, but no crash, no
//                  hang, and what is accepted re-validates to itself.
//
// A case is a function of (seed, index) alone, so any finding replays with fuzzCase(seed, index).
// Seeds: config-seeds.ts; mutations: config-mutations.ts (neutral, random), config-invalid.ts.
import { int, pick, rng } from '../helpers/random.js';
import { INVALID, INVALID_TEXT } from './config-invalid.js';
import {
  NEUTRAL,
  RANDOM_OBJ,
  RANDOM_TEXT,
  parseSeed,
  pickWeighted,
  weightOf,
  write,
  type R,
  type Written,
} from './config-mutations.js';
import type { SeedConfig } from './config-seeds.js';

export { readmeSeeds, seedConfigs, type SeedConfig } from './config-seeds.js';

export type Expectation = 'same' | 'invalid' | 'any';

export interface FuzzCase {
  index: number;
  seed: string;
  /** What was done, in order ('neutral:crlf', 'invalid:wrong-type services[0].port', ...). */
  mutations: string[];
  expect: Expectation;
  text: string;
}

/** A well-mixed 32-bit seed for case `index` of the run seeded with `seed`. */
function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The same data, written anew. */
function written(seed: SeedConfig): Written {
  return {
    obj: parseSeed(seed.text),
    style: { flow: false, quote: false, indent: 2, aliases: true },
    post: [],
    markers: false,
    bom: false,
  };
}

function neutral(w: Written, r: R, count: number, log: string[]): void {
  const names = Object.keys(NEUTRAL);
  for (let i = 0; i < count; i++) {
    const n = pick(r, names);
    NEUTRAL[n]!(w, r);
    log.push(`neutral:${n}`);
  }
}

function finish(w: Written, r: R): string {
  let text = write(w);
  for (const f of w.post) text = f(text, r);
  if (w.markers) text = `---\n${text}...\n`;
  return w.bom ? `\ufeff${text}` : text;
}

/**
 * Case `index` of the run seeded with `seed` over `seeds`: its text, what was done to it and
 * what the validator must say.
 */
export function fuzzCase(seed: number, index: number, seeds: SeedConfig[]): FuzzCase {
  const r = rng(caseSeed(seed, index));
  const from = pick(r, seeds);
  const mutations: string[] = [];
  const w = written(from);
  const kind = r();
  if (kind < 0.12) {
    neutral(w, r, int(r, 1, 3), mutations);
    return { index, seed: from.name, mutations, expect: 'same', text: finish(w, r) };
  }
  if (kind < 0.57) {
    // One known-invalid change (retried until one applies), then neutral ones.
    const textual = r() < 0.12;
    if (textual) {
      neutral(w, r, int(r, 0, 2), mutations);
      const names = Object.keys(INVALID_TEXT);
      for (let tries = 0; tries < 20; tries++) {
        const n = pickWeighted(r, names, names.map(weightOf));
        const got = INVALID_TEXT[n]!(finish(w, r), r);
        if (got === undefined) continue;
        mutations.push(`invalid:${n} ${got.what}`);
        return { index, seed: from.name, mutations, expect: 'invalid', text: got.text };
      }
    } else {
      const names = Object.keys(INVALID);
      for (let tries = 0; tries < 50; tries++) {
        const n = pickWeighted(r, names, names.map(weightOf));
        const what = INVALID[n]!(w.obj, r);
        if (what === undefined) continue;
        mutations.push(`invalid:${n} ${what}`);
        neutral(w, r, int(r, 0, 2), mutations);
        return { index, seed: from.name, mutations, expect: 'invalid', text: finish(w, r) };
      }
    }
  }
  // Random: one to three changes of the data, the text, or both.
  if (r() < 0.3) neutral(w, r, 1, mutations);
  const objNames = Object.keys(RANDOM_OBJ);
  for (let i = int(r, 0, 2); i > 0; i--) {
    const n = pickWeighted(r, objNames, objNames.map(weightOf));
    const what = RANDOM_OBJ[n]!(w.obj, r);
    if (what !== undefined) mutations.push(`random:${n} ${what}`);
  }
  let text = finish(w, r);
  const textNames = Object.keys(RANDOM_TEXT);
  for (let i = mutations.some((m) => m.startsWith('random:')) ? int(r, 0, 2) : int(r, 1, 3); i > 0; i--) {
    const n = pick(r, textNames);
    text = RANDOM_TEXT[n]!(text, r);
    mutations.push(`random:${n}`);
  }
  return { index, seed: from.name, mutations, expect: 'any', text };
}
