// Every forwarding mode, in both families, across namespaces with real sockets: a
// client sends 3,000 datagrams from 51 source ports to the VIP; the backends (echo
// servers in their own namespaces) record what they receive. Asserted: nothing lost,
// an even spread, the client address as each mode promises, every reply from
// VIP:port, and the kernel-resolved-neighbour path taken. Then a DNS round trip
// through the same mode: dnsmasq on the backends, kdig in the client namespace. Last,
// with nothing listening, a connected client is refused (the ICMP error reaches it).
// xlb-test: both-tc-paths
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openInstanceStats } from '../../src/control/instance-stats.js';
import type { StatsSnapshot } from '../../src/control/stats.js';
import { nsSh } from '../../src/lab/exec.js';
import { createLab, type Lab, type LabMode } from '../../src/lab/lab.js';
import { removeStaleNetns } from '../../src/lab/netns.js';
import type { RoundTripResult } from '../../src/lab/udp-client.js';
import { scaledMs } from '../../src/util/time.js';
import { rootSkip } from '../helpers/privileged.js';
import { CLI, Proc, helperScript, startXlbRun } from '../helpers/proc.js';
import { tcPathLabel } from '../helpers/tc-path.js';

const PREFIX = 'xlbt-';
const PORT = 5300;
const DATAGRAMS = 3000;
const SOCKETS = 51;

const LABS: { mode: LabMode; arms: 1 | 2 }[] = [
  { mode: 'local', arms: 1 },
  { mode: 'nat', arms: 2 }, // XDP_REDIRECT between the two interfaces
  { mode: 'nat', arms: 1 }, // XDP_TX back out of the one interface
  { mode: 'fullnat', arms: 2 },
  { mode: 'dsr', arms: 1 },
];

