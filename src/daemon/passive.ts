// Passive health: ICMP port-unreachable errors about datagrams sent to a backend, counted by
// the data plane (icmp_unreach), become failed probes of that backend's health check.
import type { Logger } from 'pino';
import type { ServiceConfig } from '../model/config.js';
import { backendIdOf, backendKey } from './mutations.js';

export interface PassiveHealthOptions {
  /** The data plane's counts: 'addr:port' -> errors so far (of the backends of `services` only, when given). */
  read: (services?: ReadonlySet<string>) => Map<string, bigint>;
  /** The services whose backends are checked (those with `health`). */
  services: () => readonly ServiceConfig[];
  /** Counts one failed probe of a backend. */
  fail: (service: string, backend: string, reason: string) => void;
  log: Logger;
  /** How often the counts are read, milliseconds. */
  everyMs?: number;
}

export class PassiveHealth {
  private seen: Map<string, bigint>;
  /** When a passive failure was last counted per backend: at most one per interval. */
  private readonly countedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PassiveHealthOptions) {
    // Errors counted before this daemon started (an adopted data plane) are not news.
    this.seen = opts.read();
  }

  start(): void {
    this.timer = setInterval(() => this.poll(), this.opts.everyMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private poll(): void {
    // Only the backends of services with health checks can fail a probe: only theirs are read.
    const checked = new Set(this.opts.services().flatMap((s) => (s.health ? [s.name] : [])));
    if (checked.size === 0) return;
    let now: Map<string, bigint>;
    try {
      now = this.opts.read(checked);
    } catch (e) {
      this.opts.log.warn({ event: 'icmp_read_failed' }, (e as Error).message);
      return;
    }
    for (const [id, n] of now) {
      const before = this.seen.get(id) ?? 0n;
      this.seen.set(id, n);
      if (n <= before) continue;
      for (const s of this.opts.services()) {
        if (!s.health || !s.backends.some((b) => backendIdOf(b) === id)) continue;
        // The daemon's own failed probes cause these errors too: count at most one per
        // interval, so that passive errors speed detection up without halving `fall`.
        const k = backendKey(s.name, id);
        const at = Date.now();
        if (at - (this.countedAt.get(k) ?? 0) < s.health.interval * 1000) continue;
        this.countedAt.set(k, at);
        this.opts.fail(s.name, id, 'ICMP port unreachable (passive)');
      }
    }
  }
}
