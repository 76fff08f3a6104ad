// Reading YAML within bounds: the slow path of parseConfig (config.ts), the one that gives
// every problem its line. A config file comes from an operator, a config manager or an
// attacker who can write to it, and the daemon re-reads it on every change, so no input may
// make reading it (or validating what was read) take unbounded time, memory or stack:
//
//   size     checked first, on the text (and by the callers, before they read a file whole);
//   nesting  measured while the parser runs (its stack is the nesting), before the
//            recursive composer sees the document: `[[[[…` and ever deeper indentation
//            alike; a stack overflow that still happens becomes a ConfigError with a line;
//   aliases  counted, and the values each one would repeat added up from its anchor's size
//            before any value is built ("billion laughs" documents are refused by their
//            arithmetic, not by running out of memory). Built values share the anchor's
//            value, as they do in both YAML libraries, so that the validator walking them
//            is bounded by the same count.
//
// Anchors are resolved here (document order, one map), not by the `yaml` package, whose
// per-alias search is linear in the document; duplicate keys are found here with one map per
// mapping, not by the package's pairwise comparison. Pure.
import { CST, Composer, Lexer, LineCounter, Parser, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Alias, Document, Pair, ParsedNode, YAMLError } from 'yaml';
import { ConfigError, clip, type ConfigProblem, type Path } from './config-schema.js';

export const YAML_LIMITS = {
  /**
   * Bytes of a config file. The largest configuration the other limits admit (4,096 services,
   * 65,536 backends) takes about 5 MB written as usual (a line per backend, a health check per
   * service) and 9 to 16 MB with every field written out in block style on IPv6 addresses.
   */
  maxFileBytes: 16 * 1024 * 1024,
  /**
   * Lines of a config file: the largest configuration, one field per line, has about 300,000.
   * The slow path's parser keeps every line's tokens (comments and blank lines too, about
   * 100 bytes each), so the lines bound its memory where the values do not.
   */
  maxLines: 1_000_000,
  /** Lists and mappings inside one another; a configuration needs 6. */
  maxNesting: 64,
  /** YAML aliases (`*name`) in one document: one per backend of the largest configuration. */
  maxAliases: 65536,
  /**
   * Values (mappings, lists, keys, scalars) of the document once every alias is expanded. The
   * largest configuration the other limits admit has about 600,000 written as usual, 930,000
   * with every field written out. The slow path's parser and composer take about 750 bytes
   * per value: they are counted before they are built.
   */
  maxValues: 1_500_000,
  /**
   * Characters of the document's scalars once every alias is expanded: twice the largest file.
   * Validation reads each string it is given, so an alias of a long string repeated thousands
   * of times costs what its expansion would; counted like the values, before anything is built.
   */
  maxText: 32 * 1024 * 1024,
} as const;

const fmt = (n: number): string => n.toLocaleString('en-US');

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The refusal of a text or file over the size limit; `bytes` undefined: larger, size unknown. */
export function tooLargeProblem(bytes: number | undefined): ConfigProblem {
  const limit = YAML_LIMITS.maxFileBytes;
  const size = bytes === undefined ? 'larger than' : `${mib(bytes)} (${fmt(bytes)} bytes), more than`;
  return {
    path: '',
    line: 1,
    code: 'too_large',
    message:
      `the file is ${size} the limit of ${mib(limit)} (${fmt(limit)} bytes) for a configuration: ` +
      'the largest one xlb accepts, 4,096 services with 65,536 backends, takes about 5 MB written as ' +
      'usual; remove what is not configuration, or split the services over several xlb instances',
  };
}

