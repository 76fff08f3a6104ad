// Privileged tests run as root. Elsewhere they skip and say why; under CI (CI=true)
// a missing privilege is a failure, so that a skip can never hide a regression.
export function rootSkip(): false | string {
  if (process.getuid?.() === 0) return false;
  const why =
    'needs root (CAP_BPF + CAP_NET_ADMIN to load XDP programs and make namespaces): run `npm test` as root';
  if (process.env.CI) throw new Error(`CI=true but ${why}`);
  return why;
}
