// Tests of the daemon's REST API (src/api/server.ts) over the in-memory FakeDaemon: every route's
// success and the error codes it documents, bearer auth, malformed requests (the daemon stays
// untouched), the OpenAPI document against the routes Fastify registered, and one test that
// listens for real on a unix socket and on 127.0.0.1.
import { httpStatus } from '../../src/api/errors.js';

import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { existsSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { ApiError, ErrorCodes } from '../../src/daemon/contract.js';
import type { BackendView, ErrorCode, ServiceView, StatusView } from '../../src/daemon/contract.js';
import { allowedHostValues, bearerToken, buildApi, isLoopback, startApi } from '../../src/api/server.js';
import type { ApiServerOptions, RequestRecord } from '../../src/api/server.js';
import { OPERATIONS, errorsOf, openApiDocument, schemas } from '../../src/api/openapi.js';
import type { Method, Operation, SchemaName } from '../../src/api/openapi.js';
import { FakeDaemon, sampleConfig } from './fake-daemon.js';

// ---- helpers ------------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  body: unknown;
}
interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}
interface CallOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, with `type` as content type. */
  raw?: string;
  type?: string;
  token?: string;
  authorization?: string;
  host?: string;
}

const TOKEN = 'sesame-0123456789';

/** The Host a TCP listener on 127.0.0.1:9477 answers (setup's `hosts`). */
const TCP_HOSTS = allowedHostValues('127.0.0.1', 9477);

function setup(t: TestContext, extra: Partial<ApiServerOptions> = {}, hosts?: Set<string>) {
  const daemon = new FakeDaemon();
  const internal: unknown[] = [];
  const app = buildApi({ daemon, onError: (e) => internal.push(e), ...extra }, hosts);
  t.after(() => app.close());
  return { daemon, app, internal };
}

async function call(
  app: FastifyInstance,
  method: Method | 'PUT',
  url: string,
  o: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.type !== undefined) headers['content-type'] = o.type;
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.authorization !== undefined) headers.authorization = o.authorization;
  if (o.host !== undefined) headers.host = o.host;
  const payload = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  if (o.body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
  const json = /^application\/json/.test(String(res.headers['content-type']));
  return {
    status: res.statusCode,
    headers: res.headers,
    text: res.body,
    body: json ? (JSON.parse(res.body) as unknown) : undefined,
  };
}

/** Asserts the error shape, the code and its status; returns the error object. */
function assertError(a: Answer, code: ErrorCode): ErrorBody {
  assert.equal(a.status, httpStatus[code], a.text);
  assert.match(String(a.headers['content-type']), /^application\/json/);
  const body = a.body as { error: ErrorBody };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code, a.text);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error;
}

const enc = encodeURIComponent;
const V4_ID = '198.51.100.11:53';
const V4_ID_W3 = '198.51.100.12:53';
const V6_ID = '[2001:db8::11]:53';

/** A concrete URL for an operation, on the sample configuration. */
const urlOf = (op: Operation): string => op.url.replace(':name', 'dns').replace(':id', enc(V4_ID));

/** A valid body for each request schema. */
const BODIES: Partial<Record<SchemaName, unknown>> = {
  ServiceInput: { name: 'ntp', vip: '192.0.2.20', port: 123, backends: [] },
  BackendInput: { address: '198.51.100.13', port: 53 },
  BackendPatch: { weight: 2 },
};
const bodyOf = (op: Operation): unknown => (op.body === undefined ? undefined : BODIES[op.body]);

/** The operations, typed as the interface (OPERATIONS is a literal tuple). */
const OPS: readonly Operation[] = OPERATIONS;

/** The routes Fastify registered, as 'METHOD /path', read from printRoutes' tree. */
function registeredRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (m === null) continue;
    stack.length = (m[1] ?? '').length / 4;
    stack.push(m[2] ?? '');
    for (const method of m[3]?.split(', ') ?? []) routes.push(`${method} ${stack.join('')}`);
  }
  return routes.sort();
}

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, DocOperation>>;
  components: { schemas: Record<string, Record<string, unknown>>; securitySchemes: Record<string, unknown> };
  security: unknown[];
}
interface DocOperation {
  operationId: string;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { examples?: Record<string, unknown> }> }>;
}
const doc = (): Doc => openApiDocument() as Doc;

// ---- probes -------------------------------------------------------------------------------------

describe('probes', () => {
  it('GET /healthz answers ok, ready or not', async (t) => {
    const { app, daemon } = setup(t);
    assert.deepEqual((await call(app, 'GET', '/healthz')).body, { status: 'ok' });
    daemon.isReady = false;
    const a = await call(app, 'GET', '/healthz');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { status: 'ok' });
  });

  it('GET /readyz answers ready, or 503 XLB_NOT_READY', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/readyz');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { ready: true });
    daemon.isReady = false;
    assertError(await call(app, 'GET', '/readyz'), 'XLB_NOT_READY');
  });
});

// ---- reads --------------------------------------------------------------------------------------