/** Throws the ConfigError of a text over the size or line limit. */
export function checkSize(text: string, source: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes, and a line at least 1: short texts need no count.
  if (text.length <= YAML_LIMITS.maxLines) return;
  if (text.length * 3 > YAML_LIMITS.maxFileBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > YAML_LIMITS.maxFileBytes) throw new ConfigError(source, [tooLargeProblem(bytes)]);
  }
  let at = -1;
  for (let line = 1; line <= YAML_LIMITS.maxLines; line++) {
    at = text.indexOf('\n', at + 1);
    if (at < 0 || at === text.length - 1) return;
  }
  const max = fmt(YAML_LIMITS.maxLines);
  throw new ConfigError(source, [
    {
      path: '',
      line: YAML_LIMITS.maxLines + 1,
      code: 'too_large',
      message:
        `the file has more than ${max} lines, the limit for a configuration: the largest one xlb ` +
        'accepts, one field per line, has about 300,000; remove what is not configuration (comments, ' +
        'blank lines), or split the services over several xlb instances',
    },
  ]);
}

/** What the slow path needs of a document it read. */
export interface YamlRead {
  /** The document as plain data (null for an empty one); an alias shares its anchor's value. */
  value: unknown;
  /**
   * The line to report for `path` (for a mapping key, the key's line; for a list item, the item's;
   * for a missing node, its deepest existing ancestor's) and the source text of the scalar there.
   */
  locate(path: Path): { line: number; source?: string };
}

/** Parses `text` (one YAML document) within YAML_LIMITS. Throws ConfigError. */
export function readYaml(text: string, source: string): YamlRead {
  checkSize(text, source);
  const lc = new LineCounter();
  const lineAt = (offset: number): number => Math.max(1, lc.linePos(offset).line);
  const deepest = { depth: 0, offset: 0 };
  try {
    const tokens = parseBounded(text, lc, deepest);
    const parsed = composeFirst(tokens, text.length, lineAt);
    return new Reader(parsed, text, lineAt).read();
  } catch (e) {
    if (e instanceof Stop) throw new ConfigError(source, e.problems);
    if (!(e instanceof RangeError)) throw e;
    // A stack overflow (the composer and the walk below recurse once per level): the caller
    // left too little stack for even the nesting the limit allows.
    throw new ConfigError(source, [exhaustedProblem(lineAt(deepest.offset), e.message)]);
  }
}

/** Ends reading with these problems (caught in readYaml, never seen outside). */
class Stop extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super('config-yaml stop');
  }
}

/** A stack overflow (or an allocation past V8's limits) while reading, at `line`. */
export const exhaustedProblem = (line: number, why: string): ConfigProblem => ({
  path: '',
  line,
  code: 'too_large',
  message:
    `the document could not be read within this process's limits (${why}); an xlb configuration ` +
    'needs 6 levels of lists and mappings and far less than the limits of its size: flatten or shorten it',
});

/**
 * The CST tokens of `text`. The parser keeps the collections open at each point on a stack
 * (iteratively, unlike the composer): nesting beyond the limit is refused as soon as it is
 * reached, before the parser's own cost grows with the depth.
 */
function parseBounded(
  text: string,
  lc: LineCounter,
  deepest: { depth: number; offset: number },
): CST.Token[] {
  lc.addNewLine(0);
  const parser = new Parser(lc.addNewLine);
  const tokens: CST.Token[] = [];
  // Values the lexer has started, a lower bound of those the Reader counts: the parser's and
  // composer's nodes take about 1 KB each, so their number is bounded before they are made.
  let values = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (VALUE_TOKENS.has(CST.tokenType(lexeme)) && ++values > YAML_LIMITS.maxValues) {
      throw new Stop([tooManyValues(Math.max(1, lc.linePos(parser.offset).line))]);
    }
    for (const t of parser.next(lexeme)) tokens.push(t);
    // Below the document: the collections open here (and the scalar being read, if any).
    const depth = parser.stack.length - 1;
    if (depth <= deepest.depth) continue;
    deepest.depth = depth;
    deepest.offset = parser.offset;
    const open = depth > YAML_LIMITS.maxNesting ? collections(parser.stack) : [];
    if (open.length > YAML_LIMITS.maxNesting) {
      throw new Stop([
        {
          path: '',
          line: Math.max(1, lc.linePos(open.at(-1)?.offset ?? parser.offset).line),
          code: 'too_large',
          message:
            `lists and mappings nest more than ${YAML_LIMITS.maxNesting} levels deep here (an xlb ` +
            "configuration needs 6): look for unclosed '[' or '{', or for indentation that keeps " +
            'growing, and flatten the document',
        },
      ]);
    }
  }
  for (const t of parser.end()) tokens.push(t);
  return tokens;
}

