// xlb top: a live view of the running daemon's traffic, over its REST API. Every interval it
// reads /v1/stats and shows per service and backend the packet and bit rates (deltas of the
// kernel's counters), the counters, health, drain state and flows. On a terminal it redraws
// in place (alternate screen); otherwise it prints one block per interval. --once prints one
// frame, from two samples an interval apart, and exits.
import { hostPort } from '../../util/endpoint.js';
import { performance } from 'node:perf_hooks';
import type { BackendView, ServiceView, StatsView } from '../../daemon/contract.js';
import { UsageError, type CliCommand } from '../common/args.js';
import { apiOptions, runApiCommand, type ApiSpec } from '../common/api.js';
import { backendState, scaled, table } from '../common/render.js';

const MIN_INTERVAL = 0.1;
const MAX_INTERVAL = 3600;

const spec = {
  name: 'top',
  summary:
    'A live view of the running daemon: per service and backend the packets and bits per second,\n' +
    'packets, health, drain state and flows, refreshed every interval. Ctrl-C quits.',
  usage:
    'xlb top [--interval SEC] [--once] [--instance NAME | --socket PATH | --url URL] [--token-file FILE] [--json]',
  options: {
    ...apiOptions,
    interval: {
      type: 'string',
      short: 'i',
      arg: 'SEC',
      help: `seconds between refreshes, ${MIN_INTERVAL} to ${MAX_INTERVAL}`,
      default: '1',
    },
    once: { type: 'boolean', help: 'print one frame (two samples SEC apart) and exit' },
  },
  details: 'With --json every frame is a JSON document (rates included), one after the other.',
} satisfies ApiSpec;

// ---- frames --------------------------------------------------------------------------------------

export interface Rates {
  /** Packets per second. */
  pps: number;
  /** Bits per second. */
  bps: number;
}

export interface TopBackend extends Rates {
  id: string;
  weight: number;
  state: string;
  health: string;
  packets: number;
  bytes: number;
  flows?: number;
}

export interface TopService extends Rates {
  name: string;
  address: string;
  mode: string;
  active: number;
  total: number;
  packets: number;
  bytes: number;
  backends: TopBackend[];
}

export interface TopFrame {
  instance: string;
  generation: number;
  at: string;
  /** Seconds between the two samples the rates come from. */
  seconds: number;
  /** Verdict reasons that counted packets in the interval, per second. */
  verdicts: Record<string, number>;
  services: TopService[];
}

interface Counted {
  packets: number;
  bytes: number;
}

/** Rates between two readings; a counter that went down was reset (counts since the reset). */
export function rates(now: Counted, before: Counted | undefined, seconds: number): Rates {
  if (!before || seconds <= 0) return { pps: 0, bps: 0 };
  const delta = (a: number, b: number) => (a >= b ? a - b : a);
  return {
    pps: delta(now.packets, before.packets) / seconds,
    bps: (delta(now.bytes, before.bytes) * 8) / seconds,
  };
}

function topBackend(b: BackendView, before: BackendView | undefined, seconds: number): TopBackend {
  return {
    id: b.id,
    weight: b.weight,
    state: backendState(b),
    health: b.health,
    packets: b.packets,
    bytes: b.bytes,
    ...(b.flows === undefined ? {} : { flows: b.flows }),
    ...rates(b, before, seconds),
  };
}

function topService(s: ServiceView, before: ServiceView | undefined, seconds: number): TopService {
  return {
    name: s.name,
    address: hostPort(s.vip, s.port, s.family),
    mode: s.mode,
    active: s.backends.filter((b) => b.active).length,
    total: s.backends.length,
    packets: s.packets,
    bytes: s.bytes,
    ...rates(s, before, seconds),
    backends: s.backends.map((b) =>
      topBackend(
        b,
        before?.backends.find((p) => p.id === b.id),
        seconds,
      ),
    ),
  };
}

/** Seconds between two samples: the daemon's timestamps, else the local clock's. */
export function sampleSeconds(before: StatsView, now: StatsView, localSeconds: number): number {
  const s = (Date.parse(now.at) - Date.parse(before.at)) / 1000;
  return Number.isFinite(s) && s > 0 ? s : localSeconds;
}

export function topFrame(instance: string, before: StatsView, now: StatsView, seconds: number): TopFrame {
  const verdicts: Record<string, number> = {};
  for (const [reason, c] of Object.entries(now.reasons)) {
    const pps = rates(c, before.reasons[reason as keyof StatsView['reasons']], seconds).pps;
    if (pps > 0) verdicts[reason] = pps;
  }
  return {
    instance,
    generation: now.generation,
    at: now.at,
    seconds,
    verdicts,
    services: now.services.map((s) =>
      topService(
        s,
        before.services.find((p) => p.name === s.name),
        seconds,
      ),
    ),
  };
}

// ---- rendering -----------------------------------------------------------------------------------

/** 950, 1.2k, 3.4M, 5.6G: a compact rate. */
export function compact(n: number): string {
  const units = ['', 'k', 'M', 'G', 'T'];
  const { value, unit } = scaled(n, 1000, units);
  return unit === 0 ? String(Math.round(value)) : `${value.toFixed(1)}${units[unit]}`;
}

const bits = (bps: number): string => `${compact(bps)}b/s`;

