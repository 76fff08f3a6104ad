// Taking pinned attachments down: one interface that left the config, or (`xlb down`) the
// whole instance after its daemon stopped.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeClassicTc, type InterfaceState } from '../control/attachments.js';
import { linkPins, type Dataplane } from '../control/dataplane.js';
import { ownedByOther, readState, removeInstance } from '../control/instance.js';
import { ProbeRoutes } from '../control/probe-routes.js';
import { BpfLink } from '../kernel/link.js';
import { instancePaths } from '../util/host.js';

/** Detaches a link; one whose interface is gone (ifindex 0) is defunct already: false. */
function detachLive(l: BpfLink): boolean {
  if (l.info.ifindex === 0) return false;
  l.detach();
  return true;
}

/** Detaches and unpins the links of one interface (it left the config), and its classic TC filters. */
export function detachPinned(pinDir: string, iface: InterfaceState, dp: Dataplane): void {
  const ifname = iface.name;
  removeClassicTc([iface]);
  for (const file of Object.values(linkPins(ifname))) {
    const path = join(pinDir, file);
    if (!existsSync(path)) continue;
    const l = BpfLink.fromPin(path);
    try {
      if (file === linkPins(ifname).xdp) dp.maps.txPorts.delete(l.info.ifindex);
      detachLive(l);
    } finally {
      l.close();
    }
    rmSync(path);
  }
}

/**
 * `xlb down`: detaches and removes everything an instance pinned, and the classic TC filters
 * (and the clsact qdiscs it created) its state records.
 */
export function down(instance: string): { links: number; filters: number; removed: boolean } {
  const { pinDir, stateFile } = instancePaths(instance);
  const state = readState(instance);
  if (state && ownedByOther(state)) {
    throw new Error(
      `instance '${instance}' is served by a running process (pid ${state.pid}): stop it first (systemctl stop xlb)`,
    );
  }
  let detached = 0;
  const filters = state ? removeClassicTc(state.interfaces) : 0;
  if (existsSync(pinDir)) {
    for (const f of readdirSync(pinDir)) {
      if (!f.startsWith('link-')) continue;
      const l = BpfLink.fromPin(join(pinDir, f));
      try {
        if (detachLive(l)) detached++;
      } finally {
        l.close();
      }
    }
  }
  const existed = existsSync(pinDir) || existsSync(stateFile);
  removeInstance(instance);
  new ProbeRoutes().clear(); // dsr probe routes a killed daemon left
  return { links: detached, filters, removed: existed };
}
