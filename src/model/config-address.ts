// Which addresses a config accepts where, and why the others cannot work. Every address of a
// config (vip, backend, fullnat's snat) must be one that a datagram can be sent to and answered
// from, as a single host:
//
//   anywhere   unicast; for the vip also '*' (any address of the family). Never the unspecified
//              address, the rest of 0.0.0.0/8, 240.0.0.0/4, the limited broadcast address,
//              multicast, IPv4-mapped IPv6, or IPv6 link-local (fe80::/10: it needs a scope,
//              an interface, that a config cannot give).
//   local      also loopback (127.0.0.0/8, ::1): local delivers to sockets on this host, and
//              backends on 127.0.0.1 are its normal case (the tutorial's, the demo's).
//   routed     (nat, fullnat, dsr) not loopback: these modes send packets through the network,
//              and Linux never routes a packet to or from a loopback address.
//
// The address rule (per field) takes what no mode can use; routedAddressProblems (per service,
// with its mode) what the routed modes cannot. Pure.
import {
  classifyAddress,
  clip,
  string,
  type AddressInfo,
  type Checker,
  type Path,
  type Rule,
} from './config-schema.js';

export type AddressRole = 'vip' | 'backend' | 'snat';
const ROLES: Record<AddressRole, { what: string; example: string }> = {
  vip: { what: 'vip', example: "192.0.2.10, '2001:db8::10' or '*'" },
  backend: { what: 'backend address', example: '192.0.2.10' },
  snat: { what: 'snat address', example: '192.0.2.1' },
};

/**
 * A unicast or loopback IPv4 or IPv6 address (for the vip also '*'), returned in canonical form.
 * Loopback is for mode local only: see routedAddressProblems.
 */
export const address = (role: AddressRole): Rule<string> => {
  const { what, example } = ROLES[role];
  const asString = string(`the ${what}`, example);
  return (value, path, c) => {
    const s = asString(value, path, c);
    if (s === undefined) return undefined;
    const a = classifyAddress(s);
    if (a.kind === 'any' && role === 'vip') return '*';
    if ((a.kind === 'unicast' || a.kind === 'loopback') && a.canonical !== undefined) return a.canonical;
    c.report(path, addressProblem(`${what} ${JSON.stringify(clip(s))}`, a, role));
    return undefined;
  };
};

/** Why `a` cannot be the address of `role` in any mode, and what to write instead. */
function addressProblem(what: string, a: AddressInfo, role: AddressRole): string {
  const v6 = a.family === 6;
  const star = role === 'vip' ? ", or '*' for any address" : '';
  const fix = `use ${v6 ? 'an IPv6 unicast address such as 2001:db8::10' : 'an IPv4 unicast address such as 192.0.2.10'}${star}`;
  switch (a.kind) {
    case 'any':
      return `${what}: '*' (any address) is only allowed as a service vip; use a unicast address such as 192.0.2.10 or 2001:db8::10`;
    case 'unspecified':
      return role === 'vip'
        ? `${what} is not a usable address (it means "no address"); to accept packets to any ${v6 ? 'IPv6 ' : ''}address write vip: '*' (quoted)`
        : `${what} is not a usable address: it means "no address" and is never a destination; ${fix}`;
    case 'this-network':
      return (
        `${what} is in 0.0.0.0/8 ("this network", RFC 1122), which is never a destination: ` +
        `Linux drops packets to or from it as martians; ${fix}`
      );
    case 'reserved':
      return (
        `${what} is in 240.0.0.0/4, reserved for future use (RFC 1112): routers do not forward it ` +
        `and most systems drop packets to or from it; ${fix}`
      );
    case 'link-local':
      return (
        `${what} is an IPv6 link-local address (fe80::/10): it names a host only together with an ` +
        'interface (fe80::1%eth0), and a config has no scope to give it; use a global or unique local ' +
        `address (fd00::/8) such as fd00::10${star}`
      );
    case 'multicast':
      return (
        `${what} is a multicast address (${v6 ? 'ff00::/8' : '224.0.0.0/4'}): it names a group of ` +
        `receivers, not one host, and xlb balances and answers unicast datagrams only; ${fix}`
      );
    case 'broadcast':
      return `${what} is the broadcast address: it reaches every host of a link and is never routed; ${fix}`;
    case 'v4mapped':
      return (
        `${what} is an IPv4-mapped IPv6 address (::ffff:0:0/96), which xlb does not translate; ` +
        `write the plain IPv4 form: ${(a.canonical ?? '').slice('::ffff:'.length)}`
      );
    case 'invalid':
    case 'unicast':
    case 'loopback':
      return (
        `${what} is not an IPv4 or IPv6 address; write a dotted quad such as 192.0.2.10 ` +
        `or an IPv6 address such as 2001:db8::10${star}`
      );
  }
}

/** What routedAddressProblems needs of a service; fields that failed their checks are undefined. */
export interface ServiceAddresses {
  mode?: string | undefined;
  vip?: string | undefined;
  backends?: readonly ({ address?: string | undefined } | undefined)[] | undefined;
  snat?: { address?: string | undefined } | undefined;
}

/**
 * Reports each loopback address of a service in a routed mode (nat, fullnat, dsr): why it cannot
 * work there, and what to use instead.
 */
export function routedAddressProblems(s: ServiceAddresses, path: Path, c: Checker): void {
  const mode = s.mode;
  if (mode === undefined || mode === 'local') return;
  const check = (role: AddressRole, canonical: string | undefined, at: Path): void => {
    if (canonical === undefined || classifyAddress(canonical).kind !== 'loopback') return;
    c.report(at, loopbackProblem(role, canonical, mode));
  };
  check('vip', s.vip, [...path, 'vip']);
  s.backends?.forEach((b, j) => check('backend', b?.address, [...path, 'backends', j, 'address']));
  check('snat', s.snat?.address, [...path, 'snat', 'address']);
}

function loopbackProblem(role: AddressRole, canonical: string, mode: string): string {
  const what = `${ROLES[role].what} ${canonical} is a loopback address (${canonical.includes(':') ? '::1' : '127.0.0.0/8'})`;
  const never = 'and Linux never routes a packet to or from a loopback address';
  switch (role) {
    case 'vip':
      return (
        `${what}: mode ${mode} forwards packets to backends on other hosts, ${never}; use an address ` +
        "of this host that clients reach (or '*'), or mode local for backends on this host"
      );
    case 'backend':
      return (
        `${what}: mode ${mode} sends packets through the network to the backend, ${never}; use the ` +
        "backend's address on the network, or mode local for sockets on this host"
      );
    case 'snat':
      return (
        `${what}: the backends must reply to it through the network, ${never}; use an address of ` +
        'this load balancer that the backends reach'
      );
  }
}