/** Lexer tokens that start a value (block collections start with one of these inside). */
const VALUE_TOKENS = new Set<CST.TokenType | null>([
  'scalar',
  'single-quoted-scalar',
  'double-quoted-scalar',
  'block-scalar-header',
  'alias',
  'flow-map-start',
  'flow-seq-start',
]);

const tooManyValues = (line: number, alias?: { source: string; values: number }): ConfigProblem => ({
  path: '',
  line,
  code: 'too_large',
  message:
    alias === undefined
      ? `the document holds more than ${fmt(YAML_LIMITS.maxValues)} values (mappings, lists, keys and ` +
        'scalars); the largest configuration xlb accepts has under 1,000,000: remove what is not configuration'
      : `the YAML alias '*${alias.source}' repeats ${fmt(alias.values)} values, and with it the document ` +
        `expands to more than ${fmt(YAML_LIMITS.maxValues)} (an alias repeats the whole value of its anchor, ` +
        'so aliases of aliases multiply); the largest configuration xlb accepts has under 1,000,000: ' +
        'write the values out or use fewer aliases',
});

const tooMuchText = (line: number, alias: Alias | undefined, chars: number): ConfigProblem => ({
  path: '',
  line,
  code: 'too_large',
  message:
    (alias === undefined
      ? 'the document'
      : `the YAML alias '*${alias.source}' repeats ${fmt(chars)} characters, and with it the document`) +
    ` expands to more than ${fmt(YAML_LIMITS.maxText)} characters of text (twice the largest file; an alias ` +
    'repeats the whole text of its anchor): write long values once, without aliases, or shorten them',
});

