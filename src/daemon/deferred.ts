// A DaemonApi that answers before the daemon exists: the API listens first (so that a
// listener that cannot be opened, or an exposure that is refused, fails the start before
// anything is loaded or attached), answers XLB_NOT_READY, and serves the daemon once set.
import { ApiError, ErrorCodes, type DaemonApi } from './contract.js';

export interface DeferredDaemon {
  readonly api: DaemonApi;
  set(daemon: DaemonApi): void;
}

export function deferredDaemon(): DeferredDaemon {
  let target: DaemonApi | undefined;
  const notReady = (): never => {
    throw new ApiError('XLB_NOT_READY', ErrorCodes.XLB_NOT_READY.meaning);
  };
  const api = new Proxy({} as DaemonApi, {
    get(_, prop: keyof DaemonApi) {
      if (target === undefined) return prop === 'ready' ? () => false : notReady;
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    api,
    set: (d) => {
      target = d;
    },
  };
}
