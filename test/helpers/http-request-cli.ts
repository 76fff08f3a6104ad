// One HTTP request over a unix socket or TCP, with any headers, as any user (tests run it under
// setpriv to act as an unprivileged local user). Prints JSON — { status, body } or { error } —
// and exits 0 either way:
// node http-request-cli.js (--socket PATH | --url http://HOST:PORT) METHOD PATH [JSON_BODY] [Header:value]...
import { request } from 'node:http';

const [how, where, method, path, ...rest] = process.argv.slice(2);
if ((how !== '--socket' && how !== '--url') || !where || !method || !path) {
  console.error(
    'usage: http-request-cli.js (--socket PATH | --url URL) METHOD PATH [JSON_BODY] [Header:value]...',
  );
  process.exit(2);
}
const body = rest[0] !== undefined && !/^[\w-]+:/.test(rest[0]) ? rest.shift() : undefined;
const headers: Record<string, string> = {};
for (const h of rest) {
  const i = h.indexOf(':');
  headers[h.slice(0, i).toLowerCase()] = h.slice(i + 1).trim();
}
if (body !== undefined) headers['content-type'] ??= 'application/json';
const target =
  how === '--socket'
    ? { socketPath: where }
    : { host: new URL(where).hostname.replace(/^\[|\]$/g, ''), port: Number(new URL(where).port) };
const req = request({ ...target, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: text })));
});
req.on('error', (e: NodeJS.ErrnoException) => console.log(JSON.stringify({ error: e.code ?? e.message })));
req.on('timeout', () => req.destroy(new Error('timeout')));
req.end(body);
