// The REST API's description, defined once: the JSON schemas its routes validate requests and
// serialize responses with, the table of its operations (method, path, schemas, the error codes
// each can answer) and the OpenAPI 3.1 document built from both. server.ts registers exactly the
// operations of OPERATIONS with these schemas, so the document and the server cannot drift.
import { httpStatus } from './errors.js';
import { deepFreeze } from '../util/freeze.js';

import { ErrorCodes } from '../daemon/contract.js';
import type {
  BackendView,
  DriftView,
  ErrorCode,
  HealthState,
  ServiceView,
  StatsView,
  StatusView,
} from '../daemon/contract.js';
import { Reasons } from '../abi/abi.js';
import { LIMITS } from '../model/config.js';

type Schema = Readonly<Record<string, unknown>>;

// ---- schemas ----------------------------------------------------------------------------------

const count = { type: 'integer', minimum: 0 } as const;
const portNumber = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const healthState = { type: 'string', enum: ['healthy', 'unhealthy', 'unknown', 'disabled'] } as const;

const backendView = {
  type: 'object',
  description: 'A backend of a service: its configuration, state and counters.',
  required: [
    'id',
    'address',
    'port',
    'weight',
    'drained',
    'active',
    'health',
    'healthTransitions',
    'packets',
    'bytes',
  ],
  properties: {
    id: {
      type: 'string',
      description: "'address:port' ('[v6]:port' for IPv6): the backend's id in URLs (URL-encoded).",
      examples: ['198.51.100.11:53', '[2001:db8::11]:53'],
    },
    address: { type: 'string' },
    port: portNumber,
    weight: { type: 'integer', minimum: 0, maximum: LIMITS.maxWeight },
    drained: {
      type: 'boolean',
      description: 'Weight 0 was set by drain; undrain restores the configured weight.',
    },
    active: { type: 'boolean', description: 'In the scheduling table now (healthy and weight > 0).' },
    health: healthState,
    healthSince: { type: 'string', format: 'date-time', description: 'Since when the health state holds.' },
    healthTransitions: count,
    packets: count,
    bytes: count,
    flows: { ...count, description: 'Flows in the flow table pointing at this backend (sampled).' },
  },
} as const;

const serviceView = {
  type: 'object',
  description: 'A service, its backends and counters.',
  required: [
    'name',
    'vip',
    'port',
    'protocol',
    'family',
    'mode',
    'scheduler',
    'packets',
    'bytes',
    'backends',
  ],
  properties: {
    name: { type: 'string', examples: ['dns'] },
    vip: { type: 'string', description: "IPv4 or IPv6 address, or '*' (any address)." },
    port: portNumber,
    protocol: { type: 'string', enum: ['udp'] },
    family: { type: 'integer', enum: [4, 6] },
    mode: { type: 'string', examples: ['local', 'nat', 'fullnat', 'dsr'] },
    scheduler: { type: 'string', examples: ['maglev', 'round-robin', 'weighted-round-robin'] },
    packets: count,
    bytes: count,
    allDown: {
      type: 'string',
      enum: ['drop', 'keep-last'],
      description: 'What the service does when all backends are down.',
    },
    backends: { type: 'array', items: backendView },
  },
} as const;

const serviceList = { type: 'array', items: serviceView } as const;

const tcAttachMethod = { type: 'string', enum: ['tcx', 'classic'] } as const;

