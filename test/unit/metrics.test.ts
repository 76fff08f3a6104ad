// Prometheus metrics: the exposition text follows the text format's rules (checked by a
// small parser that is strict where promtool is), carries the snapshot's values, and
// follows the counters as they grow.
import { toolSkip } from '../helpers/privileged.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { ServiceView, StatsView } from '../../src/daemon/contract.js';
import { Metrics, type MetricsSnapshot } from '../../src/daemon/metrics.js';
import { Reasons, type Reason } from '../../src/abi/abi.js';
import { parseExposition, seriesKey, type Exposition } from '../helpers/prom.js';
import { backendView as backend } from '../helpers/views.js';

// ---- fixtures --------------------------------------------------------------------------------------

function service(name: string, over: Partial<ServiceView>): ServiceView {
  return {
    name,
    vip: '192.0.2.1',
    port: 53,
    protocol: 'udp',
    family: 4,
    mode: 'nat',
    scheduler: 'maglev',
    packets: 0,
    bytes: 0,
    backends: [],
    ...over,
  };
}

function reasons(over: Partial<Record<Reason, { packets: number; bytes: number }>>): StatsView['reasons'] {
  const all = Object.fromEntries(Reasons.map((r) => [r, { packets: 0, bytes: 0 }])) as StatsView['reasons'];
  return { ...all, ...over };
}

function snapshot(scale: number): MetricsSnapshot {
  const stats: StatsView = {
    generation: 4,
    at: '2024-05-01T12:00:00.000Z',
    reasons: reasons({
      nat: { packets: 300 * scale, bytes: 30000 * scale },
      pass_not_ip: { packets: 7, bytes: 420 },
    }),
    services: [
      service('dns', {
        packets: 300 * scale,
        bytes: 30000 * scale,
        backends: [
          backend('198.51.100.1', 53, {
            packets: 200 * scale,
            bytes: 20000 * scale,
            flows: 12,
          }),
          backend('198.51.100.2', 53, {
            packets: 100 * scale,
            bytes: 10000 * scale,
            drained: true,
            active: false,
            weight: 0,
            flows: 3,
          }),
        ],
      }),
      service('dns6', {
        vip: 'fd00::100',
        family: 6,
        backends: [backend('fd00::1', 53, { health: 'unhealthy', active: false })],
      }),
    ],
  };
  return {
    instance: 'default',
    generation: 4,
    stats,
    mapFill: [
      { map: 'fwd_flows', entries: 15, max: 65536 },
      { map: 'weird "map"\\x\nname', entries: 1, max: 2 },
    ],
    reconcileSeconds: 0.0125,
    healthTransitions: [{ service: 'dns6', backend: '[fd00::1]:53', count: 2 * scale }],
  };
}

const get = (e: Exposition, name: string, labels: Record<string, string> = {}) =>
  e.series.get(seriesKey(name, labels));

// ---- tests ----------------------------------------------------------------------------------------

describe('the exposition parser of this test', () => {
  const bad: [string, string][] = [
    ['sample before TYPE', '# HELP a_total x\na_total 1\n# TYPE a_total counter\n'],
    ['counter without _total', '# HELP a x\n# TYPE a counter\na 1\n'],
    ['duplicate series', '# HELP a x\n# TYPE a gauge\na{b="1"} 1\na{b="1"} 2\n'],
    ['bad escape', '# HELP a x\n# TYPE a gauge\na{b="\\t"} 1\n'],
    ['bad metric name', '# HELP 1a x\n# TYPE 1a gauge\n1a 1\n'],
    [
      'non-contiguous family',
      '# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\nb 1\na{c="d"} 1\n',
    ],
    ['bad value', '# HELP a x\n# TYPE a gauge\na one\n'],
    ['reserved label', '# HELP a x\n# TYPE a gauge\na{__x="1"} 1\n'],
  ];
  for (const [why, text] of bad) {
    it(`rejects: ${why}`, () => assert.throws(() => parseExposition(text)));
  }
  it('accepts escapes, histograms, +Inf and timestamps', () => {
    const e = parseExposition(
      '# HELP h_seconds x\n# TYPE h_seconds histogram\nh_seconds_bucket{le="+Inf"} 1\n' +
        'h_seconds_sum 0.5\nh_seconds_count 1\n# HELP g x\n# TYPE g gauge\ng{a="q\\"\\\\\\n"} +Inf 1700000000\n',
    );
    assert.equal(get(e, 'g', { a: 'q"\\\n' }), Infinity);
    assert.equal(get(e, 'h_seconds_count'), 1);
  });
});

