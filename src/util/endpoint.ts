// How xlb writes an endpoint everywhere it shows one: 'address:port', with an IPv6
// address in brackets ('[2001:db8::1]:53'), so that the port can never be read as
// part of the address. Every output (stats, service ls, logs, metrics labels, API ids)
// uses this one function.

/** 'address:port', or '[v6]:port' for an IPv6 address (or any address of family 6, e.g. '*'). */
export function hostPort(address: string, port: number, family?: 4 | 6): string {
  return address.includes(':') || family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