describe('reads', () => {
  it('GET /v1/status answers the StatusView', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/v1/status');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, daemon.status());
  });

  it('GET /v1/stats answers the StatsView with every reason', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/v1/stats');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, daemon.stats());
  });

  it('GET /v1/drift answers the DriftView', async (t) => {
    const { app, daemon } = setup(t);
    assert.deepEqual((await call(app, 'GET', '/v1/drift')).body, {
      drift: false,
      fileValid: true,
      changes: [],
    });
    await call(app, 'PATCH', `/v1/services/dns/backends/${enc(V4_ID)}`, { body: { weight: 4 } });
    const a = await call(app, 'GET', '/v1/drift');
    assert.deepEqual(a.body, {
      drift: true,
      fileValid: true,
      changes: [`~ weight of ${V4_ID} in dns: 1 -> 4`],
    });
    assert.deepEqual(a.body, daemon.drift());
  });

  it('GET /v1/config answers the running configuration as YAML', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/v1/config');
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/yaml');
    assert.equal(a.text, daemon.dumpConfig());
    assert.deepEqual(parseYaml(a.text), sampleConfig());
  });

  it('GET /metrics answers Prometheus text', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/metrics');
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(a.text, await daemon.metrics());
  });

  it('GET /v1/services answers every ServiceView, optional fields included', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/v1/services');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, daemon.services());
    const dns = a.body[0];
    assert.equal(dns?.allDown, 'drop');
    assert.equal(dns?.backends[0]?.healthSince, '2024-01-01T00:00:00.000Z');
    assert.equal(dns?.backends[0]?.flows, 1);
  });

  it('GET /v1/services/:name answers one service, or 404 XLB_NOT_FOUND', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'GET', '/v1/services/dns6');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, daemon.service('dns6'));
    assert.match(assertError(await call(app, 'GET', '/v1/services/nope'), 'XLB_NOT_FOUND').message, /nope/);
  });
});

// ---- changes ------------------------------------------------------------------------------------

describe('services', () => {
  it('POST /v1/services adds a service (extra config keys pass to the daemon): 201', async (t) => {
    const { app, daemon } = setup(t);
    const input = {
      name: 'ntp',
      vip: '2001:db8::20',
      port: 123,
      scheduler: 'weighted-round-robin',
      flow_timeouts: { unreplied: 10, assured: 60 },
      backends: [{ address: '2001:db8::21', port: 123, weight: 2 }],
    };
    const a = await call(app, 'POST', '/v1/services', { body: input });
    assert.equal(a.status, 201, a.text);
    const view = a.body as ServiceView;
    assert.equal(view.name, 'ntp');
    assert.equal(view.family, 6);
    assert.equal(view.scheduler, 'weighted-round-robin');
    assert.deepEqual(
      view.backends.map((b) => [b.id, b.weight]),
      [['[2001:db8::21]:123', 2]],
    );
    assert.deepEqual(a.body, daemon.service('ntp'));
    assert.equal(daemon.generation, 2);
  });

  it('POST /v1/services: an existing name is 409 XLB_CONFLICT, nothing changed', async (t) => {
    const { app, daemon } = setup(t);
    const before = daemon.snapshot();
    const a = await call(app, 'POST', '/v1/services', {
      body: { name: 'dns', vip: '192.0.2.99', port: 5353 },
    });
    assert.match(assertError(a, 'XLB_CONFLICT').message, /dns/);
    assert.deepEqual(daemon.snapshot(), before);
  });

  it('POST /v1/services: an invalid service is 422 XLB_INVALID_CONFIG with the problems, nothing changed', async (t) => {
    const { app, daemon } = setup(t);
    const before = daemon.snapshot();
    const a = await call(app, 'POST', '/v1/services', {
      body: { name: 'bad', vip: '300.1.1.1', port: 70000, colour: 'blue' },
    });
    const e = assertError(a, 'XLB_INVALID_CONFIG');
    const paths = (e.details as { path: string; message: string }[]).map((p) => p.path).sort();
    assert.deepEqual(paths, ['services[2].colour', 'services[2].port', 'services[2].vip']);
    assert.deepEqual(daemon.snapshot(), before);
  });

  it('DELETE /v1/services/:name removes it: 204, then 404 XLB_NOT_FOUND', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'DELETE', '/v1/services/dns6');
    assert.equal(a.status, 204);
    assert.equal(a.text, '');
    assert.deepEqual(
      daemon.services().map((s) => s.name),
      ['dns'],
    );
    const before = daemon.snapshot();
    assertError(await call(app, 'DELETE', '/v1/services/dns6'), 'XLB_NOT_FOUND');
    assertError(await call(app, 'GET', '/v1/services/dns6'), 'XLB_NOT_FOUND');
    assert.deepEqual(daemon.snapshot(), before);
  });
});