const statusView = {
  type: 'object',
  description: 'The daemon and its running configuration.',
  required: [
    'instance',
    'version',
    'pid',
    'startedAt',
    'generation',
    'configFile',
    'configValid',
    'drift',
    'ready',
    'interfaces',
    'kernel',
    'services',
    'backends',
    'adopted',
  ],
  properties: {
    instance: { type: 'string' },
    version: { type: 'string' },
    pid: { type: 'integer' },
    startedAt: { type: 'string', format: 'date-time' },
    generation: { ...count, description: 'Increments with every applied change (file reload or API).' },
    configFile: { type: 'string' },
    configValid: {
      type: 'boolean',
      description: 'The config file as last read had no problem (false: the last valid one still runs).',
    },
    configInvalidSince: {
      type: 'string',
      format: 'date-time',
      description: 'Since when the file is invalid.',
    },
    configProblem: {
      type: 'string',
      description: "The invalid file's first problem (file:line: path: message).",
    },
    drift: {
      type: 'boolean',
      description: 'The running configuration differs from the file (API changes are not written back).',
    },
    ready: { type: 'boolean' },
    interfaces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'mode', 'hooks'],
        properties: {
          name: { type: 'string' },
          mode: { type: 'string', description: 'XDP mode.', examples: ['native', 'generic'] },
          hooks: {
            type: 'object',
            description:
              'The attach method of each hook: XDP through a bpf_link; TC ingress and egress (not on lo) ' +
              'through tcx (Linux >= 6.6) or classic TC (a clsact qdisc with a direct-action bpf filter).',
            required: ['xdp'],
            properties: {
              xdp: { type: 'string', enum: ['link'] },
              tcIngress: tcAttachMethod,
              tcEgress: tcAttachMethod,
            },
          },
        },
      },
    },
    kernel: {
      type: 'object',
      description: 'The kernel, and what the feature probe found at start (XLB_FEATURES applied).',
      required: ['release', 'features', 'forced'],
      properties: {
        release: { type: 'string', description: 'uname -r' },
        features: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'what', 'since', 'available', 'forced'],
            properties: {
              name: { type: 'string', examples: ['tcx', 'xdp:bpf_fib_lookup'] },
              what: { type: 'string' },
              since: { type: 'string', description: 'The Linux version that brought it.', examples: ['6.6'] },
              fallback: { type: 'string', description: 'What xlb does without it.' },
              available: { type: 'boolean' },
              forced: { type: 'boolean', description: 'Reported missing by XLB_FEATURES.' },
            },
          },
        },
        forced: { type: 'array', items: { type: 'string' } },
      },
    },
    services: count,
    backends: count,
    adopted: { type: 'boolean', description: 'The data plane was adopted from pins of an earlier daemon.' },
  },
} as const;

const counters = {
  type: 'object',
  required: ['packets', 'bytes'],
  properties: { packets: count, bytes: count },
} as const;

const statsView = {
  type: 'object',
  description: 'Counters: per verdict reason and per service and backend.',
  required: ['generation', 'at', 'reasons', 'services'],
  properties: {
    generation: count,
    at: { type: 'string', format: 'date-time' },
    reasons: {
      type: 'object',
      description: 'Packets and bytes per verdict reason (the stable metric labels).',
      required: [...Reasons],
      properties: Object.fromEntries(Reasons.map((r) => [r, counters])),
    },
    services: serviceList,
  },
} as const;

const driftView = {
  type: 'object',
  required: ['drift', 'fileValid', 'changes'],
  properties: {
    drift: { type: 'boolean' },
    fileValid: { type: 'boolean', description: 'The config file as last read is valid.' },
    fileProblem: { type: 'string', description: "When it is not: 'file invalid since T: first problem'." },
    changes: {
      type: 'array',
      items: { type: 'string' },
      description: "Human lines: '+ service x', '- backend y of x', '~ weight of y in x: 1 -> 3'.",
    },
  },
} as const;

// Inputs: the API checks their shape only; the daemon validates them as a whole configuration
// (so extra keys of the config file, snake_case, are allowed and checked there).
const backendInput = {
  type: 'object',
  description:
    'A backend, with the keys of a backends[] entry of the config file; the daemon validates it ' +
    'with the whole configuration (422 XLB_INVALID_CONFIG lists the problems).',
  required: ['address'],
  properties: {
    address: { type: 'string', examples: ['198.51.100.13'] },
    port: { type: 'integer', description: 'Required except in mode dsr (the service port).' },
    weight: { type: 'integer', description: `0..${LIMITS.maxWeight}, default 1.` },
  },
  additionalProperties: true,
} as const;

const serviceInput = {
  type: 'object',
  description:
    'A service, with the keys of a services[] entry of the config file (snake_case: scheduler, ' +
    'hash_key, table_size, flow_affinity, mode, snat, flow_timeouts, backends...); the daemon ' +
    'validates it with the whole configuration (422 XLB_INVALID_CONFIG lists the problems).',
  required: ['name', 'vip', 'port'],
  properties: {
    name: { type: 'string', examples: ['dns'] },
    vip: { type: 'string', examples: ['192.0.2.10', '2001:db8::10', '*'] },
    port: { type: 'integer', examples: [53] },
    protocol: { type: 'string', examples: ['udp'] },
    mode: { type: 'string', examples: ['local', 'nat', 'fullnat', 'dsr'] },
    scheduler: { type: 'string', examples: ['maglev', 'round-robin', 'weighted-round-robin'] },
    backends: { type: 'array', description: 'The backends ({ address, port, weight }); default none.' },
  },
  additionalProperties: true,
} as const;

