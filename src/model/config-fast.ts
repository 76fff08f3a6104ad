// The fast path of parseConfig: js-yaml reads a large file ~20x faster than the `yaml`
// package, but keeps no source positions. A config is read this way first; only when
// it has problems (or js-yaml refuses it) is it read again with `yaml`, so that every
// problem gets its line. A document with anchors never comes here: js-yaml gives every
// alias its anchor's value itself, shared, and walking those shares costs what expanding
// them would; the slow path (config-yaml.ts) counts that first. The schema is YAML 1.2 core, stricter where the slow path
// looks at how a value was written: numbers that are not plain decimal integers
// (53.0, 0x35, 1e3, .inf) come out as a marker that no rule accepts, so they always
// take the slow path and get its message.
import yaml from 'js-yaml';

/** Stands for a number written in a form the validator wants to explain. */
export class NotPlainInteger {
  constructor(readonly source: string) {}
}

const plainInt = new yaml.Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && /^[-+]?[0-9]+$/.test(s),
  construct: (s: string) => Number(s),
  predicate: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
});

/** Any other number-looking scalar of YAML 1.2 core (hex, octal, floats, .inf, .nan). */
const otherNumber = new yaml.Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: string | null) =>
    s !== null &&
    (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s) ||
      /^0x[0-9a-fA-F]+$/.test(s) ||
      /^0o[0-7]+$/.test(s) ||
      /^[-+]?\.(inf|Inf|INF)$/.test(s) ||
      /^\.(nan|NaN|NAN)$/.test(s)),
  construct: (s: string) => new NotPlainInteger(s),
  instanceOf: NotPlainInteger,
});

// YAML 1.2 core's null and booleans.
const nullType = new yaml.Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: string | null) => s === null || /^(~|null|Null|NULL)?$/.test(s),
  construct: () => null,
  predicate: (v: unknown) => v === null,
});
const boolType = new yaml.Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && /^(true|True|TRUE|false|False|FALSE)$/.test(s),
  construct: (s: string) => s.toLowerCase() === 'true',
  predicate: (v: unknown) => typeof v === 'boolean',
});

const SCHEMA = yaml.FAILSAFE_SCHEMA.extend({ implicit: [nullType, boolType, plainInt, otherNumber] });

/** The document as plain data, or undefined when js-yaml refuses it (the slow path explains why). */
export function fastLoad(text: string): unknown {
  try {
    return yaml.load(text, { schema: SCHEMA, json: false });
  } catch {
    return undefined;
  }
}