describe('backends', () => {
  it('POST /v1/services/:name/backends adds a backend: 201 BackendView', async (t) => {
    const { app, daemon } = setup(t);
    const a = await call(app, 'POST', '/v1/services/dns/backends', {
      body: { address: '198.51.100.13', port: 53, weight: 7 },
    });
    assert.equal(a.status, 201, a.text);
    const view = a.body as BackendView;
    assert.equal(view.id, '198.51.100.13:53');
    assert.equal(view.weight, 7);
    assert.deepEqual(
      daemon.service('dns').backends.find((b) => b.id === view.id),
      view,
    );
    const v6 = await call(app, 'POST', '/v1/services/dns6/backends', {
      body: { address: '2001:DB8::12', port: 53 },
    });
    assert.equal(v6.status, 201, v6.text);
    assert.equal((v6.body as BackendView).id, '[2001:db8::12]:53');
  });

  it('POST backends: a duplicate is 409, an unknown service 404, a bad backend 422; nothing changed', async (t) => {
    const { app, daemon } = setup(t);
    const before = daemon.snapshot();
    const url = '/v1/services/dns/backends';
    assertError(
      await call(app, 'POST', url, { body: { address: '198.51.100.11', port: 53 } }),
      'XLB_CONFLICT',
    );
    const other = { address: '198.51.100.13', port: 53 };
    assertError(await call(app, 'POST', '/v1/services/nope/backends', { body: other }), 'XLB_NOT_FOUND');
    const e = assertError(
      await call(app, 'POST', url, { body: { address: '2001:db8::13', port: 53 } }),
      'XLB_INVALID_CONFIG',
    );
    assert.ok(Array.isArray(e.details) && e.details.length > 0, JSON.stringify(e));
    assertError(
      await call(app, 'POST', url, { body: { address: '198.51.100.13', port: 53, health: 1 } }),
      'XLB_INVALID_CONFIG',
    );
    assert.deepEqual(daemon.snapshot(), before);
  });

  it('DELETE /v1/services/:name/backends/:id removes a backend (IPv4 and URL-encoded IPv6 ids): 204', async (t) => {
    const { app, daemon } = setup(t);
    assert.equal((await call(app, 'DELETE', `/v1/services/dns/backends/${enc(V4_ID)}`)).status, 204);
    assert.equal((await call(app, 'DELETE', `/v1/services/dns6/backends/${enc(V6_ID)}`)).status, 204);
    assert.deepEqual(
      daemon.services().map((s) => s.backends.map((b) => b.id)),
      [[V4_ID_W3], []],
    );
  });

  it('DELETE backend: an unknown backend or service is 404 XLB_NOT_FOUND, nothing changed', async (t) => {
    const { app, daemon } = setup(t);
    const before = daemon.snapshot();
    assertError(
      await call(app, 'DELETE', `/v1/services/dns/backends/${enc('198.51.100.99:53')}`),
      'XLB_NOT_FOUND',
    );
    assertError(await call(app, 'DELETE', `/v1/services/nope/backends/${enc(V4_ID)}`), 'XLB_NOT_FOUND');
    assert.deepEqual(daemon.snapshot(), before);
  });

  it('PATCH weight sets the weight; drain true drains; drain false restores the weight', async (t) => {
    const { app, daemon } = setup(t);
    const url = `/v1/services/dns/backends/${enc(V4_ID_W3)}`;
    const weight = await call(app, 'PATCH', url, { body: { weight: 5 } });
    assert.equal(weight.status, 200, weight.text);
    assert.deepEqual(weight.body, {
      ...(weight.body as BackendView),
      weight: 5,
      drained: false,
      active: true,
    });
    const drained = await call(app, 'PATCH', url, { body: { drain: true } });
    assert.equal(drained.status, 200);
    assert.deepEqual(drained.body, {
      ...(drained.body as BackendView),
      weight: 0,
      drained: true,
      active: false,
    });
    const undrained = await call(app, 'PATCH', url, { body: { drain: false } });
    assert.deepEqual(undrained.body, {
      ...(undrained.body as BackendView),
      weight: 5,
      drained: false,
      active: true,
    });
    assert.deepEqual(
      daemon.calls.filter((c) => ['setWeight', 'drain', 'undrain'].includes(c)),
      ['setWeight', 'drain', 'undrain'],
    );
    const v6 = await call(app, 'PATCH', `/v1/services/dns6/backends/${enc(V6_ID)}`, { body: { weight: 0 } });
    assert.equal((v6.body as BackendView).weight, 0);
  });

  it('PATCH an unknown backend or service is 404 XLB_NOT_FOUND, nothing changed', async (t) => {
    const { app, daemon } = setup(t);
    const before = daemon.snapshot();
    const unknown = `/v1/services/dns/backends/${enc('198.51.100.99:53')}`;
    assertError(await call(app, 'PATCH', unknown, { body: { drain: true } }), 'XLB_NOT_FOUND');
    assertError(
      await call(app, 'PATCH', `/v1/services/x/backends/${enc(V4_ID)}`, { body: { weight: 1 } }),
      'XLB_NOT_FOUND',
    );
    assert.deepEqual(daemon.snapshot(), before);
  });
});