/** The collections open on the parser's stack, outermost first. */
const collections = (stack: readonly CST.Token[]): CST.Token[] =>
  stack.filter((t) => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection');

/** The first document of the stream, and the line of a second one if there is one. */
function composeFirst(
  tokens: CST.Token[],
  end: number,
  lineAt: (offset: number) => number,
): { doc: Document.Parsed; second?: number } {
  // Duplicate keys are found by the Reader: the package compares every pair of keys.
  const composer = new Composer({ uniqueKeys: false });
  let first: Document.Parsed | undefined;
  for (const doc of composer.compose(tokens, true, end)) {
    if (first !== undefined) return { doc: first, second: lineAt(doc.range[0]) };
    first = doc;
  }
  if (first === undefined) throw new Error('xlb internal error: the YAML composer gave no document');
  return { doc: first };
}

type Node = ParsedNode | null;

/** One walk over the document in document order: anchors, aliases, sizes, duplicate keys, values. */
class Reader {
  private readonly anchors = new Map<string, ParsedNode>();
  /** Anchored nodes read whole: their value, how many values and characters they expand to. */
  private readonly done = new Map<ParsedNode, { value: unknown; size: number; text: number }>();
  /** Anchored nodes being read: an alias to one of them is inside it. */
  private readonly open = new Set<ParsedNode>();
  private readonly targets = new Map<Alias, ParsedNode>();
  private readonly keys = new Map<unknown, Map<string, Pair>>();
  private readonly problems: ConfigProblem[] = [];
  private values = 0;
  /** Characters of string scalars read so far, aliases expanded. */
  private chars = 0;
  private aliases = 0;

  constructor(
    private readonly parsed: { doc: Document.Parsed; second?: number },
    private readonly text: string,
    private readonly lineAt: (offset: number) => number,
  ) {}

  read(): YamlRead {
    const { doc, second } = this.parsed;
    // Only the first YAML error is reported: the following ones usually cascade from it.
    const syntax = doc.errors.slice(0, 1).map((e) => this.syntaxProblem(e, doc.errors.length - 1));
    if (second !== undefined) syntax.push(multipleDocs(second));
    if (syntax.length > 0) throw new Stop(syntax);
    const value = this.node(doc.contents);
    if (this.problems.length > 0) throw new Stop(this.problems);
    return { value, locate: (path) => this.locate(path) };
  }

  private lineOf(node: Node | Pair | undefined, dflt: number): number {
    const start = (node as { range?: readonly number[] | null } | null | undefined)?.range?.[0];
    return start === undefined ? dflt : this.lineAt(start);
  }

  private colAt(offset: number): number {
    return offset - this.text.lastIndexOf('\n', offset - 1);
  }

  /**
   * Counts `n` more values and `chars` more characters of text (an alias: those of its anchor);
   * beyond a limit, stops there.
   */
  private count(n: number, node: Node, alias?: Alias, chars = 0): void {
    this.values += n;
    this.chars += chars;
    if (this.values > YAML_LIMITS.maxValues) {
      throw new Stop([tooManyValues(this.lineOf(node, 1), alias && { source: alias.source, values: n })]);
    }
    if (this.chars > YAML_LIMITS.maxText) throw new Stop([tooMuchText(this.lineOf(node, 1), alias, chars)]);
  }

  private node(node: Node): unknown {
    if (node === null) {
      this.count(1, null);
      return null;
    }
    if (isAlias(node)) return this.alias(node);
    const anchor = node.anchor;
    if (anchor !== undefined) {
      this.anchors.set(anchor, node);
      this.open.add(node);
    }
    const before = { values: this.values, chars: this.chars };
    this.count(1, node, undefined, isScalar(node) && typeof node.value === 'string' ? node.value.length : 0);
    let value: unknown;
    if (isScalar(node)) value = node.value;
    else if (isMap(node)) value = this.map(node, node.items);
    // A list item may be a pair ('!!omap [a: 1]'): a mapping of one key.
    else value = node.items.map((item) => (isPair(item) ? this.map(item, [item]) : this.node(item as Node)));
    if (anchor !== undefined) {
      this.open.delete(node);
      this.done.set(node, { value, size: this.values - before.values, text: this.chars - before.chars });
    }
    return value;
  }

  private alias(node: Alias.Parsed): unknown {
    const line = this.lineOf(node, 1);
    if (++this.aliases > YAML_LIMITS.maxAliases) {
      throw new Stop([
        {
          path: '',
          line,
          code: 'too_large',
          message:
            `more than ${fmt(YAML_LIMITS.maxAliases)} YAML aliases ('*name'), the limit of one document: ` +
            'write the repeated values out, or anchor larger blocks',
        },
      ]);
    }
    const target = this.anchors.get(node.source);
    const read = target === undefined ? undefined : this.done.get(target);
    if (target === undefined || read === undefined) {
      this.problems.push({
        path: '',
        code: 'syntax',
        line,
        message:
          target === undefined
            ? `YAML alias '*${node.source}' has no anchor '&${node.source}' before it; ` +
              'define the anchor or quote the value'
            : `YAML alias '*${node.source}' is inside the value anchored '&${node.source}' ` +
              `(line ${this.lineOf(target, 1)}): that value would contain itself; move the alias out of it`,
      });
      this.count(1, node);
      return null;
    }
    this.targets.set(node, target);
    this.count(read.size, node, node, read.text);
    return read.value;
  }

  /** A mapping's pairs as an object; `owner` (the mapping, or a lone pair) gets their index. */
  private map(owner: unknown, pairs: readonly Pair[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const index = new Map<string, Pair>();
    this.keys.set(owner, index);
    for (const pair of pairs) {
      const keyNode = pair.key as Node;
      const name = this.keyName(keyNode, this.node(keyNode));
      const value = this.node(pair.value as Node);
      const first = index.get(name);
      if (first !== undefined) {
        const at = keyNode?.range[0];
        this.problems.push({
          path: '',
          code: 'syntax',
          line: this.lineOf(keyNode, this.lineOf(owner as Node, 1)),
          message:
            `YAML syntax error${at === undefined ? '' : ` at column ${this.colAt(at)}`}: ` +
            `${JSON.stringify(clip(name))} is already a key of this mapping (line ${this.lineOf(first.key as Node, 1)}), ` +
            'and keys must be unique; remove or rename the repeated key',
        });
        continue;
      }
      index.set(name, pair);
      // '__proto__' and the like become own keys, never the prototype.
      if (name in out)
        Object.defineProperty(out, name, { value, writable: true, enumerable: true, configurable: true });
      else out[name] = value;
    }
    return out;
  }

  /** A key as a property name: a scalar's text; a list or mapping as it is written. */
  private keyName(node: Node, value: unknown): string {
    if (value === null || value === undefined) return '';
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
      return String(value);
    const written = node !== null && isAlias(node) ? this.targets.get(node) : node;
    return written === null || written === undefined
      ? ''
      : this.text.slice(written.range[0], written.range[1]).trim();
  }

  private deref(node: unknown): unknown {
    return isAlias(node) ? this.targets.get(node) : node;
  }

  private locate(path: Path): { line: number; source?: string } {
    let node = this.deref(this.parsed.doc.contents);
    let line = this.lineOf(node as Node, 1);
    for (const seg of path) {
      const index = this.keys.get(node);
      if (index !== undefined) {
        const pair = index.get(String(seg));
        if (pair === undefined) return { line };
        line = this.lineOf(pair.key as Node, line);
        node = this.deref(pair.value);
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        const item = node.items[seg];
        line = this.lineOf(item as Node, line);
        node = this.deref(item);
      } else {
        return { line };
      }
    }
    return isScalar(node) && typeof node.value === 'number' && node.source !== undefined
      ? { line, source: node.source }
      : { line };
  }

  private syntaxProblem(e: YAMLError, more: number): ConfigProblem {
    const offset = e.pos[0];
    const line = offset < 0 ? undefined : this.lineAt(offset);
    const first = e.message.split('\n')[0] ?? '';
    if (e.code === 'RESOURCE_EXHAUSTION') return exhaustedProblem(line ?? 1, first);
    let fix = 'fix the YAML syntax there';
    // A plain scalar cannot end with ':', so YAML misreads an unquoted IPv6 address such as fd00:: .
    const lineText = line === undefined ? '' : (this.text.split(/\r?\n/, line)[line - 1] ?? '');
    const v6 = /(?:^|[\s{[,])([0-9A-Fa-f:.]*::)\s*(?:[,}\]#]|$)/.exec(lineText)?.[1];
    if (v6 === '::')
      fix = "'::' is no usable address; for a vip that accepts any address write vip: '*' (quoted)";
    else if (v6 !== undefined) fix = `an IPv6 address ending in '::' must be quoted: write '${v6}'`;
    if (e.code === 'BAD_ALIAS')
      fix = "a bare '*' starts a YAML alias; for 'any address' write vip: '*' (quoted)";
    return {
      path: '',
      code: 'syntax',
      line,
      message:
        `YAML syntax error${offset < 0 ? '' : ` at column ${this.colAt(offset)}`}: ${first}; ${fix}` +
        (more > 0 ? ` (${more} more YAML error${more > 1 ? 's' : ''} may follow from this one)` : ''),
    };
  }
}

function multipleDocs(line: number): ConfigProblem {
  return {
    path: '',
    code: 'syntax',
    line,
    message:
      "the file holds several YAML documents ('---'); xlb reads one: " +
      "remove the extra '---' and what follows, or merge it",
  };
}

/**
 * Whether js-yaml (the fast path) may find an anchor or alias in `text`: an '&' or '*' where a
 * node can start (the start of a line, after blanks, '[', '{', ',' or ':'). It over-matches
 * (a '*' in a comment or inside a plain scalar) and never misses one, so the fast path only
 * reads documents whose values are never shared.
 */
export function mayHaveAnchors(text: string): boolean {
  return /(?:^|[\s[{,:])[&*]/m.test(text);
}
