// The config fuzzer's seeds: valid configs its cases are made from (config-cases.ts): the
// README's complete examples, the built-in default, and configs written here that cover what
// those do not (every mode, family, scheduler and block, anchors, exec health, '*').
import { DEFAULT_CONFIG_YAML } from '../../src/model/config.js';

export interface SeedConfig {
  name: string;
  text: string;
}

/** Seeds that cover what the README's examples do not: every mode, family, scheduler and block. */
const WRITTEN_SEEDS: SeedConfig[] = [
  {
    name: 'every-mode',
    text: `interfaces: [eth0, eth1]
xdp_mode: native
flow_table_size: 131072
hash_seed: 7
memory_limit: 1GiB
services:
  - name: dns-nat
    vip: 192.0.2.10
    port: 53
    mode: nat
    scheduler: maglev
    hash_key: src-addr
    table_size: 1021
    health: &hc { type: udp, interval: 500ms, timeout: 200ms, rise: 2, fall: 3, send: ping, expect: pong }
    all_down: keep-last
    backends:
      - { address: 198.51.100.11, port: 5301 }
      - { address: 198.51.100.12, port: 5301, weight: 3 }
  - name: dns-fullnat6
    vip: "fd00:192::10"
    port: 53
    mode: fullnat
    scheduler: weighted-round-robin
    snat: { address: "fd00:198::1", ports: 20000-60000 }
    flow_timeouts: { unreplied: 10, assured: 300 }
    health: { type: dns, name: health.example., qtype: AAAA, rcode: NOERROR }
    backends:
      - { address: "fd00:198::11", port: 53, weight: 2 }
      - { address: "fd00:198::12", port: 53, weight: 0 }
  - name: game-dsr
    vip: 203.0.113.7
    port: 27015
    mode: dsr
    scheduler: round-robin
    flow_affinity: true
    health: { type: tcp, port: 8080, target: backend }
    backends:
      - { address: 198.51.100.21 }
      - { address: 198.51.100.22, port: 27015 }
  - name: any-local
    vip: "*"
    port: 9875
    backends:
      - { address: 127.0.0.1, port: 9876 }
  - name: web-check
    vip: 192.0.2.10
    port: 443
    mode: nat
    health: { type: http, path: /healthz, status: 204, host: example.org }
    backends: []
  - name: same-health
    vip: 192.0.2.11
    port: 53
    mode: nat
    health: *hc
    backends: [{ address: 198.51.100.31, port: 53 }]
`,
  },
  {
    name: 'fullnat-v4-and-star',
    text: `interface: eth0
services:
  - name: fn
    vip: 192.0.2.20
    port: 5300
    mode: fullnat
    snat: { address: 192.0.2.1, ports: 30000-30999 }
    backends:
      - { address: 198.51.100.41, port: 5301 }
      - { address: 198.51.100.42, port: 5301 }
  - name: star6
    vip: '*'
    port: 5300
    mode: nat
    backends: [{ address: 'fd00:198::41', port: 5301 }]
  - name: local6
    vip: '::1'
    port: 9000
    scheduler: round-robin
    health: { type: exec, command: [/bin/true, '{address}', '{port}'], interval: 5, timeout: 2 }
    all_down: drop
    backends:
      - { address: '::1', port: 9001 }
      - { address: '::1', port: 9002, weight: 0 }
`,
  },
  { name: 'empty', text: 'interface: lo\nservices: []\n' },
];

/** The README's complete configs (code blocks with `services:`). */
export function readmeSeeds(readme: string): SeedConfig[] {
  const out: SeedConfig[] = [];
  for (const m of readme.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const text = m[1] ?? '';
    if (/^services:/m.test(text)) out.push({ name: `README example ${out.length + 1}`, text });
  }
  return out;
}

/** Every seed: `extra` (the README's) first, then the built-in default and the written ones. */
export function seedConfigs(extra: SeedConfig[] = [], more: SeedConfig[] = []): SeedConfig[] {
  return [...extra, { name: 'built-in default', text: DEFAULT_CONFIG_YAML }, ...WRITTEN_SEEDS, ...more];
}