for (const { mode, arms } of LABS) {
  const armsText = arms === 1 ? 'one arm' : 'two arms';
  describe(`lab: ${mode} mode, ${armsText} ${tcPathLabel()}`, { skip: rootSkip() }, () => {
    let lab: Lab;
    let xlb: Proc;
    let echoes: Proc[] = [];
    const dns: Proc[] = [];
    const procs: Proc[] = [];
    const instance = `lab-${mode}${arms}-${process.pid}`;
    const tmp = mkdtempSync(join(tmpdir(), `xlb-lab-${mode}-`));

    before(async () => {
      removeStaleNetns(PREFIX);
      lab = createLab({ prefix: `${PREFIX}${process.pid}-${mode.slice(0, 2)}${arms}-`, mode, arms });
      for (const l of lab.listeners()) {
        const args = [
          CLI,
          'echo-server',
          '--address',
          l.address,
          ...l.ports.flatMap((p) => ['-p', String(p)]),
        ];
        const p = Proc.start(l.ns, process.execPath, args);
        procs.push(p);
        echoes.push(p);
      }
      await Promise.all(echoes.map((p) => p.waitFor(/^listening on/))); // started side by side
      const config = join(tmp, 'xlb.yaml');
      writeFileSync(config, lab.xlbConfig({ scheduler: 'round-robin' }));
      xlb = await startXlbRun(lab.lb.ns, config, instance);
      procs.push(xlb);
    });

    after(async () => {
      for (const p of procs) await p.stop(); // SIGTERM: xlb run removes its pins
      lab?.destroy();
      rmSync(tmp, { recursive: true, force: true });
    });

    // What `xlb stats --instance` prints, read in this process (the pins are not per namespace):
    // a node process less per reading, which counts in the kernel guests (test/kernels).
    const stats = (): StatsSnapshot => {
      const s = openInstanceStats(instance);
      try {
        return s.read();
      } finally {
        s.close();
      }
    };

    for (const fam of [4, 6] as const) {
      it(`IPv${fam}: ${DATAGRAMS} datagrams from ${SOCKETS} source ports, spread evenly, answered from the VIP`, async () => {
        const client = lab.clients[0]!;
        const vip = fam === 4 ? lab.vip.v4 : lab.vip.v6;
        const clientAddr = fam === 4 ? client.v4 : client.v6;
        const before = stats();
        const linesBefore = echoes.map((e) => e.lines.length);
        const r = JSON.parse(
          nsSh(client.ns, process.execPath, [
            helperScript('udp-client-cli.js'),
            vip,
            String(PORT),
            String(DATAGRAMS),
            String(SOCKETS),
            '40000',
          ]),
        ) as RoundTripResult;
        assert.equal(r.sent, DATAGRAMS);
        assert.equal(r.lost, 0, `lost ${r.lost}`);
        assert.equal(r.mismatched, 0);
        const from = fam === 4 ? `${vip}:${PORT}` : `[${vip}]:${PORT}`;
        assert.deepEqual(r.replySources, { [from]: DATAGRAMS }, 'every reply from VIP:port');

        // What the backends saw: how many each (per backend address and port), and from whom.
        const fresh = () =>
          echoes.flatMap((e, i) =>
            e.lines
              .slice(linesBefore[i])
              .filter((l) => /^port \d+: /.test(l))
              .map((l) => [i, l] as const),
          );
        for (let t = 0; t < 100 && fresh().length < DATAGRAMS; t++)
          await new Promise((res) => setTimeout(res, 50));
        const senders = new Map<string, number>();
        const perListenerPort = new Map<string, number>();
        for (const [i, l] of fresh()) {
          const m = /^port (\d+): \d+ bytes from \[?([0-9a-f.:]+?)\]?:\d+: /.exec(l);
          assert.ok(m, l);
          senders.set(m[2]!, (senders.get(m[2]!) ?? 0) + 1);
          const key = `${i}/${m[1]}`;
          perListenerPort.set(key, (perListenerPort.get(key) ?? 0) + 1);
        }
        const perBackend = [...perListenerPort.values()];
        const total = perBackend.reduce((a, b) => a + b, 0);
        assert.equal(total, DATAGRAMS, `backends received ${total}`);
        const expectedSender = mode === 'fullnat' ? (fam === 4 ? lab.snat.v4 : lab.snat.v6) : clientAddr;
        assert.deepEqual(
          [...senders.keys()],
          [expectedSender],
          `the backends saw ${[...senders.keys()].join(', ')}`,
        );
        const n = perBackend.length;
        for (const count of perBackend) {
          // Round-robin per packet: ±1% of the even share. fullnat balances flows (its
          // source port belongs to a flow): 51 flows of equal size, ±2 flows.
          const slack = mode === 'fullnat' ? 2 * (DATAGRAMS / SOCKETS) : DATAGRAMS / n / 100;
          assert.ok(Math.abs(count - DATAGRAMS / n) <= slack, `spread ${perBackend.join(' ')}`);
        }
        const after = stats();
        const delta = (k: keyof StatsSnapshot['reasons']) =>
          after.reasons[k].packets - before.reasons[k].packets;
        const forwarded = delta(mode) + delta('neigh_resolve');
        assert.equal(forwarded, DATAGRAMS, `forwarded ${forwarded}`);
        if (mode !== 'dsr') assert.equal(delta('reply'), DATAGRAMS, 'replies translated');
        if (fam === 4 && mode !== 'local') {
          assert.ok(
            after.reasons.neigh_resolve.packets > 0,
            'first packets went through kernel neighbour resolution',
          );
        }
      });
    }

    it('DNS: dnsmasq behind the VIP answers kdig, from the VIP', async () => {
      for (const e of echoes) await e.stop();
      echoes = [];
      for (const l of lab.listeners()) {
        const args = [
          '--no-daemon',
          '--conf-file=/dev/null',
          '--pid-file=',
          '--no-resolv',
          '--no-hosts',
          '--bind-interfaces',
          `--listen-address=${l.address}`,
          `--port=${l.ports[0]}`,
          '--address=/xlb.test/192.0.2.53',
          '--address=/xlb.test/fd00:53::53',
          '--user=root',
          '--log-facility=-',
        ];
        const p = Proc.start(l.ns, 'dnsmasq', args);
        procs.push(p);
        dns.push(p);
      }
      // Each dnsmasq has bound every port before the first query (a slow guest can take seconds).
      for (const [i, l] of lab.listeners().entries()) await udpBound(l.ns, [l.ports[0]!], dns[i]!);
      const dnsLog = () => dns.map((p) => p.stderr.join('').trim()).join('\n');
      for (const fam of [4, 6] as const) {
        const vip = fam === 4 ? lab.vip.v4 : lab.vip.v6;
        const out = nsSh(
          lab.clients[0]!.ns,
          'kdig',
          [
            `@${vip}`,
            '-p',
            String(PORT),
            'xlb.test',
            'A',
            '+notcp',
            '+retry=2',
            `+timeout=${Math.ceil(scaledMs(2000) / 1000)}`,
          ],
          { allowFail: true },
        );
        const why = () => `${out}\ndnsmasq:\n${dnsLog()}\nxlb reasons: ${JSON.stringify(stats().reasons)}`;
        assert.match(out, /xlb\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.53/, why());
        assert.match(out, new RegExp(`;; From ${vip.replace(/\./g, '\\.')}@${PORT}\\(UDP\\)`), why());
      }
    });

    it('ICMP: with nothing listening behind the VIP, a connected client is refused at once', async () => {
      // The backends' port unreachable errors reach the client translated (nat, fullnat: in XDP;
      // local: by the TC egress program), or straight from the backend (dsr quotes the VIP already).
      for (const p of [...echoes, ...dns]) await p.stop();
      echoes = [];
      for (const fam of [4, 6] as const) {
        const vip = fam === 4 ? lab.vip.v4 : lab.vip.v6;
        const before = stats();
        const r = JSON.parse(
          nsSh(lab.clients[0]!.ns, process.execPath, [
            helperScript('udp-refused-cli.js'),
            vip,
            String(PORT),
            '3000',
          ]),
        ) as { error: string | null; sent: number; ms: number };
        const translated = stats().reasons.icmp_reply.packets - before.reasons.icmp_reply.packets;
        assert.equal(r.error, 'ECONNREFUSED', `IPv${fam}: ${JSON.stringify(r)}`);
        if (mode === 'dsr') assert.equal(translated, 0, 'dsr: xlb sees no error');
        else assert.ok(translated >= 1, `IPv${fam}: icmp_reply +${translated}`);
      }
    });
  });
}

/** Waits until `ns` has a UDP socket bound to each of `ports` (ss), or fails with dnsmasq's log. */
async function udpBound(ns: string | undefined, ports: readonly number[], p: Proc): Promise<void> {
  const deadline = Date.now() + scaledMs(10_000);
  for (;;) {
    const out = nsSh(ns, 'ss', ['-Hlun'], { allowFail: true });
    const bound = ports.filter((port) => new RegExp(`:${port}\\s`).test(out));
    if (bound.length === ports.length) return;
    if (p.ended || Date.now() > deadline)
      assert.fail(`dnsmasq never bound ports ${ports.join(', ')} in ${ns}:\n${out}\n${p.stderr.join('')}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
