// Two xlb instances in two load-balancer namespaces, one config and one hash seed: the
// same 10,000 flows, sent to each by the generator, land on the same backends — what
// lets several xlb nodes behind ECMP agree without talking to each other.
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { readState } from '../../src/control/instance.js';
import { instancePaths } from '../../src/util/host.js';
import { BpfMap } from '../../src/kernel/map.js';
import { TypedMap } from '../../src/kernel/typed-map.js';
import { flowKey, fwdFlow } from '../../src/abi/abi.js';
import { addrFrom16 } from '../../src/model/addr.js';
import { Instruments } from '../../src/lab/instruments.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import { buildTopology, readMac, type Topology } from '../../src/lab/topology.js';
import { buildPacket } from '../../src/testing/packet.js';
import { rootSkip } from '../helpers/privileged.js';
import { startXlbRun, type Proc } from '../helpers/proc.js';
import { tcPathLabel } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';
const FLOWS = 10_000;

describe(`two instances, one config and seed ${tcPathLabel()}`, { skip: rootSkip() }, () => {
  let topo: Topology;
  let inst: Instruments;
  const procs: Proc[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'xlb-cluster-'));
  const names = [`cluster-a-${process.pid}`, `cluster-b-${process.pid}`];

  before(async () => {
    removeStaleNetns(PREFIX);
    topo = buildTopology({
      prefix: `${PREFIX}${process.pid}-cl-`,
      nodes: [{ name: 'gen' }, { name: 'lba' }, { name: 'lbb' }],
      links: [
        { a: { node: 'gen', ifname: 'ga' }, b: { node: 'lba', ifname: 'eth0' } },
        { a: { node: 'gen', ifname: 'gb' }, b: { node: 'lbb', ifname: 'eth0' } },
      ],
      bridges: [],
      addrs: [
        { node: 'gen', ifname: 'ga', cidr: '203.0.113.10/24' },
        { node: 'gen', ifname: 'gb', cidr: '198.51.100.10/24' },
        { node: 'lba', ifname: 'eth0', cidr: '203.0.113.1/24' },
        { node: 'lbb', ifname: 'eth0', cidr: '198.51.100.1/24' },
      ],
      routes: [],
    });
    // The same service on both: the address a client sends to is the wildcard's.
    const config = join(tmp, 'xlb.yaml');
    writeFileSync(
      config,
      [
        'interface: eth0',
        'xdp_mode: native',
        'hash_seed: 2026',
        'flow_table_size: 65536',
        'services:',
        '  - name: cluster',
        "    vip: '*'",
        '    port: 5300',
        '    scheduler: maglev',
        '    backends:',
        ...Array.from({ length: 8 }, (_, i) => `      - { address: 192.0.2.${i + 1}, port: 5301 }`),
        '',
      ].join('\n'),
    );
    for (const [i, node] of ['lba', 'lbb'].entries()) {
      procs.push(await startXlbRun(topo.netns(node), config, names[i]!));
    }
    inst = Instruments.load();
  });

  after(async () => {
    inst?.close();
    for (const p of procs) await p.stop(); // SIGTERM: xlb run removes its pins
    topo?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it(`sends the same ${FLOWS} flows to the same backends`, () => {
    const gen = topo.netns('gen');
    const send = () => {
      for (const [ifname, node] of [
        ['ga', 'lba'],
        ['gb', 'lbb'],
      ] as const) {
        const frame = buildPacket({
          eth: { src: readMac(gen, ifname), dst: readMac(topo.netns(node), 'eth0') },
          ipv4: { src: '203.0.113.77', dst: '203.0.113.200' },
          udp: { sport: 10000, dport: 5300, checksum: 'zero' },
          payload: Buffer.alloc(32, 1),
        });
        const r = inst.generate({ ns: gen, ifname, template: frame, family: 4, count: FLOWS, flows: FLOWS });
        assert.equal(r.sent, FLOWS);
      }
    };
    // Each instance remembers where it sent every flow (flow affinity): compare.
    const read = () =>
      names.map((name) => {
        const state = readState(name)!;
        const address = new Map(
          state.services.flatMap((s) => s.backends.map((b) => [b.id, `${b.address}:${b.port}`])),
        );
        const map = BpfMap.fromPin(join(instancePaths(name).pinDir, 'fwd_flows'));
        try {
          const flows = new TypedMap(map, flowKey, fwdFlow);
          return new Map(
            [...flows.entries()].map(([k, v]) => [
              `${addrFrom16(k.src, 4)}:${k.sport}`,
              address.get(v.backend_id),
            ]),
          );
        } finally {
          map.close();
        }
      });
    // A loaded machine can drop frames in a veth's ring: the same flows are sent again (a flow
    // that is already known keeps its entry) until each instance has seen every one, 4 passes at most.
    let decisions = read();
    for (let pass = 0; pass < 4 && decisions.some((d) => d.size < FLOWS); pass++) {
      send();
      decisions = read();
    }
    const [a, b] = decisions as [Map<string, string | undefined>, Map<string, string | undefined>];
    assert.equal(a.size, FLOWS, 'instance a saw every flow');
    assert.equal(b.size, FLOWS, 'instance b saw every flow');
    let same = 0;
    for (const [flow, backend] of a) if (b.get(flow) === backend && backend !== undefined) same++;
    assert.equal(same, FLOWS, `${FLOWS - same} flows went to different backends`);
    assert.equal(new Set(a.values()).size, 8, 'all eight backends in use');
  });
});
