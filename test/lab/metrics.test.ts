// The daemon's /metrics against ground truth: the generator sends a known number of frames
// through `xlb daemon` (nat, IPv4 and IPv6) to a sink that counts what arrives per backend.
// The exposition must parse (our strict parser and promtool) and its per-backend, per-service
// and per-reason counters must have grown by exactly what the sink and the generator saw.
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BENCH, benchFrame, buildBenchNet, type BenchNet } from '../../bench/topology.js';
import { ApiClient } from '../../src/api/client.js';
import { nsSh } from '../../src/lab/exec.js';
import { Instruments } from '../../src/lab/instruments.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc } from '../helpers/proc.js';
import { Reasons } from '../../src/abi/abi.js';
import { parseExposition, seriesKey, type Exposition } from '../helpers/prom.js';
import { tcPathLabel } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';
const COUNT = { 4: 30_000, 6: 20_000 } as const;

describe(`metrics match the sink ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  let net: BenchNet;
  let inst: Instruments;
  let daemon: Proc;
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-metrics-'));
  const socket = join(tmp, 'api.sock');
  const instance = `metrics-${process.pid}`;
  const api = new ApiClient({ socket });

  const hp = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);

  const config = () =>
    [
      'interfaces: [eth0, eth1]',
      'xdp_mode: native',
      'services:',
      ...([4, 6] as const).flatMap((f) => [
        `  - name: v${f}`,
        `    vip: "${BENCH.vip[f]}"`,
        `    port: ${BENCH.port}`,
        '    mode: nat',
        '    scheduler: round-robin',
        '    backends:',
        ...BENCH.backends[f].map((a) => `      - { address: "${a}", port: ${BENCH.backendPort} }`),
      ]),
      '',
    ].join('\n');

  const scrape = async (): Promise<{ text: string; e: Exposition }> => {
    const text = await api.metrics();
    return { text, e: parseExposition(text) };
  };
  const value = (e: Exposition, name: string, labels: Record<string, string>) => {
    const v = e.series.get(seriesKey(name, labels));
    assert.ok(v !== undefined, `${name}${JSON.stringify(labels)} is exposed`);
    return v;
  };

  const send = (family: 4 | 6, count: number) => {
    const r = inst.generate({
      ns: net.gen,
      ifname: 'g0',
      template: benchFrame(net, family),
      family,
      count,
      flows: 500,
      maxSeconds: 20,
    });
    assert.equal(r.sent, count);
  };
  const settle = async (want: number) => {
    for (let i = 0; i < 100 && inst.sinkTotal() < want; i++) await new Promise((r) => setTimeout(r, 20));
  };

  before(async () => {
    removeStaleNetns(PREFIX);
    net = buildBenchNet(`${PREFIX}${process.pid}-mx-`);
    inst = Instruments.load();
    inst.attachSink(net.sink, 's0');
    const configPath = join(tmp, 'xlb.yaml');
    writeFileSync(configPath, config());
    daemon = Proc.start(net.lb, process.execPath, [
      CLI,
      'daemon',
      '--config',
      configPath,
      '--instance',
      instance,
      '--api-socket',
      socket,
    ]);
    await daemon.waitFor(/"event":"ready"/, 30_000);
    // Warm-up: the LB resolves the sink's addresses (packets meanwhile may wait or drop).
    for (const f of [4, 6] as const) send(f, 300);
    await new Promise((r) => setTimeout(r, 500));
    for (const f of [4, 6] as const) send(f, 300);
    await settle(1);
  });

  after(async () => {
    await daemon?.stop();
    if (net) nsSh(net.lb, process.execPath, [CLI, 'down', '--instance', instance], { allowFail: true });
    inst?.close();
    net?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('per backend, per service and per reason, the counters grow by what the sink counted', async () => {
    const before = await scrape();
    inst.resetSink();
    send(4, COUNT[4]);
    send(6, COUNT[6]);
    await settle(COUNT[4] + COUNT[6]);
    const sink = inst.sinkCounts();
    assert.equal(inst.sinkTotal(), COUNT[4] + COUNT[6], 'the sink got every frame');
    const after = await scrape();
    for (const f of [4, 6] as const) {
      const service = `v${f}`;
      let sum = 0;
      for (const a of BENCH.backends[f]) {
        const backend = hp(a, BENCH.backendPort);
        const grew =
          value(after.e, 'xlb_backend_packets_total', { service, backend }) -
          value(before.e, 'xlb_backend_packets_total', { service, backend });
        assert.equal(grew, sink.get(backend) ?? 0, `${service} ${backend}`);
        assert.ok(grew > COUNT[f] / 6, `round-robin spread: ${backend} got ${grew}`);
        sum += grew;
      }
      assert.equal(sum, COUNT[f]);
      const svc =
        value(after.e, 'xlb_service_packets_total', { service }) -
        value(before.e, 'xlb_service_packets_total', { service });
      assert.equal(svc, COUNT[f], `${service} packets`);
    }
    const grown = Reasons.map((reason) => ({
      reason,
      by: value(after.e, 'xlb_packets_total', { reason }) - value(before.e, 'xlb_packets_total', { reason }),
    })).filter((r) => r.by > 0);
    const forwarded = grown.filter((r) => r.reason === 'nat').reduce((a, r) => a + r.by, 0);
    assert.equal(forwarded, COUNT[4] + COUNT[6], `reasons that grew: ${JSON.stringify(grown)}`);
    assert.equal(value(after.e, 'xlb_config_generation', {}), 1);
    assert.equal(
      value(after.e, 'xlb_backend_up', { service: 'v4', backend: hp(BENCH.backends[4][0], 5301) }),
      1,
    );
  });

  it('passes promtool check metrics (lint included)', async () => {
    const { text } = await scrape();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined, 'promtool is installed (scripts/bootstrap.sh installs prometheus)');
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
