// Deep immutability for values that are shared after they are built (validated configs,
// the OpenAPI document): a caller that tries to edit one gets a TypeError, not a silent
// change to everybody's copy.

/** Freezes `value` and everything reachable from it (children first); returns it. An
 * object that is already frozen was frozen whole by an earlier call and is skipped. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
