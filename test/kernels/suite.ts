// What the kernel guests run, and how their results come back: groups of test files (each
// run by scripts/run-tests.js inside the guest, with a TAP copy of its results in the job
// directory), the job script that runs them, and the TAP summary the host reads.

/** A group of test files run in one `node --test` inside the guest. */
export interface TestGroup {
  /** scripts/run-tests.js filters (path substrings of test/…/*.test.ts). */
  filters: string[];
  /** Its suites name the TC path they ran on (test/helpers/tc-path.ts): there must be some. */
  tcLabelled: boolean;
  /** What it proves, for the report. */
  what: string;
}

/**
 * Run on every kernel by default: every BPF object loads and every fixture gives its exact
 * bytes; each forwarding mode (local, nat one and two arms, fullnat, dsr) in IPv4 and IPv6
 * across namespaces; local mode on lo (XDP only, no TC). Left out: the packet fuzzer
 * (test/bpf/fuzz, 100,000 random frames: an hour under emulation; it runs on the host).
 */
export const DEFAULT_GROUPS: readonly TestGroup[] = [
  {
    filters: ['test/bpf/', '!test/bpf/fuzz'],
    tcLabelled: false,
    what: 'every BPF object loads, every fixture gives its exact bytes',
  },
  {
    filters: ['test/integration/local-lo'],
    tcLabelled: false,
    what: 'local mode on lo (XDP in generic mode, no TC)',
  },
  {
    filters: ['test/lab/modes'],
    tcLabelled: true,
    what: "each forwarding mode, IPv4 and IPv6, across namespaces, on the kernel's TC path",
  },
];

/**
 * The groups to run: DEFAULT_GROUPS, or one group per filter of XLB_KERNEL_TESTS (space
 * separated, e.g. "test/bpf/ test/lab/"; filters starting with '!' leave files out of every
 * group: "test/lab/ !test/lab/api-fuzz").
 */
export function selectGroups(env: string | undefined): readonly TestGroup[] {
  const words = (env ?? '').split(/\s+/).filter(Boolean);
  const excluded = words.filter((w) => w.startsWith('!'));
  const filters = words.filter((w) => !w.startsWith('!'));
  if (filters.length === 0) return DEFAULT_GROUPS;
  return filters.map((f) => ({
    filters: [f, ...excluded],
    tcLabelled: false,
    what: `tests matching '${f}'`,
  }));
}

/** The group's name in reports and file names: its filters, joined. */
export const groupName = (g: TestGroup): string => g.filters.join(' ');

/** TAP report and exit status of group `i` in the job directory. */
export const tapFile = (i: number): string => `group-${i}.tap`;
export const statusFile = (i: number): string => `group-${i}.status`;

/** How the guest runs the tests: slower (waits stretched), smaller (randomized cases cut). */
export interface GuestScale {
  /** XLB_TIME_SCALE in the guest (src/util/time.ts). */
  time: number;
  /** XLB_TEST_SCALE in the guest (test/helpers/random.ts). */
  cases: number;
}

/** XLB_GUEST_TIME_SCALE (default 10) and XLB_GUEST_TEST_SCALE (default 0.1) of the host. */
export function guestScale(env: NodeJS.ProcessEnv): GuestScale {
  return {
    time: Number(env.XLB_GUEST_TIME_SCALE || 10),
    cases: Number(env.XLB_GUEST_TEST_SCALE || 0.1),
  };
}

/**
 * The guest's job: for each group, scripts/run-tests.js in `repo` with CI=true (inside the
 * guest a skip would hide a regression: it is a failure there), its TAP copy and its exit
 * status in the job directory. TC tests run once, on the path the kernel's probe picks
 * (XLB_TEST_TC_PATHS=default): the host runs both. Groups run one after another whatever the
 * previous gave.
 */
export function jobScript(
  repo: string,
  groups: readonly TestGroup[],
  path: string,
  scale: GuestScale,
): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = [
    'export CI=true XLB_GUEST=1 XLB_TEST_TC_PATHS=default HOME=/root',
    `export XLB_TIME_SCALE=${scale.time} XLB_TEST_SCALE=${scale.cases}`,
    `export PATH=${q(path)}`,
    `cd ${q(repo)} || exit 111`,
    'rc=0',
  ];
  groups.forEach((g, i) => {
    lines.push(
      `echo ${q(`xlb-guest: group ${i} (${groupName(g)})`)}`,
      `XLB_TEST_TAP=/run/xlb-guest/${tapFile(i)} node scripts/run-tests.js ${g.filters.map(q).join(' ')}`,
      `s=$?; echo $s >/run/xlb-guest/${statusFile(i)}; [ $s = 0 ] || rc=1`,
    );
  });
  lines.push('exit $rc');
  return lines.join('\n') + '\n';
}

export interface TapSummary {
  tests: number;
  pass: number;
  fail: number;
  skipped: number;
  todo: number;
  cancelled: number;
  /** The failed tests with no failed subtest, as "suite › test" paths. */
  failures: string[];
  /** The `error:` text of each failure (same order as `failures`; '' when its report has none). */
  errors: string[];
  /** The TC paths suites named (`[tc: classic]` → 'classic'), each once. */
  tcPaths: string[];
}

/** The counts of a node:test TAP report (its `# tests N` trailer) and the failing leaves. */
export function tapSummary(text: string): TapSummary | undefined {
  const count = (key: string) => {
    const m = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const tests = count('tests');
  if (tests === undefined) return undefined;
  const stack: string[] = [];
  const failed: string[] = [];
  const errorOf = new Map<string, string>();
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const sub = /^( *)# Subtest: (.*)$/.exec(line);
    if (sub) {
      stack.length = sub[1]!.length / 4;
      stack.push(sub[2]!);
      continue;
    }
    const res = /^( *)not ok \d+ - (.*?)(?: # .*)?$/.exec(line);
    if (res) {
      const depth = res[1]!.length / 4;
      const path = [...stack.slice(0, depth), res[2]!].join(' › ');
      failed.push(path);
      errorOf.set(path, yamlError(lines, i + 1));
    }
  }
  const leaves = failed.filter((f) => !failed.some((g) => g !== f && g.startsWith(f + ' › ')));
  return {
    tests,
    pass: count('pass') ?? 0,
    fail: count('fail') ?? 0,
    skipped: count('skipped') ?? 0,
    todo: count('todo') ?? 0,
    cancelled: count('cancelled') ?? 0,
    failures: leaves,
    errors: leaves.map((f) => errorOf.get(f) ?? ''),
    tcPaths: [...new Set([...text.matchAll(/^ *# Subtest: .*\[tc: (\w+)\]/gm)].map((m) => m[1]!))],
  };
}

/** The `error:` value of the YAML block that starts at lines[from] (`---` … `...`), at most
 * 40 lines; '' when there is none. */
function yamlError(lines: string[], from: number): string {
  if (!/^ *---$/.test(lines[from] ?? '')) return '';
  for (let i = from + 1; i < lines.length && !/^ *\.\.\.$/.test(lines[i]!); i++) {
    const m = /^( *)error: ?(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2] !== '|-' && m[2] !== '|' && m[2] !== '>-') return m[2]!;
    const out: string[] = [];
    for (let j = i + 1; j < lines.length && out.length < 40; j++) {
      const l = lines[j]!;
      if (!l.startsWith(m[1]! + '  ')) break;
      out.push(l.slice(m[1]!.length + 2));
    }
    return out.join('\n');
  }
  return '';
}
