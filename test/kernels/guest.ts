// Guests with Debian's own kernels, for running the suite on kernels other than the
// host's. A kernel is fetched once with `apt-get download`, unpacked into a cache outside
// the repository (depmod'ed there), and booted with QEMU's software emulation (TCG: this
// machine's /dev/kvm cannot run stock kernels). The guest shares the host's root read-only
// over 9p under a tmpfs overlay (scripts/kernels/init.sh), so it runs this checkout's
// dist/, node and every tool installed here; a per-run job directory, shared writable,
// carries the job script in and the exit status and reports out.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A line of Debian kernels: the newest package whose name matches is the one tested. */
export interface KernelSeries {
  /** Short name used in reports and in XLB_KERNELS: `6.1`, `6.12`. */
  name: string;
  /** What Debian ships it as. */
  role: string;
  /** The package name; the first group is the number that orders releases. */
  pattern: RegExp;
  /** The TC attach method xlb's probe picks there: tcx arrived in Linux 6.6. */
  tc: 'tcx' | 'classic';
}

export const SERIES: readonly KernelSeries[] = [
  {
    name: '6.1',
    role: 'Debian 12 stock kernel',
    pattern: /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/,
    tc: 'classic',
  },
  {
    name: '6.12',
    role: 'Debian 12 optional kernel (+deb12)',
    pattern: /^linux-image-6\.12\.(\d+)\+deb12-amd64-unsigned$/,
    tc: 'tcx',
  },
];

/** Where kernels are kept between runs (outside the repository: ~500 MB per kernel). */
export const KERNEL_CACHE = process.env.XLB_KERNEL_CACHE ?? '/var/cache/xlb-kernels';

/** Modules the initramfs loads before it can mount the host's root (with their dependencies). */
const EARLY_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

const INIT_SCRIPT = fileURLToPath(new URL('../../../scripts/kernels/init.sh', import.meta.url));
const BUSYBOX = '/bin/busybox';

/** A kernel ready to boot: unpacked, depmod'ed, its early modules decompressed. */
export interface GuestKernel {
  series: KernelSeries;
  /** The Debian package and its version: `linux-image-6.1.0-57-amd64-unsigned` `6.1.192-3`. */
  package: string;
  version: string;
  /** `uname -r` in the guest. */
  release: string;
  dir: string;
  /**
   * What QEMU boots: the uncompressed vmlinux (PVH entry) when it could be extracted from
   * the bzImage, else the bzImage. Under TCG, the bzImage's own XZ decompression took ~9 s.
   */
  image: string;
  /** The guest's /lib/modules/RELEASE, a host path (the guest sees the host's root). */
  modules: string;
  /** CACHE_FORMAT when it was prepared. */
  format: number;
}

/** Bumped when prepareKernel's output changes: a cached kernel of another format is prepared again. */
const CACHE_FORMAT = 1;

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: opts.cwd,
    timeout: opts.timeout ?? 600_000,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`\`${cmd} ${args.join(' ')}\` could not run: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The newest package name of `series` among `names` (apt-cache pkgnames), or undefined. */
export function newestPackage(series: KernelSeries, names: string[]): string | undefined {
  let best: { name: string; n: number } | undefined;
  for (const name of names) {
    const m = series.pattern.exec(name.trim());
    if (m && (!best || Number(m[1]) > best.n)) best = { name: name.trim(), n: Number(m[1]) };
  }
  return best?.name;
}

const cachedKernels = (series: KernelSeries): GuestKernel[] =>
  existsSync(KERNEL_CACHE)
    ? readdirSync(KERNEL_CACHE)
        .map((d) => join(KERNEL_CACHE, d, 'kernel.json'))
        .filter(existsSync)
        .map((f) => JSON.parse(readFileSync(f, 'utf8')) as Omit<GuestKernel, 'series'>)
        .filter((k) => k.format === CACHE_FORMAT && series.pattern.test(k.package))
        .map((k) => ({ ...k, series }))
    : [];

/** Which package of `series` to test: the newest Debian offers (after `apt-get update` if needed). */
export function resolvePackage(series: KernelSeries): string {
  const list = () => run('apt-cache', ['pkgnames', 'linux-image-']).split('\n');
  let name = newestPackage(series, list());
  if (!name && process.getuid?.() === 0) {
    run('apt-get', ['update', '-qq']);
    name = newestPackage(series, list());
  }
  if (name) return name;
  const cached = newestPackage(
    series,
    cachedKernels(series).map((k) => k.package),
  );
  if (cached) return cached;
  throw new Error(
    `no Debian package for kernel ${series.name} (${series.pattern.source}) in apt's lists nor in ${KERNEL_CACHE}: ` +
      'run `apt-get update` as root with a Debian 12 mirror (bookworm and bookworm-security) in sources.list',
  );
}