describe('reload', () => {
  it('POST /v1/reload applies the file and answers the StatusView', async (t) => {
    const { app, daemon } = setup(t);
    daemon.file.services.pop();
    const a = await call(app, 'POST', '/v1/reload');
    assert.equal(a.status, 200, a.text);
    const status = a.body as StatusView;
    assert.equal(status.generation, 2);
    assert.equal(status.services, 1);
    assert.deepEqual(a.body, daemon.status());
    // An empty body with a JSON content type is no body.
    assert.equal((await call(app, 'POST', '/v1/reload', { raw: '', type: 'application/json' })).status, 200);
  });

  it('POST /v1/reload: a bad file is 422 XLB_RELOAD_FAILED with the problems, the running config stays', async (t) => {
    const { app, daemon } = setup(t);
    daemon.file = { ...daemon.file, flow_table_size: 5 };
    const before = daemon.snapshot();
    const e = assertError(await call(app, 'POST', '/v1/reload'), 'XLB_RELOAD_FAILED');
    assert.deepEqual(
      (e.details as { path: string }[]).map((p) => p.path),
      ['flow_table_size'],
    );
    assert.deepEqual(daemon.snapshot(), before);
  });
});

// ---- malformed requests -------------------------------------------------------------------------

interface BadCase {
  name: string;
  method: Method;
  url: string;
  o: CallOptions;
  /** The path of the first problem in details, for schema errors. */
  path?: string;
}

const SVC = '/v1/services';
const BACKENDS = '/v1/services/dns/backends';
const BACKEND = `/v1/services/dns/backends/${enc(V4_ID)}`;
const json = 'application/json';

const BAD: BadCase[] = [
  {
    name: 'service port of the wrong type',
    method: 'POST',
    url: SVC,
    o: { body: { name: 'x', vip: '192.0.2.1', port: '53' } },
    path: 'port',
  },
  {
    name: 'service without vip',
    method: 'POST',
    url: SVC,
    o: { body: { name: 'x', port: 53 } },
    path: 'vip',
  },
  {
    name: 'service name a number',
    method: 'POST',
    url: SVC,
    o: { body: { name: 5, vip: '192.0.2.1', port: 53 } },
    path: 'name',
  },
  { name: 'service as a list', method: 'POST', url: SVC, o: { body: [] }, path: '' },
  { name: 'service null', method: 'POST', url: SVC, o: { raw: 'null', type: json }, path: '' },
  { name: 'service a string', method: 'POST', url: SVC, o: { raw: '"dns"', type: json }, path: '' },
  { name: 'service: invalid JSON', method: 'POST', url: SVC, o: { raw: '{"name": "x",', type: json } },
  { name: 'service: empty JSON body', method: 'POST', url: SVC, o: { raw: '', type: json }, path: '' },
  { name: 'service as text/plain', method: 'POST', url: SVC, o: { raw: '{"name":"x"}', type: 'text/plain' } },
  {
    name: 'service as a form',
    method: 'POST',
    url: SVC,
    o: { raw: 'name=x', type: 'application/x-www-form-urlencoded' },
  },
  {
    name: 'service with __proto__',
    method: 'POST',
    url: SVC,
    o: { raw: '{"name":"x","vip":"192.0.2.1","port":53,"__proto__":{"admin":true}}', type: json },
  },
  {
    name: 'backend without address',
    method: 'POST',
    url: BACKENDS,
    o: { body: { port: 53 } },
    path: 'address',
  },
  {
    name: 'backend address a number',
    method: 'POST',
    url: BACKENDS,
    o: { body: { address: 1, port: 53 } },
    path: 'address',
  },
  {
    name: 'backend weight a string',
    method: 'POST',
    url: BACKENDS,
    o: { body: { address: '198.51.100.13', weight: 'heavy' } },
    path: 'weight',
  },
  {
    name: 'backend port not an integer',
    method: 'POST',
    url: BACKENDS,
    o: { body: { address: '198.51.100.13', port: 53.5 } },
    path: 'port',
  },
  { name: 'patch with neither weight nor drain', method: 'PATCH', url: BACKEND, o: { body: {} }, path: '' },
  {
    name: 'patch with both weight and drain',
    method: 'PATCH',
    url: BACKEND,
    o: { body: { weight: 1, drain: true } },
    path: '',
  },
  {
    name: 'patch weight 70000',
    method: 'PATCH',
    url: BACKEND,
    o: { body: { weight: 70000 } },
    path: 'weight',
  },
  { name: 'patch weight -1', method: 'PATCH', url: BACKEND, o: { body: { weight: -1 } }, path: 'weight' },
  { name: 'patch weight 2.5', method: 'PATCH', url: BACKEND, o: { body: { weight: 2.5 } }, path: 'weight' },
  { name: "patch weight '5'", method: 'PATCH', url: BACKEND, o: { body: { weight: '5' } }, path: 'weight' },
  { name: "patch drain 'yes'", method: 'PATCH', url: BACKEND, o: { body: { drain: 'yes' } }, path: 'drain' },
  { name: 'patch drain null', method: 'PATCH', url: BACKEND, o: { body: { drain: null } }, path: 'drain' },
  {
    name: 'patch unknown field',
    method: 'PATCH',
    url: BACKEND,
    o: { body: { colour: 'red' } },
    path: 'colour',
  },
  { name: 'patch as a list', method: 'PATCH', url: BACKEND, o: { body: [{ weight: 1 }] }, path: '' },
  { name: 'patch: invalid JSON', method: 'PATCH', url: BACKEND, o: { raw: '{weight: 1}', type: json } },
  {
    name: 'a body over 1 MiB',
    method: 'POST',
    url: SVC,
    o: { body: { name: 'x', vip: '192.0.2.1', port: 53, pad: 'x'.repeat(1_100_000) } },
  },
  { name: 'reload: invalid JSON', method: 'POST', url: '/v1/reload', o: { raw: '{', type: json } },
  { name: 'delete: invalid JSON', method: 'DELETE', url: BACKEND, o: { raw: 'nope', type: json } },
];

