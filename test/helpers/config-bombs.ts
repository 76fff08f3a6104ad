// YAML documents made to exhaust a reader: alias bombs ("billion laughs") and nesting bombs.
// Used by test/unit/config-bounds.test.ts and the config fuzzer (test/fuzz/configs.ts).

/** Nested aliases of lists: level i is a list of `fanout` aliases of level i-1 (fanout^(levels+1) leaves). */
export function aliasBomb(levels: number, fanout: number): string {
  const lines = ['interface: lo', `x0: &a0 [${Array(fanout).fill('"lol"').join(', ')}]`];
  for (let i = 1; i <= levels; i++)
    lines.push(
      `x${i}: &a${i} [${Array(fanout)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  lines.push('services: []', '');
  return lines.join('\n');
}

/**
 * One service of `n` aliased backends, aliased `n` times under services: small as text (24.7 KB
 * for n = 4,096), n² backends to validate. js-yaml shares the aliased values, so the validator
 * walks them all: the bomb that killed `xlb validate` (58.8 s, 4.45 GB).
 */
export function serviceBomb(n: number): string {
  return [
    'interface: lo',
    'x: &b {address: 192.0.2.1, port: 53}',
    `y: &s {name: a, vip: 192.0.2.1, port: 53, backends: [${Array(n).fill('*b').join(',')}]}`,
    `services: [${Array(n).fill('*s').join(',')}]`,
    '',
  ].join('\n');
}

/** `depth` flow lists inside one another, as the value of services (line 2). */
export const flowListBomb = (depth: number): string =>
  `interface: lo\nservices: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;

/** `depth` flow mappings inside one another (line 2). */
export const flowMapBomb = (depth: number): string =>
  `interface: lo\nservices: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;

/** `depth` block lists on one line ('- - - … x', line 3). */
export const blockListBomb = (depth: number): string => `interface: lo\nservices:\n${'- '.repeat(depth)}x\n`;

/** `depth` block mappings, each indented one more space on its own line (line 3 on). */
export function indentBomb(depth: number): string {
  const lines = ['interface: lo', 'services:'];
  for (let i = 0; i < depth; i++) lines.push(`${' '.repeat(i + 1)}k${i}:`);
  return `${lines.join('\n')} 1\n`;
}

/**
 * One string of `chars` characters, anchored, and `aliases` aliases of it as the backends of a
 * service (line 4): small as a file, `chars` × `aliases` characters for the validator to read.
 */
export function stringBomb(chars: number, aliases: number): string {
  return [
    'interface: lo',
    `x: &b "${'é'.repeat(chars)}"`,
    'services:',
    `  - {name: a, vip: 192.0.2.1, port: 53, backends: [${Array(aliases).fill('*b').join(',')}]}`,
    '',
  ].join('\n');
}
