// contrib/: the systemd unit is valid for systemd and for xlb's own flag parsers; the Grafana
// dashboard is well-formed and queries only metrics the daemon exposes.
import { toolSkip } from '../helpers/privileged.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/daemon/metrics.js';
import { Reasons } from '../../src/abi/abi.js';
import { CLI } from '../helpers/proc.js';
import { XLB_CAPS } from '../../src/util/caps.js';
import { parseExposition } from '../helpers/prom.js';

const contrib = (f: string) => fileURLToPath(new URL(`../../../contrib/${f}`, import.meta.url));

describe('contrib/xlb.service', () => {
  const unit = readFileSync(contrib('xlb.service'), 'utf8');
  const directive = (name: string) =>
    unit
      .split('\n')
      .filter((l) => l.startsWith(`${name}=`))
      .map((l) => l.slice(name.length + 1));

  it('passes systemd-analyze verify', { skip: toolSkip('systemd-analyze', 'systemd') }, () => {
    const r = spawnSync('systemd-analyze', ['verify', contrib('xlb.service')], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'systemd-analyze is installed (package systemd)');
    assert.equal(r.status, 0, r.stderr);
  });

  it("its xlb command lines, and those of the commented socket-group example, are accepted by xlb's own parsers", () => {
    const lines = [...directive('ExecStartPre'), ...directive('ExecStart'), ...directive('ExecReload')];
    assert.equal(lines.length, 4);
    const examples = unit
      .split('\n')
      .map((l) => /^#\s+(ExecStart(?:Pre)?)=(.*)$/.exec(l)?.[2])
      .filter((l): l is string => l !== undefined);
    assert.equal(examples.length, 2, 'the --api-socket-group example');
    for (const line of [...lines, ...examples]) {
      const argv = line.replace(/^\+/, '').split(/\s+/);
      assert.deepEqual(argv.slice(0, 2), ['/usr/bin/env', 'xlb']);
      const r = spawnSync(process.execPath, [CLI, ...argv.slice(2), '--help'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${line}: ${r.stderr}`);
    }
    assert.ok(examples.every((l) => l.includes('--api-socket-group xlbadm')));
    assert.match(unit, /^#\s+SupplementaryGroups=xlbadm$/m);
  });

  it('runs as xlb with exactly the capabilities xlb needs, after a root step that prepares bpffs and the token', () => {
    assert.deepEqual(directive('User'), ['xlb']);
    assert.deepEqual(directive('Group'), ['xlb']);
    assert.deepEqual(directive('AmbientCapabilities'), [XLB_CAPS.join(' ')]);
    assert.deepEqual(directive('CapabilityBoundingSet'), [XLB_CAPS.join(' ')]);
    assert.deepEqual(directive('NoNewPrivileges'), ['yes']);
    assert.deepEqual(directive('LimitMEMLOCK'), [], 'BPF memory is charged to the memory cgroup');
    // The root step comes first: the sandboxed steps need the directory it makes.
    assert.equal(
      directive('ExecStartPre')[0],
      '+/usr/bin/env xlb prepare --user xlb --api-token-file /etc/xlb/api-token',
    );
    assert.deepEqual(directive('ReadWritePaths'), ['/sys/fs/bpf/xlb']);
    assert.deepEqual(directive('RuntimeDirectory'), ['xlb']);
    assert.deepEqual(directive('RestrictAddressFamilies'), ['AF_UNIX AF_INET AF_INET6 AF_NETLINK']);
    assert.deepEqual(directive('SystemCallFilter'), ['@system-service @pkey bpf']);
    assert.deepEqual(directive('MemoryDenyWriteExecute'), [], "V8's JIT needs writable code pages");
  });

  it(
    'has an exposure of at most 4.0 by systemd-analyze security',
    { skip: toolSkip('systemd-analyze', 'systemd') },
    () => {
      const r = spawnSync('systemd-analyze', ['security', '--offline=yes', contrib('xlb.service')], {
        encoding: 'utf8',
      });
      const m = /Overall exposure level for xlb\.service: (\d+\.\d+)/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      const score = Number(m[1]);
      assert.ok(score <= 4.0, `exposure ${score} > 4.0:\n${r.stdout}`);
    },
  );

  it('keeps /run/xlb across restarts; reloads through xlb config reload, so a bad file fails the reload', () => {
    assert.deepEqual(directive('RuntimeDirectoryPreserve'), ['yes']);
    assert.deepEqual(directive('ExecReload'), ['/usr/bin/env xlb config reload']);
    assert.deepEqual(directive('KillMode'), ['mixed']);
  });

  it('serves the API on the unix socket with a token file, never a token on the command line', () => {
    const start = directive('ExecStart')[0] ?? '';
    assert.match(start, / --api-token-file \/etc\/xlb\/api-token\b/);
    assert.doesNotMatch(start, /--token\b|--api-listen/);
  });
});

describe('contrib/grafana-dashboard.json', () => {
  interface Panel {
    id: number;
    title: string;
    type: string;
    gridPos: { x: number; y: number; w: number; h: number };
    targets: { expr: string }[];
  }
  const dash = JSON.parse(readFileSync(contrib('grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: Panel[];
    templating: { list: { name: string; query: string }[] };
  };

  it('has panels with unique ids, on a 24-column grid, each with a query', () => {
    assert.ok(dash.panels.length >= 8);
    assert.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length);
    for (const p of dash.panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
      assert.ok(p.targets.length > 0, `${p.title} has a query`);
    }
  });

  it('queries only metric families the daemon exposes', async () => {
    const m = new Metrics({ processMetrics: false, version: '0.0.0' });
    m.update({
      instance: 'default',
      generation: 1,
      stats: {
        generation: 1,
        at: new Date(0).toISOString(),
        reasons: Object.fromEntries(Reasons.map((r) => [r, { packets: 0, bytes: 0 }])) as never,
        services: [],
      },
      mapFill: [{ map: 'rev_nat', entries: 0, max: 1 }],
      reconcileSeconds: 0.001,
      healthTransitions: [],
    });
    const families = parseExposition(await m.text()).families;
    const exprs = [
      ...dash.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dash.templating.list.map((v) => v.query),
    ];
    const used = new Set(exprs.flatMap((e) => e.match(/\bxlb_[a-z_]+/g) ?? []));
    assert.ok(used.size >= 8, [...used].join(' '));
    for (const name of used) assert.ok(families.has(name), `${name} is exposed by the daemon`);
    for (const e of exprs.filter((x) => x.includes('reason'))) {
      for (const r of e.match(/reason!?~"([^"]+)"/)?.[1]?.split('|') ?? []) {
        assert.ok((Reasons as readonly string[]).includes(r), `reason ${r} exists`);
      }
    }
  });
});