describe('malformed requests are 400 XLB_BAD_REQUEST and change nothing', () => {
  for (const c of BAD) {
    it(c.name, async (t) => {
      const { app, daemon, internal } = setup(t);
      const before = daemon.snapshot();
      const e = assertError(await call(app, c.method, c.url, c.o), 'XLB_BAD_REQUEST');
      if (c.path !== undefined) {
        const first = (e.details as { in: string; path: string; message: string }[])[0];
        assert.equal(first?.in, 'body');
        assert.equal(first?.path, c.path, JSON.stringify(e));
      }
      assert.deepEqual(daemon.snapshot(), before);
      assert.deepEqual(daemon.mutationCalls(), []);
      assert.deepEqual(internal, []);
    });
  }

  it('the message names the problem and the expected shape', async (t) => {
    const { app } = setup(t);
    const e = assertError(await call(app, 'PATCH', BACKEND, { body: { weight: 70000 } }), 'XLB_BAD_REQUEST');
    assert.match(e.message, /weight must be <= 65535/);
    assert.match(e.message, /exactly one of/);
  });
});

// ---- errors -------------------------------------------------------------------------------------

describe('errors', () => {
  it('an unknown route is 404 XLB_NOT_FOUND as JSON', async (t) => {
    const { app } = setup(t);
    assert.match(
      assertError(await call(app, 'GET', '/v2/nothing?x=1'), 'XLB_NOT_FOUND').message,
      /\/v2\/nothing/,
    );
    assertError(await call(app, 'PUT', '/v1/services'), 'XLB_NOT_FOUND');
    assertError(await call(app, 'GET', '/'), 'XLB_NOT_FOUND');
  });

  it("a daemon's ApiError keeps its code, message and details", async (t) => {
    const { app, daemon, internal } = setup(t);
    daemon.failNext(new ApiError('XLB_KERNEL', 'map update failed: E2BIG; raise max_entries', { errno: 7 }));
    const e = assertError(await call(app, 'GET', '/v1/stats'), 'XLB_KERNEL');
    assert.deepEqual(e, {
      code: 'XLB_KERNEL',
      message: 'map update failed: E2BIG; raise max_entries',
      details: { errno: 7 },
    });
    assert.deepEqual(internal, []);
  });

  it('anything else is 500 XLB_INTERNAL with a generic message, and is reported to onError', async (t) => {
    const { app, daemon, internal } = setup(t);
    const boom = new Error('secret detail /etc/shadow');
    daemon.failNext(boom);
    const e = assertError(await call(app, 'GET', '/v1/services'), 'XLB_INTERNAL');
    assert.doesNotMatch(e.message, /secret/);
    assert.equal(e.details, undefined);
    assert.deepEqual(internal, [boom]);
  });

  it('a thrown non-Error is XLB_INTERNAL too', async (t) => {
    const daemon = new FakeDaemon();
    const odd = Object.assign(Object.create(daemon) as FakeDaemon, {
      status: (): StatusView => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw 'a string';
      },
    });
    const internal: unknown[] = [];
    const app = buildApi({ daemon: odd, onError: (e) => internal.push(e) });
    t.after(() => app.close());
    assertError(await call(app, 'GET', '/v1/status'), 'XLB_INTERNAL');
    assert.deepEqual(internal, ['a string']);
  });
});

describe('every operation answers its success and each error code it documents', () => {
  for (const op of OPS) {
    it(`${op.method} ${op.url}: ${op.success.status}`, async (t) => {
      const { app } = setup(t);
      const a = await call(app, op.method, urlOf(op), { body: bodyOf(op) });
      assert.equal(a.status, op.success.status, a.text);
      if (op.success.status === 204) assert.equal(a.text, '');
      else if ('text' in op.success) assert.equal(a.headers['content-type'], op.success.text);
      else assert.match(String(a.headers['content-type']), /^application\/json/);
    });
    for (const code of errorsOf(op)) {
      it(`${op.method} ${op.url}: ${code}`, async (t) => {
        const { app, daemon } = setup(
          t,
          code === 'XLB_UNAUTHORIZED' ? { token: TOKEN } : {},
          code === 'XLB_FORBIDDEN' ? TCP_HOSTS : undefined,
        );
        const url = urlOf(op);
        if (code === 'XLB_BAD_REQUEST') {
          // A body that is no JSON, or (any method) a URL that is not percent-encoded right.
          if (op.method !== 'GET')
            assertError(await call(app, op.method, url, { raw: '{', type: json }), code);
          assertError(await call(app, op.method, `${url}%E0%A4%A`, { body: bodyOf(op) }), code);
          return;
        }
        if (code === 'XLB_FORBIDDEN') {
          // Over TCP, a Host that is not the API's address (DNS rebinding); the right one passes.
          assertError(
            await call(app, op.method, url, { body: bodyOf(op), host: 'rebound.example:9477' }),
            code,
          );
          const right = await call(app, op.method, url, { body: bodyOf(op), host: '127.0.0.1:9477' });
          assert.notEqual(right.status, 403, right.text);
          return;
        }
        if (code === 'XLB_NOT_READY' && op.operationId === 'readiness') daemon.isReady = false;
        else if (code === 'XLB_INTERNAL') daemon.failNext(new Error('boom'));
        else if (code !== 'XLB_UNAUTHORIZED') daemon.failNext(new ApiError(code, `injected ${code}`));
        assertError(await call(app, op.method, url, { body: bodyOf(op) }), code);
      });
    }
  }
});