/** render.ts's table, with the given columns aligned right (numbers beside blanks). */
export function rightAlignedTable(header: string[], rows: string[][], right: number[]): string {
  const cells = [header, ...rows];
  const padded = cells.map((r) => [...r]);
  for (const col of right) {
    const width = Math.max(...cells.map((r) => (r[col] ?? '').length));
    for (const r of padded) r[col] = (r[col] ?? '').padStart(width);
  }
  const [head = [], ...body] = padded;
  return table(head, body);
}

export function renderTop(f: TopFrame, every: number): string {
  const when = f.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  const head = `xlb top: instance ${f.instance}, generation ${f.generation}, ${when} (every ${every} s)`;
  const verdicts = Object.entries(f.verdicts)
    .sort(([, a], [, b]) => b - a)
    .map(([r, pps]) => `${r} ${compact(pps)}`)
    .join(', ');
  const rows: string[][] = [];
  for (const s of f.services) {
    const flows = s.backends.some((b) => b.flows !== undefined)
      ? String(s.backends.reduce((n, b) => n + (b.flows ?? 0), 0))
      : '';
    const up = `${s.active}/${s.total} up`;
    rows.push([
      `${s.name} ${s.address}`,
      s.mode,
      up,
      '',
      compact(s.pps),
      bits(s.bps),
      String(s.packets),
      flows,
    ]);
    for (const b of s.backends) {
      rows.push([
        `  ${b.id}`,
        b.state,
        b.health,
        String(b.weight),
        compact(b.pps),
        bits(b.bps),
        String(b.packets),
        b.flows === undefined ? '-' : String(b.flows),
      ]);
    }
  }
  const body =
    rows.length === 0
      ? 'no services'
      : rightAlignedTable(
          ['service / backend', 'state', 'health', 'weight', 'pps', 'bps', 'packets', 'flows'],
          rows,
          [3, 4, 5, 6, 7],
        );
  return `${head}\nverdicts/s: ${verdicts || 'none'}\n\n${body}`;
}

/** Cuts a frame to the terminal: lines to its width, and to its height with a note. */
export function fit(text: string, columns: number | undefined, rows: number | undefined): string {
  let lines = text.split('\n');
  if (columns) lines = lines.map((l) => (l.length > columns ? l.slice(0, columns) : l));
  if (rows && lines.length > rows) {
    const hidden = lines.length - (rows - 1);
    lines = [...lines.slice(0, rows - 1), `... ${hidden} more lines (enlarge the terminal)`];
  }
  return lines.join('\n');
}

// ---- the loop ------------------------------------------------------------------------------------

export function parseInterval(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n < MIN_INTERVAL || n > MAX_INTERVAL) {
    throw new UsageError(`top: --interval must be ${MIN_INTERVAL} to ${MAX_INTERVAL} seconds, got '${text}'`);
  }
  return n;
}

/** Ctrl-C (and SIGTERM) end the view: `stopped` turns true and a pending sleep returns. */
function stopOnSignals() {
  let stopped = false;
  let wake = (): void => undefined;
  const onSignal = () => {
    if (stopped) process.exit(130); // a second Ctrl-C while a request hangs
    stopped = true;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get stopped() {
      return stopped;
    },
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (stopped) return resolve();
        const t = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      }),
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

interface Screen {
  /** Redraws in place (a terminal). */
  tty: boolean;
  show(frame: string): void;
  close(): void;
}

/** A TTY redraws in place on the alternate screen; anything else gets blocks one after another. */
function screen(json: boolean): Screen {
  const out = process.stdout;
  if (json) return { tty: false, show: (f) => out.write(`${f}\n`), close: () => undefined };
  if (!out.isTTY) {
    let first = true;
    return {
      tty: false,
      show: (f) => {
        out.write(`${first ? '' : '\n'}${f}\n`);
        first = false;
      },
      close: () => undefined,
    };
  }
  out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, hide the cursor
  return {
    tty: true,
    show: (f) => out.write(`\x1b[H\x1b[2J${fit(f, out.columns, out.rows)}`),
    close: () => out.write('\x1b[?25h\x1b[?1049l'),
  };
}

export async function topCommand(argv: string[]): Promise<number> {
  return runApiCommand(spec, argv, async (api, { values }) => {
    const every = parseInterval(values.interval ?? '1');
    const json = values.json === true;
    const render = (f: TopFrame) => (json ? JSON.stringify(f, null, 2) : renderTop(f, every));
    const signals = stopOnSignals();
    let out: Screen | undefined;
    try {
      const { instance } = await api.status();
      let before = await api.stats();
      let clock = performance.now();
      out = values.once ? undefined : screen(json);
      if (out?.tty) out.show(`xlb top: instance ${instance}: measuring for ${every} s (Ctrl-C quits)`);
      while (!signals.stopped) {
        await signals.sleep(every * 1000);
        if (signals.stopped) break;
        const now = await api.stats();
        const local = (performance.now() - clock) / 1000;
        clock = performance.now();
        const frame = topFrame(instance, before, now, sampleSeconds(before, now, local));
        if (!out) {
          console.log(render(frame));
          return 0;
        }
        out.show(render(frame));
        before = now;
      }
      return 0;
    } finally {
      out?.close();
      signals.dispose();
    }
  });
}

/** The `top` entry of main.ts's command table. */
export const command: CliCommand = {
  name: 'top',
  summary: 'live per-service and per-backend rates (over the API)',
  run: topCommand,
};
