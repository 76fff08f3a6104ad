// Endpoints and weights as the command line takes them: 'ADDR:PORT', '[V6]:PORT', 'W'.
// Only the syntax is checked here; the daemon checks the values with the whole configuration.
import { hostPort } from '../../util/endpoint.js';
import { LIMITS } from '../../model/config.js';
import { UsageError } from './args.js';

/** The largest backend weight (the config's limit). */
export const MAX_WEIGHT = LIMITS.maxWeight;

export interface Endpoint {
  address: string;
  port?: number;
}

function parsePort(command: string, text: string, port: string): number {
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
    throw new UsageError(`${command}: the port of '${text}' must be 1 to 65535`);
  }
  return n;
}

/**
 * 'ADDR:PORT', '[V6]:PORT', or without the port when `portOptional` ('ADDR', 'V6', '[V6]').
 * The address itself is checked by the daemon, with the rest of the configuration.
 */
export function parseEndpoint(command: string, text: string, portOptional = false): Endpoint {
  let address: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    address = bracketed[1] ?? '';
    port = bracketed[2];
  } else if ((text.match(/:/g) ?? []).length > 1) {
    address = text; // a bare IPv6 address: no port
  } else {
    [address = '', port] = text.split(':');
  }
  if (address === '') throw new UsageError(`${command}: '${text}' has no address (use ADDR:PORT)`);
  if (port === undefined) {
    if (portOptional) return { address };
    throw new UsageError(
      `${command}: '${text}' needs a port: ADDR:PORT, or [ADDR]:PORT for IPv6 (e.g. [2001:db8::1]:53)`,
    );
  }
  return { address, port: parsePort(command, text, port) };
}

/** The backend's id in the API: 'address:port', '[v6]:port'. */
export function backendId(command: string, text: string): string {
  const { address, port } = parseEndpoint(command, text);
  return hostPort(address, port ?? 0);
}

export function parseWeight(command: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_WEIGHT) {
    throw new UsageError(
      `${command}: the weight must be a whole number from 0 to ${MAX_WEIGHT}, got '${text}'`,
    );
  }
  return n;
}