const backendPatch = {
  type: 'object',
  description: 'Exactly one of weight (set it) or drain (true: drain, false: undrain).',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: false,
  properties: {
    weight: { type: 'integer', minimum: 0, maximum: LIMITS.maxWeight },
    drain: { type: 'boolean' },
  },
} as const;

const errorCodes = Object.keys(ErrorCodes) as ErrorCode[];

const errorBody = {
  type: 'object',
  description: 'Every error answer of the API.',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: {
          type: 'string',
          enum: errorCodes,
          description: errorCodes.map((c) => `${c} (${httpStatus[c]}): ${ErrorCodes[c].meaning}`).join('\n'),
        },
        message: { type: 'string', description: 'What went wrong and how to fix it.' },
        details: {
          description:
            'Depends on the code: for XLB_INVALID_CONFIG and XLB_RELOAD_FAILED the problems ' +
            '[{ path, line?, message }]; for XLB_BAD_REQUEST [{ in, path, message }].',
        },
      },
    },
  },
} as const;

const health = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', enum: ['ok'] } },
} as const;

const readiness = {
  type: 'object',
  required: ['ready'],
  properties: { ready: { type: 'boolean', enum: [true] } },
} as const;

/** The named schemas: components of the document, and what the routes validate and serialize with. */
export const schemas = deepFreeze({
  Error: errorBody,
  Health: health,
  Readiness: readiness,
  StatusView: statusView,
  StatsView: statsView,
  Counters: counters,
  DriftView: driftView,
  ServiceView: serviceView,
  ServiceList: serviceList,
  BackendView: backendView,
  ServiceInput: serviceInput,
  BackendInput: backendInput,
  BackendPatch: backendPatch,
});
export type SchemaName = keyof typeof schemas;

const serviceParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', description: 'The service name.' } },
} as const;
const backendParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: {
    ...serviceParams.properties,
    id: { type: 'string', description: "The backend id 'address:port' or '[v6]:port', URL-encoded." },
  },
} as const;

// Compile-time checks: the view schemas list exactly the fields of the contract's views, and
// require exactly its non-optional ones (a field added to contract.ts fails the build here).
type Assert<T extends true> = T;
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Keys<S> = S extends { readonly properties: infer P } ? keyof P : never;
type RequiredOf<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type Describes<S, T> =
  Exactly<Keys<S>, keyof T> extends true ? Exactly<RequiredOf<S>, RequiredKeys<T>> : false;
export type _SchemasMatchContract = [
  Assert<Describes<typeof backendView, BackendView>>,
  Assert<Describes<typeof serviceView, ServiceView>>,
  Assert<Describes<typeof statusView, StatusView>>,
  Assert<Describes<typeof statsView, StatsView>>,
  Assert<Describes<typeof driftView, DriftView>>,
  Assert<Exactly<(typeof healthState.enum)[number], HealthState>>,
];

// ---- operations -------------------------------------------------------------------------------

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Operation {
  readonly operationId: string;
  readonly method: Method;
  /** Fastify form, e.g. /v1/services/:name. */
  readonly url: string;
  readonly summary: string;
  /** Open without the bearer token (probes). */
  readonly open?: boolean;
  readonly params?: Schema;
  readonly body?: SchemaName;
  /** Added to the message of a malformed request: the expected shape. */
  readonly hint?: string;
  readonly success: {
    readonly status: 200 | 201 | 204;
    readonly description: string;
    /** A named schema (JSON, serialized with it) or the media type of a text answer. */
    readonly schema?: SchemaName;
    readonly text?: string;
  };
  /** The error codes the daemon (or the route) can answer with; XLB_UNAUTHORIZED (routes that
   * need the token) and XLB_BAD_REQUEST (methods with a body) are added by errorsOf. */
  readonly errors: readonly ErrorCode[];
}

export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
export const YAML_TEXT = 'application/yaml';

const READ = ['XLB_NOT_READY', 'XLB_KERNEL', 'XLB_INTERNAL'] as const;
const CHANGE = ['XLB_NOT_FOUND', 'XLB_NOT_READY', 'XLB_KERNEL', 'XLB_INTERNAL'] as const;

