// Network interface names as Linux accepts them (dev_valid_name, net/core/dev.c): 1 to
// IFNAMSIZ - 1 = 15 bytes, not '.' or '..', no '/', ':' or whitespace. xlb also refuses NUL
// and every other control character: a name reaches the kernel as a C string, so 'lo\0x'
// would name 'lo'. One predicate for every place a name enters: the config, the CLI's
// --iface, and (in depth) the kernel layer's ifindexOf.

/** IFNAMSIZ - 1: the bytes of a name without its terminating NUL. */
export const IFNAME_MAX_BYTES = 15;

const RULE =
  `Linux interface names are 1 to ${IFNAME_MAX_BYTES} bytes, contain no '/', ':', whitespace ` +
  "or control characters and are not '.' or '..'";

/** The first control character (C0, DEL or C1) of `s`, as its code. */
function controlCode(s: string): number | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return c;
  }
  return undefined;
}

const hex = (code: number): string => code.toString(16).toUpperCase().padStart(4, '0');

/**
 * Why `name` is no valid interface name, as a clause that names the rule (to follow
 * 'invalid interface name "x": '), or undefined for a valid name.
 */
export function interfaceNameProblem(name: string): string | undefined {
  const control = controlCode(name);
  const bytes = Buffer.byteLength(name);
  let what: string | undefined;
  if (control !== undefined) {
    const code = hex(control);
    what = `it contains the control character U+${code}${code === '0000' ? ' (NUL, where a C string ends)' : ''}`;
  } else if (bytes === 0) what = 'it is empty';
  else if (bytes > IFNAME_MAX_BYTES) what = `it is ${bytes} bytes long`;
  else if (name === '.' || name === '..') what = `'${name}' names a directory`;
  else {
    const c = /[/:\s]/.exec(name)?.[0];
    if (c === '/' || c === ':') what = `it contains '${c}'`;
    else if (c === ' ') what = 'it contains a space';
    else if (c !== undefined) what = `it contains the whitespace character U+${hex(c.charCodeAt(0))}`;
  }
  return what === undefined ? undefined : `${what}; ${RULE}`;
}