// ---- auth ---------------------------------------------------------------------------------------

describe('auth', () => {
  it('without a token every route is open (loopback)', async (t) => {
    const { app } = setup(t);
    assert.equal((await call(app, 'GET', '/v1/status')).status, 200);
    assert.equal((await call(app, 'GET', '/v1/status', { token: 'anything' })).status, 200);
  });

  for (const op of OPS) {
    it(`${op.method} ${op.url} with a token: ${op.open === true ? 'open' : 'missing and wrong tokens are 401'}`, async (t) => {
      const { app, daemon } = setup(t, { token: TOKEN });
      const url = urlOf(op);
      const body = bodyOf(op);
      if (op.open !== true) {
        const before = daemon.snapshot();
        const wrong = [
          '',
          'Basic c2VzYW1lOg==',
          `Bearer ${TOKEN}x`,
          `Bearer ${TOKEN.slice(1)}`,
          'Bearer',
          `${TOKEN}`,
        ];
        const missing = assertError(await call(app, op.method, url, { body }), 'XLB_UNAUTHORIZED');
        assert.match(missing.message, /Authorization: Bearer/);
        for (const authorization of wrong) {
          const a = await call(app, op.method, url, { body, authorization });
          assertError(a, 'XLB_UNAUTHORIZED');
          assert.equal(a.headers['www-authenticate'], 'Bearer realm="xlb"');
        }
        assert.deepEqual(daemon.snapshot(), before);
        assert.deepEqual(daemon.calls, []);
      } else {
        assert.equal((await call(app, op.method, url)).status, op.success.status);
      }
      const ok = await call(app, op.method, url, { body, token: TOKEN });
      assert.equal(ok.status, op.success.status, ok.text);
    });
  }

  it('the scheme is case-insensitive', async (t) => {
    const { app } = setup(t, { token: TOKEN });
    assert.equal((await call(app, 'GET', '/v1/status', { authorization: `bearer ${TOKEN}` })).status, 200);
    assert.equal(bearerToken(`BEARER  ${TOKEN} `), TOKEN);
    assert.equal(bearerToken(`Bearer a b`), undefined);
  });

  it('is checked before anything else: unknown routes and malformed bodies are 401 first', async (t) => {
    const { app, daemon } = setup(t, { token: TOKEN });
    assertError(await call(app, 'GET', '/nothing'), 'XLB_UNAUTHORIZED');
    assertError(await call(app, 'GET', '/nothing', { token: TOKEN }), 'XLB_NOT_FOUND');
    assertError(await call(app, 'PATCH', BACKEND, { body: { weight: 70000 } }), 'XLB_UNAUTHORIZED');
    assertError(
      await call(app, 'PATCH', BACKEND, { body: { weight: 70000 }, token: TOKEN }),
      'XLB_BAD_REQUEST',
    );
    assert.deepEqual(daemon.calls, []);
  });
});

describe('exposure', () => {
  const daemon = new FakeDaemon();

  for (const host of ['0.0.0.0', '::', '192.0.2.1', '2001:db8::1', 'localhost', 'example.com']) {
    it(`refuses to build for ${host} without a token`, () => {
      assert.throws(
        () => buildApi({ daemon, host, port: 8080 }),
        new RegExp(
          `^Error: binding ${host.replace(/\./g, '\\.')} needs a token: pass --api-token-file or XLB_API_TOKEN`,
        ),
      );
    });
  }

  for (const host of ['127.0.0.1', '127.9.8.7', '::1', '[::1]']) {
    it(`refuses TCP on loopback ${host} without a token too (local users, DNS rebinding)`, () => {
      assert.throws(() => buildApi({ daemon, host, port: 8080 }), /needs a token: .*loopback too/);
    });
  }

  it('builds for any address with a token, and without TCP (the socket, in process) without one', async () => {
    for (const app of [
      buildApi({ daemon, host: '0.0.0.0', port: 8080, token: TOKEN }),
      buildApi({ daemon, host: '127.0.0.1', port: 8080, token: TOKEN }),
      buildApi({ daemon }),
    ]) {
      await app.close();
    }
  });

  it('answers only the Host values of its address (and localhost on loopback, and --api-host names)', () => {
    assert.deepEqual([...allowedHostValues('127.0.0.1', 9477)], ['127.0.0.1:9477', 'localhost:9477']);
    assert.deepEqual([...allowedHostValues('::1', 9477)], ['[::1]:9477', 'localhost:9477']);
    assert.deepEqual(
      [...allowedHostValues('192.0.2.1', 80, ['LB.example', 'lb.example:8080'])],
      ['192.0.2.1:80', 'lb.example:80', 'lb.example:8080'],
    );
  });

  it('refuses an empty token or one that cannot travel in a header', () => {
    assert.throws(() => buildApi({ daemon, token: '' }), /token must be non-empty/);
    assert.throws(() => buildApi({ daemon, host: '0.0.0.0', token: 'a b' }), /token must be non-empty/);
  });

  it('knows loopback addresses', () => {
    assert.deepEqual(
      [
        '127.0.0.1',
        '127.255.0.1',
        '::1',
        '0:0:0:0:0:0:0:1',
        '::ffff:127.0.0.1',
        '128.0.0.1',
        '::',
        '::2',
        'lo',
      ].map(isLoopback),
      [true, true, true, true, true, false, false, false, false],
    );
  });

  it('startApi refuses the same, and a missing listen target', async () => {
    await assert.rejects(startApi({ daemon, host: '0.0.0.0', port: 0 }), /needs a token/);
    await assert.rejects(startApi({ daemon }), /unix socket path or a TCP port/);
    await assert.rejects(startApi({ daemon, host: '127.0.0.1' }), /needs a TCP port/);
  });
});

