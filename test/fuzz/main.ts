// `npm run fuzz`: the long runs of the fuzzers, against the loaded program (packets), the
// validator and `xlb validate` (configs) and a real daemon (API). Defaults: 1,000,000 frames,
// 2,000 config files and 4,000 API calls; each can be sized (0 skips it) and the seed fixed. Prints a summary per fuzzer and, last, one JSON line with every
// figure; exits 1 on any finding (each printed with the seed that replays it), 2 on bad flags.
//
//   npm run fuzz
//   npm run fuzz -- --packets 5000000 --configs 0 --api 0 --seed 42
import { parseArgs } from 'node:util';
import { runApiFuzz, withFuzzDaemon } from './api-daemon.js';
import { fuzzConfigs } from './configs.js';
import { fuzzPackets } from './packets.js';

const USAGE = `usage: npm run fuzz -- [--packets N] [--configs N] [--api N] [--seed N]
  --packets N   frames through xlb_xdp (default 1000000; 0 skips)
  --configs N   config files through the validator, 1 in 100 through xlb validate (default 2000; 0 skips)
  --api N       requests to a real daemon (default 4000; 0 skips)
  --seed N      the seed of every fuzzer (default: random, printed)`;

interface Figures {
  seed: number;
  packets?: { frames: number; seconds: number; findings: number; byCheck: Record<string, number> };
  configs?: {
    files: number;
    accepted: number;
    refused: number;
    seconds: number;
    findings: number;
    slowestMs: number;
  };
  api?: { calls: number; seconds: number; findings: number; byStatus: Record<string, number> };
}

function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    console.error(`fuzz: ${flag} must be a whole number (0 skips that fuzzer), got '${value}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        packets: { type: 'string' },
        configs: { type: 'string' },
        api: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const frames = count('--packets', values.packets, 1_000_000);
  const files = count('--configs', values.configs, 2000);
  const calls = count('--api', values.api, 4000);
  const seed = count('--seed', values.seed, Math.floor(Math.random() * 2 ** 31));
  if ((frames > 0 || calls > 0) && process.getuid?.() !== 0) {
    console.error('fuzz: the packet and API fuzzers load BPF programs and make namespaces: run as root');
    return 2;
  }
  const figures: Figures = { seed };
  let findings = 0;
  console.log(`fuzz: seed ${seed} (--seed ${seed} replays this run)`);

  if (frames > 0) {
    const r = await fuzzPackets({
      frames,
      seed,
      onProgress: (done) => console.log(`packets: ${done.toLocaleString('en')} frames`),
      onFinding: (f) =>
        console.log(
          `packets: finding #${f.index} (${f.kind}) ${f.check}: ${f.message}\n  in  ${f.input}\n  out ${f.output}`,
        ),
    });
    const n = Object.values(r.findingsByCheck).reduce((a, b) => a + b, 0);
    findings += n;
    figures.packets = { frames: r.frames, seconds: r.seconds, findings: n, byCheck: r.findingsByCheck };
    console.log(
      `packets: ${r.frames.toLocaleString('en')} frames in ${r.seconds.toFixed(1)} s, ${n} findings; ` +
        `by generator ${JSON.stringify(r.byKind)}; verdicts ${JSON.stringify(r.byVerdict)}`,
    );
  }

  if (files > 0) {
    const r = await fuzzConfigs({ files, seed });
    for (const f of r.findings) console.log(`configs: finding ${JSON.stringify(f)}`);
    findings += r.findings.length;
    figures.configs = {
      files: r.files,
      accepted: r.accepted,
      refused: r.refused,
      seconds: r.seconds,
      findings: r.findings.length,
      slowestMs: r.slowestMs,
    };
    console.log(
      `configs: ${r.files.toLocaleString('en')} files in ${r.seconds.toFixed(1)} s (${r.accepted} accepted, ` +
        `${r.refused} refused; ${r.cli.files} through xlb validate), ${r.findings.length} findings; ` +
        `slowest ${r.slowestMs.toFixed(0)} ms of CPU (case ${r.slowestCase})`,
    );
  }

  if (calls > 0) {
    const t0 = performance.now();
    const r = await withFuzzDaemon((d) => runApiFuzz(d, calls, seed));
    const seconds = (performance.now() - t0) / 1000;
    for (const f of r.findings) console.log(`api: finding ${JSON.stringify(f)}`);
    findings += r.findings.length;
    figures.api = { calls: r.calls, seconds, findings: r.findings.length, byStatus: r.byStatus };
    console.log(
      `api: ${r.calls.toLocaleString('en')} calls in ${seconds.toFixed(1)} s, ${r.findings.length} findings; ` +
        `${r.refusedChecked} refused mutations checked unchanged; by status ${JSON.stringify(r.byStatus)}`,
    );
  }

  console.log(JSON.stringify(figures));
  return findings > 0 ? 1 : 0;
}

process.exitCode = await main();