export const OPERATIONS = [
  {
    operationId: 'health',
    method: 'GET',
    url: '/healthz',
    summary: 'Liveness: the process answers.',
    open: true,
    success: { status: 200, description: 'The daemon process lives.', schema: 'Health' },
    errors: [],
  },
  {
    operationId: 'readiness',
    method: 'GET',
    url: '/readyz',
    summary: 'Readiness: the daemon has applied its configuration.',
    open: true,
    success: { status: 200, description: 'Ready.', schema: 'Readiness' },
    errors: ['XLB_NOT_READY', 'XLB_INTERNAL'],
  },
  {
    operationId: 'openapi',
    method: 'GET',
    url: '/openapi.json',
    summary: 'This OpenAPI 3.1 document.',
    success: { status: 200, description: 'The document.' },
    errors: [],
  },
  {
    operationId: 'metrics',
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics (text exposition format 0.0.4).',
    success: { status: 200, description: 'The metrics.', text: PROMETHEUS_TEXT },
    errors: READ,
  },
  {
    operationId: 'status',
    method: 'GET',
    url: '/v1/status',
    summary: 'The daemon, its generation and whether it drifted from its file.',
    success: { status: 200, description: 'The status.', schema: 'StatusView' },
    errors: ['XLB_INTERNAL'],
  },
  {
    operationId: 'stats',
    method: 'GET',
    url: '/v1/stats',
    summary: 'Counters per verdict reason, service and backend.',
    success: { status: 200, description: 'The counters.', schema: 'StatsView' },
    errors: READ,
  },
  {
    operationId: 'drift',
    method: 'GET',
    url: '/v1/drift',
    summary: 'How the running configuration differs from the config file.',
    success: { status: 200, description: 'The differences.', schema: 'DriftView' },
    errors: ['XLB_NOT_READY', 'XLB_INTERNAL'],
  },
  {
    operationId: 'config',
    method: 'GET',
    url: '/v1/config',
    summary: 'The running configuration as YAML (what `xlb config dump` writes).',
    success: { status: 200, description: 'The configuration.', text: YAML_TEXT },
    errors: ['XLB_NOT_READY', 'XLB_INTERNAL'],
  },
  {
    operationId: 'reload',
    method: 'POST',
    url: '/v1/reload',
    summary: 'Re-read the config file and apply it (replaces changes made through the API).',
    success: { status: 200, description: 'Applied; the new status.', schema: 'StatusView' },
    errors: ['XLB_RELOAD_FAILED', 'XLB_KERNEL', 'XLB_INTERNAL'],
  },
  {
    operationId: 'listServices',
    method: 'GET',
    url: '/v1/services',
    summary: 'The services.',
    success: { status: 200, description: 'The services.', schema: 'ServiceList' },
    errors: READ,
  },
  {
    operationId: 'addService',
    method: 'POST',
    url: '/v1/services',
    summary: 'Add a service.',
    body: 'ServiceInput',
    hint: 'send a service such as {"name": "dns", "vip": "192.0.2.10", "port": 53, "backends": []}',
    success: { status: 201, description: 'Added.', schema: 'ServiceView' },
    errors: ['XLB_INVALID_CONFIG', 'XLB_CONFLICT', ...READ],
  },
  {
    operationId: 'getService',
    method: 'GET',
    url: '/v1/services/:name',
    summary: 'One service.',
    params: serviceParams,
    success: { status: 200, description: 'The service.', schema: 'ServiceView' },
    errors: CHANGE,
  },
  {
    operationId: 'removeService',
    method: 'DELETE',
    url: '/v1/services/:name',
    summary: 'Remove a service.',
    params: serviceParams,
    success: { status: 204, description: 'Removed.' },
    errors: CHANGE,
  },
  {
    operationId: 'addBackend',
    method: 'POST',
    url: '/v1/services/:name/backends',
    summary: 'Add a backend to a service.',
    params: serviceParams,
    body: 'BackendInput',
    hint: 'send a backend such as {"address": "198.51.100.13", "port": 53, "weight": 1}',
    success: { status: 201, description: 'Added.', schema: 'BackendView' },
    errors: ['XLB_INVALID_CONFIG', 'XLB_CONFLICT', ...CHANGE],
  },
  {
    operationId: 'removeBackend',
    method: 'DELETE',
    url: '/v1/services/:name/backends/:id',
    summary: 'Remove a backend from a service.',
    params: backendParams,
    success: { status: 204, description: 'Removed.' },
    errors: CHANGE,
  },
  {
    operationId: 'patchBackend',
    method: 'PATCH',
    url: '/v1/services/:name/backends/:id',
    summary: 'Set the weight of a backend, or drain or undrain it.',
    params: backendParams,
    body: 'BackendPatch',
    hint: `send exactly one of {"weight": 0..${LIMITS.maxWeight}} or {"drain": true|false}`,
    success: { status: 200, description: 'The backend now.', schema: 'BackendView' },
    errors: ['XLB_INVALID_CONFIG', ...CHANGE],
  },
] as const satisfies readonly Operation[];