// ---- logging ------------------------------------------------------------------------------------

describe('onRequest', () => {
  it('is called for every request with method, url, status and duration', async (t) => {
    const records: RequestRecord[] = [];
    const { app } = setup(t, { token: TOKEN, onRequest: (r) => records.push(r) });
    await call(app, 'GET', '/healthz');
    await call(app, 'GET', '/v1/services?x=1', { token: TOKEN });
    await call(app, 'GET', '/v1/services');
    await call(app, 'PATCH', BACKEND, { body: {}, token: TOKEN });
    await call(app, 'GET', '/missing', { token: TOKEN });
    assert.deepEqual(
      records.map((r) => [r.method, r.url, r.status]),
      [
        ['GET', '/healthz', 200],
        ['GET', '/v1/services?x=1', 200],
        ['GET', '/v1/services', 401],
        ['PATCH', BACKEND, 400],
        ['GET', '/missing', 404],
      ],
    );
    for (const r of records) assert.ok(r.ms >= 0 && Number.isFinite(r.ms));
  });

  it('a throwing logger does not break the answer; the error goes to onError', async (t) => {
    const oops = new Error('logger broke');
    const { app, internal } = setup(t, {
      onRequest: () => {
        throw oops;
      },
    });
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    assert.deepEqual(internal, [oops]);
  });
});

// ---- the OpenAPI document -----------------------------------------------------------------------

describe('openapi', () => {
  it('GET /openapi.json answers the OpenAPI 3.1 document', async (t) => {
    const { app } = setup(t);
    const a = await call(app, 'GET', '/openapi.json');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, openApiDocument());
    assert.equal((a.body as Doc).openapi, '3.1.0');
  });

  it('describes exactly the routes Fastify registered', async (t) => {
    const { app } = setup(t);
    await app.ready();
    const registered = registeredRoutes(app);
    assert.ok(
      registered.includes('GET /healthz') && registered.includes('PATCH /v1/services/:name/backends/:id'),
    );
    const documented = Object.entries(doc().paths)
      .flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    assert.deepEqual(registered, documented);
    for (const op of OPS) assert.ok(app.hasRoute({ method: op.method, url: op.url }), op.url);
  });

  it('lists every error code, and every operation its error answers with an example per code', () => {
    const d = doc();
    const error = d.components.schemas.Error as {
      properties: { error: { properties: { code: { enum: string[]; description: string } } } };
    };
    const code = error.properties.error.properties.code;
    assert.deepEqual([...code.enum].sort(), Object.keys(ErrorCodes).sort());
    for (const c of Object.keys(ErrorCodes)) assert.match(code.description, new RegExp(c));
    const everyExample = new Set<string>();
    for (const op of OPS) {
      const o = d.paths[op.url.replace(/:(\w+)/g, '{$1}')]?.[op.method.toLowerCase()];
      assert.ok(o, op.url);
      const examples = Object.values(o.responses).flatMap((r) =>
        Object.keys(r.content?.['application/json']?.examples ?? {}),
      );
      assert.deepEqual(examples.sort(), errorsOf(op).sort(), `${op.method} ${op.url}`);
      for (const c of examples) {
        everyExample.add(c);
        assert.ok(o.responses[String(httpStatus[c as ErrorCode])], `${op.url} ${c}`);
      }
    }
    // XLB_NOT_FOUND also answers unknown routes; every other code some operation answers.
    assert.deepEqual([...everyExample].sort(), Object.keys(ErrorCodes).sort());
  });

  it('the set of codes in the document equals Object.keys(ErrorCodes)', () => {
    // The codes: the Error schema's enum, and every code an example answers with.
    const d = doc();
    const codes = new Set<string>();
    const visit = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (typeof v === 'object' && v !== null) {
        for (const [k, child] of Object.entries(v)) {
          if (k === 'enum' && Array.isArray(child))
            child.filter((c) => /^XLB_/.test(String(c))).forEach((c) => codes.add(String(c)));
          else if (k === 'code' && typeof child === 'string') codes.add(child);
          else visit(child);
        }
      }
    };
    visit(d);
    assert.deepEqual([...codes].sort(), Object.keys(ErrorCodes).sort());
  });

  it('uses the bearer scheme, except on the probes', () => {
    const d = doc();
    assert.deepEqual(d.components.securitySchemes.bearer, {
      type: 'http',
      scheme: 'bearer',
      description: 'The daemon token (--api-token-file or XLB_API_TOKEN).',
    });
    assert.deepEqual(d.security, [{ bearer: [] }]);
    assert.deepEqual(d.paths['/healthz']?.get?.security, []);
    assert.deepEqual(d.paths['/readyz']?.get?.security, []);
    assert.equal(d.paths['/v1/status']?.get?.security, undefined);
  });

  it('every $ref resolves, and the route schemas are the components', () => {
    const d = doc();
    const refs = JSON.stringify(d).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 20);
    for (const r of refs) {
      const name = /#\/components\/schemas\/(\w+)/.exec(r)?.[1];
      assert.ok(name !== undefined && d.components.schemas[name] !== undefined, r);
    }
    assert.deepEqual(d.components.schemas.BackendPatch, schemas.BackendPatch);
    assert.deepEqual(d.components.schemas.ServiceInput, schemas.ServiceInput);
    assert.deepEqual(d.components.schemas.ServiceList, {
      type: 'array',
      items: { $ref: '#/components/schemas/ServiceView' },
    });
  });
});