/**
 * The kernel `pkg` of `series`, from the cache or fetched now: `apt-get download`, unpacked
 * with dpkg-deb, depmod'ed, then the package file is deleted. Prepared in a temporary
 * directory and renamed into place, so a run never sees half a kernel. Older kernels of the
 * same series that were last used more than a day ago are removed.
 */
export function prepareKernel(series: KernelSeries, pkg: string): GuestKernel {
  const hit = cachedKernels(series).find((k) => k.package === pkg);
  if (hit) return hit;
  mkdirSync(KERNEL_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(KERNEL_CACHE, '.prepare-'));
  try {
    run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', pkg], { cwd: tmp });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${tmp}`);
    const version = run('dpkg-deb', ['-f', join(tmp, deb), 'Version']).trim();
    const dir = join(KERNEL_CACHE, `${pkg}_${version}`);
    const root = join(tmp, 'root');
    run('dpkg-deb', ['-x', join(tmp, deb), root]);
    rmSync(join(tmp, deb));
    const releases = readdirSync(join(root, 'lib/modules'));
    if (releases.length !== 1)
      throw new Error(`${pkg}: expected one release in lib/modules, found ${releases.join(', ')}`);
    const release = releases[0]!;
    run('depmod', ['-b', root, release]);
    const vmlinux = extractVmlinux(join(root, 'boot', `vmlinuz-${release}`), join(tmp, 'vmlinux'));
    const kernel: Omit<GuestKernel, 'series'> = {
      package: pkg,
      version,
      release,
      dir,
      image: vmlinux ? join(dir, 'vmlinux') : join(dir, 'root/boot', `vmlinuz-${release}`),
      modules: join(dir, 'root/lib/modules', release),
      format: CACHE_FORMAT,
    };
    writeFileSync(join(tmp, 'kernel.json'), JSON.stringify(kernel, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true }); // a kernel of an older CACHE_FORMAT
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, 'kernel.json'))) throw e; // else another run was faster
    }
    pruneOlder(series, dir);
    return { ...kernel, series };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Writes the ELF kernel inside a bzImage (its XZ payload, decompressed) to `out`; false when
 * there is no XZ payload or it does not decompress to an ELF file.
 */
function extractVmlinux(bzImage: string, out: string): boolean {
  const image = readFileSync(bzImage);
  const at = image.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) return false;
  writeFileSync(`${out}.xz`, image.subarray(at));
  const r = spawnSync('sh', ['-c', 'xz -dc --single-stream "$1" >"$2"', 'sh', `${out}.xz`, out]);
  rmSync(`${out}.xz`);
  const elf =
    r.status === 0 &&
    readFileSync(out)
      .subarray(0, 4)
      .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (!elf) rmSync(out, { force: true });
  return elf;
}

function pruneOlder(series: KernelSeries, keep: string): void {
  const dayAgo = Date.now() - 86_400_000;
  for (const k of cachedKernels(series)) {
    if (k.dir !== keep && statSync(join(k.dir, 'kernel.json')).mtimeMs < dayAgo)
      rmSync(k.dir, { recursive: true, force: true });
  }
}

/**
 * An initramfs (uncompressed newc cpio, which every kernel takes) in `dir`: busybox, the
 * init script and the early modules of `kernel`, decompressed in load order.
 */
