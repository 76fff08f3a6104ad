// One running load balancer: the data plane loaded, configured, pinned for readers
// and attached; stopped by detaching and removing everything it made.
import { ifindexOf } from '../kernel/netif.js';
import { ABI_VERSION, type XdpMode } from '../abi/abi.js';
import type { Config } from '../model/config.js';
import { schedEntriesFor } from '../model/config-memory.js';
import { Dataplane } from './dataplane.js';
import { forwardingWarnings } from './preflight.js';
import {
  STATE_FORMAT,
  claimInstance,
  planToState,
  removeInstance,
  selfIdFields,
  writeState,
} from './instance.js';
import type { ApplyReport } from './reconcile.js';
import type { InterfaceState } from './attachments.js';
import { requireKernel, type KernelFeatures } from './features.js';

export interface StartOptions {
  config: Config;
  /** Overrides config.interfaces. */
  interfaces?: string[];
  /** Overrides config.xdpMode. */
  mode?: XdpMode;
  force?: boolean;
  instance?: string;
  objectPath?: string;
}

export class RunningInstance {
  private stopped = false;

  private constructor(
    readonly name: string,
    readonly dataplane: Dataplane,
    readonly interfaces: string[],
    readonly firstApply: ApplyReport,
    /** Things about the host that will keep traffic from flowing, with their fix. */
    readonly warnings: string[],
    /** The kernel and what the probe found at start. */
    readonly kernel: KernelFeatures,
  ) {}

  static start(opts: StartOptions): RunningInstance {
    const name = opts.instance ?? 'default';
    const kernel = requireKernel(); // what the kernel lacks stops the start before anything is loaded
    const interfaces = opts.interfaces ?? opts.config.interfaces;
    for (const i of interfaces) ifindexOf(i); // a missing interface fails before anything is loaded
    const dp = Dataplane.load({
      objectPath: opts.objectPath,
      flowTableSize: opts.config.flowTableSize,
      schedEntries: schedEntriesFor(opts.config.services),
    });
    let claimed = false;
    try {
      const report = dp.apply(opts.config); // configured before the first packet arrives
      const paths = claimInstance(name);
      claimed = true;
      dp.pinMaps(paths.pinDir);
      dp.attach(interfaces, { mode: opts.mode ?? opts.config.xdpMode, force: opts.force });
      const inst = new RunningInstance(
        name,
        dp,
        interfaces,
        report,
        forwardingWarnings(opts.config, interfaces),
        kernel,
      );
      inst.saveState();
      return inst;
    } catch (e) {
      dp.close();
      if (claimed) removeInstance(name);
      throw e;
    }
  }

  /** The attached interfaces: XDP mode and TC method of each. */
  get attachments(): InterfaceState[] {
    return this.dataplane.interfaceStates();
  }

  apply(config: Config): ApplyReport {
    const r = this.dataplane.apply(config);
    this.saveState();
    return r;
  }

  private saveState(): void {
    writeState({
      format: STATE_FORMAT,
      abi: ABI_VERSION,
      name: this.name,
      ...selfIdFields(),
      startedAt: new Date().toISOString(),
      interfaces: this.attachments,
      services: planToState(this.dataplane.reconciler.applied),
    });
  }

  /** Detaches every program and removes the maps' pins and the state file. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.dataplane.close();
    } finally {
      removeInstance(this.name);
    }
  }
}
