// Validators with planted defects, for the test that the config fuzzer (test/fuzz/configs.ts)
// finds each kind of defect it looks for: each is shaped like parseConfig and loaded by module
// URL and name in the fuzzer's worker.
import { defaultConfig, parseConfig, type Config } from '../../src/model/config.js';

/** Accepts every file: every known-invalid mutation is accepted. */
export function acceptAll(): Config {
  return defaultConfig();
}

/** Throws a TypeError (not a ConfigError) on every fifth case (by the name the fuzzer gives it). */
export function crashOnFifth(text: string, source: string, opts?: { fastPath?: boolean }): Config {
  if (/^case-\d*[05]\.yaml$/.test(source))
    throw new TypeError("Cannot read properties of undefined (reading 'port')");
  return parseConfig(text, source, opts);
}

/** Never returns on cases 7, 17, 27, … */
export function hangOnSevenths(text: string, source: string, opts?: { fastPath?: boolean }): Config {
  if (/^case-\d*7\.yaml$/.test(source)) for (;;);
  return parseConfig(text, source, opts);
}

/** Works 30 ms of CPU on every file. */
export function slow(text: string, source: string, opts?: { fastPath?: boolean }): Config {
  const t0 = process.cpuUsage();
  for (;;) {
    const u = process.cpuUsage(t0);
    if (u.user + u.system > 30_000) break;
  }
  return parseConfig(text, source, opts);
}

/** Gives another hash_seed each time: what it accepts does not validate to itself again. */
let drift = 0;
export function unstable(text: string, source: string, opts?: { fastPath?: boolean }): Config {
  const c = parseConfig(text, source, opts);
  return { ...c, hashSeed: (c.hashSeed + ++drift) % 2 ** 32 };
}

/** Refuses with a problem that has no line and a message that echoes the whole file. */
export function badProblems(text: string, source: string, opts?: { fastPath?: boolean }): Config {
  try {
    return parseConfig(text, source, opts);
  } catch {
    const err = new Error(`${source}: ${text}`);
    Object.assign(err, {
      name: 'ConfigError',
      source,
      problems: [{ path: 'x', code: 'invalid', message: text.repeat(100) }],
    });
    throw err;
  }
}