export function buildInitramfs(kernel: GuestKernel, dir: string): string {
  const stage = join(dir, 'initramfs');
  for (const d of ['bin', 'modules', 'proc', 'sys', 'dev']) mkdirSync(join(stage, d), { recursive: true });
  copyFileSync(BUSYBOX, join(stage, 'bin/busybox'));
  symlinkSync('busybox', join(stage, 'bin/sh'));
  copyFileSync(INIT_SCRIPT, join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  const root = join(kernel.dir, 'root');
  const order: string[] = [];
  const deps = run('modprobe', ['-d', root, '-S', kernel.release, '-a', '--show-depends', ...EARLY_MODULES]);
  for (const line of deps.split('\n')) {
    const [verb, path] = line.trim().split(/\s+/);
    if (verb !== 'insmod' || !path) continue; // `builtin NAME`: nothing to load
    const name = basename(path).replace(/\.(xz|zst|gz)$/, '');
    if (order.includes(name)) continue;
    const out = join(stage, 'modules', name);
    const unpack = { xz: 'xz', zst: 'zstd', gz: 'gzip' }[/\.(xz|zst|gz)$/.exec(path)?.[1] ?? ''];
    if (unpack) run('sh', ['-c', `${unpack} -dc "$1" >"$2"`, 'sh', path, out]);
    else copyFileSync(path, out);
    order.push(name);
  }
  writeFileSync(join(stage, 'modules.order'), order.map((m) => m + '\n').join(''));
  writeFileSync(join(stage, 'modules.dir'), kernel.modules + '\n');
  const cpio = join(dir, 'initramfs.cpio');
  run('sh', ['-c', `find . | ${BUSYBOX} cpio -o -H newc >"${cpio}" 2>/dev/null`], { cwd: stage });
  rmSync(stage, { recursive: true, force: true });
  return cpio;
}

export interface BootOptions {
  /** Shell script the guest runs (/bin/sh, cwd = the job directory, /run/xlb-guest). */
  job: string;
  timeoutMs: number;
  memoryMb?: number;
  cpus?: number;
  /** Each chunk of the guest's console as it arrives. */
  onConsole?: (text: string) => void;
}

export interface GuestRun {
  kernel: GuestKernel;
  /** The job's exit status; null when it never finished (timeout, guest crash). */
  status: number | null;
  timedOut: boolean;
  /** From QEMU's start until the job started (the guest prints a marker). */
  bootMs: number | null;
  totalMs: number;
  console: string;
  /** The job directory on the host (reports the job wrote are here). */
  dir: string;
}

/** Marker stage 2 of init.sh prints just before it runs the job. */
const JOB_MARKER = 'xlb-guest: job starts';

/** Boots `kernel` with `opts.job` and resolves when the guest has powered off (or was killed). */
export function bootGuest(kernel: GuestKernel, opts: BootOptions): Promise<GuestRun> {
  const dir = mkdtempSync(join(tmpdir(), `xlb-guest-${kernel.series.name}-`));
  writeFileSync(join(dir, 'job.sh'), opts.job);
  const initrd = buildInitramfs(kernel, dir);
  const args = [
    ...['-accel', 'tcg,thread=multi', '-cpu', 'max'],
    ...['-smp', String(opts.cpus ?? 2), '-m', String(opts.memoryMb ?? 2048)],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot'],
    ...['-kernel', kernel.image, '-initrd', initrd],
    ...['-append', 'console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off'],
    ...['-virtfs', 'local,path=/,mount_tag=root,readonly=on,security_model=none,multidevs=remap'],
    ...['-virtfs', `local,path=${dir},mount_tag=job,security_model=none`],
  ];
  const start = Date.now();
  const log = createWriteStream(join(dir, 'console.log'));
  return new Promise((resolve, reject) => {
    // setpriv --pdeathsig: QEMU dies with this process, even when the test runner kills it.
    const qemu = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let bootMs: number | null = null;
    let timedOut = false;
    const reader = () => {
      const utf8 = new StringDecoder('utf8'); // a character may span two chunks
      return (b: Buffer) => {
        const text = utf8.write(b);
        output += text;
        log.write(b);
        if (bootMs === null && output.includes(JOB_MARKER)) bootMs = Date.now() - start;
        opts.onConsole?.(text);
      };
    };
    qemu.stdout.on('data', reader());
    qemu.stderr.on('data', reader());
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, opts.timeoutMs);
    qemu.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`setpriv (util-linux) could not start QEMU: ${e.message}`));
    });
    qemu.on('close', () => {
      clearTimeout(timer);
      log.end();
      const statusFile = join(dir, 'status');
      const status = existsSync(statusFile) ? Number(readFileSync(statusFile, 'utf8').trim()) : null;
      resolve({ kernel, status, timedOut, bootMs, totalMs: Date.now() - start, console: output, dir });
    });
  });
}
