// API view objects for tests of what renders them (CLI tables, metrics): defaults of a
// healthy, active backend with no traffic, overridden per case.
import type { BackendView } from '../../src/daemon/contract.js';

export function backendView(address: string, port: number, over: Partial<BackendView> = {}): BackendView {
  return {
    id: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`,
    address,
    port,
    weight: 1,
    drained: false,
    active: true,
    health: 'healthy',
    healthTransitions: 0,
    packets: 0,
    bytes: 0,
    ...over,
  };
}