export type OperationId = (typeof OPERATIONS)[number]['operationId'];

/** Every error code an operation can answer with, in the order of ErrorCodes. */
export function errorsOf(op: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>(op.errors);
  if (op.open !== true) codes.add('XLB_UNAUTHORIZED');
  // Any request can be malformed (a bad URL, a body where none belongs) and, over TCP, carry a
  // Host header that is not the API's (DNS rebinding).
  codes.add('XLB_BAD_REQUEST');
  codes.add('XLB_FORBIDDEN');
  return errorCodes.filter((c) => codes.has(c));
}

// ---- the document -----------------------------------------------------------------------------

const componentOf = new Map<unknown, string>(Object.entries(schemas).map(([name, s]) => [s, name]));
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** A deep copy of a schema in which every named schema below the root is a $ref to its component. */
function withRefs(value: unknown, root?: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => withRefs(v));
  if (typeof value !== 'object' || value === null) return value;
  const name = componentOf.get(value);
  if (name !== undefined && value !== root) return ref(name);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRefs(v)]));
}

const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

function parametersOf(op: Operation): Schema[] {
  const props = (op.params?.properties ?? {}) as Record<string, Schema>;
  return Object.entries(props).map(([name, schema]) => ({
    name,
    in: 'path',
    required: true,
    description: schema.description,
    schema: { type: schema.type },
  }));
}

function successOf(op: Operation): Schema {
  const { description, schema, text } = op.success;
  if (schema !== undefined) return { description, content: { 'application/json': { schema: ref(schema) } } };
  if (text !== undefined) return { description, content: { [text]: { schema: { type: 'string' } } } };
  if (op.operationId === 'openapi') {
    return { description, content: { 'application/json': { schema: { type: 'object' } } } };
  }
  return { description };
}

/** The error answers of an operation, one per HTTP status, with an example per code. */
function errorResponsesOf(op: Operation): Record<string, Schema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(op)) {
    const status = httpStatus[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, Schema> = {};
  for (const [status, codes] of byStatus) {
    const examples = Object.fromEntries(
      codes.map((code) => [
        code,
        { summary: ErrorCodes[code].meaning, value: { error: { code, message: ErrorCodes[code].meaning } } },
      ]),
    );
    out[String(status)] = {
      description: codes.map((c) => `${c}: ${ErrorCodes[c].meaning}`).join('; '),
      content: { 'application/json': { schema: ref('Error'), examples } },
    };
  }
  return out;
}

function operationObject(op: Operation): Schema {
  const parameters = parametersOf(op);
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.open === true ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body !== undefined
      ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } }
      : {}),
    responses: { [String(op.success.status)]: successOf(op), ...errorResponsesOf(op) },
  };
}

function pathsObject(): Record<string, Record<string, Schema>> {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const op of OPERATIONS) {
    const path = openApiPath(op.url);
    paths[path] = { ...paths[path], [op.method.toLowerCase()]: operationObject(op) };
  }
  return paths;
}

const DESCRIPTION = `The REST API of the xlb daemon (a UDP load balancer with an XDP data plane).

Every change is validated by the daemon as a whole configuration before any BPF map is touched;
a change that would make an invalid configuration answers 422 XLB_INVALID_CONFIG with the
problems and changes nothing. Every error answer has the shape of the Error schema; unknown
routes answer 404 XLB_NOT_FOUND. When the daemon runs with a token (--api-token-file or
XLB_API_TOKEN, required for a non-loopback address), every route but /healthz and /readyz needs
\`Authorization: Bearer <token>\`.`;

/** The OpenAPI 3.1 document of the API (a fresh object on every call). */
export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: { title: 'xlb daemon API', version: '1.0.0', description: DESCRIPTION },
    paths: pathsObject(),
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, withRefs(s, s)])),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The daemon token (--api-token-file or XLB_API_TOKEN).',
        },
      },
    },
    security: [{ bearer: [] }],
  };
}