// ---- listening for real -------------------------------------------------------------------------

function requestOverSocket(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A GET over TCP with any headers (fetch would not send another Host). */
function requestOverTcp(
  base: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: 'GET', path, headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A socket file nobody listens on (as a daemon killed with SIGKILL leaves). */
async function staleSocket(path: string): Promise<void> {
  const server = createServer();
  await listen(server, `${path}.tmp`);
  linkSync(`${path}.tmp`, path);
  await closeServer(server);
}

describe('startApi', () => {
  it('listens on a unix socket (stale file replaced, mode 0660) and on 127.0.0.1', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-api-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const socket = join(dir, 'api.sock');
    await staleSocket(socket);
    const daemon = new FakeDaemon();
    const api = await startApi({ daemon, socket, port: 0, token: TOKEN });
    let closed = false;
    t.after(() => (closed ? undefined : api.close()));
    const auth = { authorization: `Bearer ${TOKEN}` };

    assert.equal(api.addresses.length, 2);
    assert.equal(api.addresses[0], `unix:${socket}`);
    const http = api.addresses[1] ?? '';
    assert.match(http, /^http:\/\/127\.0\.0\.1:\d+$/);
    const st = lstatSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);

    const health = await fetch(`${http}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const services = await fetch(`${http}/v1/services`, { headers: auth });
    assert.deepEqual(await services.json(), daemon.services());
    const added = await fetch(`${http}/v1/services/dns/backends`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ address: '198.51.100.13', port: 53 }),
    });
    assert.equal(added.status, 201);
    const missing = await fetch(`${http}/nothing`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: ErrorBody }).error.code, 'XLB_NOT_FOUND');

    // Another name for the same address (DNS rebinding) is refused, in the error shape.
    const rebound = await requestOverTcp(http, '/v1/status', { ...auth, host: 'rebound.example' });
    assert.equal(rebound.status, 403);
    assert.equal((JSON.parse(rebound.body) as { error: ErrorBody }).error.code, 'XLB_FORBIDDEN');

    const status = await requestOverSocket(socket, 'GET', '/v1/status', auth);
    assert.equal(status.status, 200);
    assert.equal((JSON.parse(status.body) as StatusView).generation, 2);

    await api.close();
    closed = true;
    assert.equal(existsSync(socket), false);
    await assert.rejects(fetch(`${http}/healthz`));
  });

  it('asks for the token on the socket and on TCP alike', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-api-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const socket = join(dir, 'api.sock');
    const api = await startApi({ daemon: new FakeDaemon(), socket, port: 0, token: TOKEN });
    t.after(() => api.close());
    const http = api.addresses[1] ?? '';
    assert.equal((await fetch(`${http}/v1/status`)).status, 401);
    assert.equal(
      (await fetch(`${http}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      200,
    );
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    assert.equal((await requestOverSocket(socket, 'GET', '/v1/status')).status, 401);
    const ok = await requestOverSocket(socket, 'GET', '/v1/status', { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
  });

  it('refuses a socket path that is a file, or a socket someone listens on', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-api-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const daemon = new FakeDaemon();
    const file = join(dir, 'file');
    writeFileSync(file, 'keep me');
    await assert.rejects(startApi({ daemon, socket: file }), /exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');

    const live = join(dir, 'live.sock');
    const other = createServer();
    await listen(other, live);
    t.after(() => closeServer(other));
    await assert.rejects(
      startApi({ daemon, socket: live, port: 0, token: TOKEN }),
      /another process listens/,
    );
    assert.ok(lstatSync(live).isSocket());
  });
});