describe('Metrics', () => {
  it('exposes valid text: HELP and TYPE first, counters as _total, no duplicate series', async () => {
    const m = new Metrics();
    m.update(snapshot(1));
    const e = parseExposition(await m.text());
    assert.ok(m.contentType.startsWith('text/plain'), m.contentType);
    for (const f of e.families.values()) assert.ok(f.help, `${f.name} has help`);
    const types: Record<string, string> = {
      xlb_info: 'gauge',
      xlb_config_generation: 'gauge',
      xlb_reconcile_duration_seconds: 'gauge',
      xlb_service_packets_total: 'counter',
      xlb_service_bytes_total: 'counter',
      xlb_backend_packets_total: 'counter',
      xlb_backend_bytes_total: 'counter',
      xlb_backend_active_flows: 'gauge',
      xlb_backend_healthy: 'gauge',
      xlb_backend_up: 'gauge',
      xlb_health_transitions_total: 'counter',
      xlb_packets_total: 'counter',
      xlb_bytes_total: 'counter',
      xlb_map_entries: 'gauge',
      xlb_map_max_entries: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) assert.equal(e.families.get(name)?.type, type, name);
    for (const name of e.families.keys()) assert.match(name, /^xlb_/);
  });

  it('carries the values of the snapshot', async () => {
    const m = new Metrics({ processMetrics: false, version: '9.9.9' });
    m.update(snapshot(1));
    const e = parseExposition(await m.text());
    assert.equal(get(e, 'xlb_info', { xlb_instance: 'default', version: '9.9.9' }), 1);
    assert.equal(get(e, 'xlb_config_generation'), 4);
    assert.equal(get(e, 'xlb_reconcile_duration_seconds'), 0.0125);
    assert.equal(get(e, 'xlb_service_packets_total', { service: 'dns' }), 300);
    assert.equal(get(e, 'xlb_service_bytes_total', { service: 'dns' }), 30000);
    assert.equal(get(e, 'xlb_service_packets_total', { service: 'dns6' }), 0);
    const b1 = { service: 'dns', backend: '198.51.100.1:53' };
    const b2 = { service: 'dns', backend: '198.51.100.2:53' };
    const b6 = { service: 'dns6', backend: '[fd00::1]:53' };
    assert.equal(get(e, 'xlb_backend_packets_total', b1), 200);
    assert.equal(get(e, 'xlb_backend_bytes_total', b2), 10000);
    assert.equal(get(e, 'xlb_backend_active_flows', b1), 12);
    assert.equal(get(e, 'xlb_backend_active_flows', b6), undefined, 'no flows known: no series');
    assert.equal(get(e, 'xlb_backend_up', b1), 1);
    assert.equal(get(e, 'xlb_backend_up', b2), 0);
    assert.equal(get(e, 'xlb_backend_healthy', b2), 1);
    assert.equal(get(e, 'xlb_backend_healthy', b6), 0);
    assert.equal(get(e, 'xlb_health_transitions_total', b6), 2);
    for (const r of Reasons) {
      assert.ok(get(e, 'xlb_packets_total', { reason: r }) !== undefined, `reason ${r} exposed`);
      assert.ok(get(e, 'xlb_bytes_total', { reason: r }) !== undefined, `reason ${r} exposed`);
    }
    assert.equal(get(e, 'xlb_packets_total', { reason: 'nat' }), 300);
    assert.equal(get(e, 'xlb_bytes_total', { reason: 'pass_not_ip' }), 420);
    assert.equal(get(e, 'xlb_packets_total', { reason: 'dsr' }), 0);
    assert.equal(get(e, 'xlb_map_entries', { map: 'fwd_flows' }), 15);
    assert.equal(get(e, 'xlb_map_max_entries', { map: 'fwd_flows' }), 65536);
    assert.equal(get(e, 'xlb_map_entries', { map: 'weird "map"\\x\nname' }), 1, 'label values escaped');
  });

  it('shows bigger counters after a second update, and drops what is gone', async () => {
    const m = new Metrics({ processMetrics: false });
    m.update(snapshot(1));
    await m.text();
    const next = snapshot(5);
    next.generation = 5;
    next.stats.services.pop(); // dns6 removed
    m.update(next);
    const e = parseExposition(await m.text());
    assert.equal(get(e, 'xlb_config_generation'), 5);
    assert.equal(get(e, 'xlb_service_packets_total', { service: 'dns' }), 1500);
    assert.equal(get(e, 'xlb_backend_bytes_total', { service: 'dns', backend: '198.51.100.1:53' }), 100000);
    assert.equal(get(e, 'xlb_packets_total', { reason: 'nat' }), 1500);
    assert.equal(get(e, 'xlb_health_transitions_total', { service: 'dns6', backend: '[fd00::1]:53' }), 10);
    assert.equal(get(e, 'xlb_service_packets_total', { service: 'dns6' }), undefined);
    assert.equal(get(e, 'xlb_backend_up', { service: 'dns6', backend: '[fd00::1]:53' }), undefined);
  });

  it(
    'passes `promtool check metrics` (lint included)',
    { skip: toolSkip('promtool', 'prometheus') },
    async () => {
      const m = new Metrics();
      m.update(snapshot(1));
      const r = spawnSync('promtool', ['check', 'metrics'], { input: await m.text(), encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    },
  );

  it('exposes no reconcile duration before the first apply', async () => {
    const m = new Metrics({ processMetrics: false });
    const s = snapshot(1);
    delete s.reconcileSeconds;
    m.update(s);
    const e = parseExposition(await m.text());
    assert.equal(e.families.has('xlb_reconcile_duration_seconds'), false);
  });
});
