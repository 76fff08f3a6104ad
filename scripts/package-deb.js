#!/usr/bin/env node
// Builds the Debian package dist/pkg/xlb_<version>_amd64.deb (`npm run package`): the
// compiled BPF objects, the CLI bundled by esbuild into one file, koffi's native addon for
// linux x64, and a Node.js runtime of its own, so that it installs on a stock Debian 12 with
// nothing else added (Debian 12's nodejs is 18; Fastify 5 needs 20 or later).
//
//   npm run package                          # dist/pkg/xlb_<package.json version>_amd64.deb
//   node scripts/package-deb.js --out DIR    # somewhere else
//   XLB_DEB_VERSION=0.1.0+1 npm run package  # another version (an upgrade to test)
//
// Reproducible: the same source gives the same bytes, wherever it is checked out. Every
// file's time is SOURCE_DATE_EPOCH (default: the last commit's time), owners are root
// (dpkg-deb --root-owner-group), modes are fixed, dpkg-deb sorts the archive, the bundle
// names files relative to the checkout, and the BPF objects' debug info too (bpf/Makefile).
// The runtime is the npm package pinned in packaging/node-runtime.json (version and
// integrity), downloaded once with `npm pack` into $XLB_BUILD_CACHE (~/.cache/xlb).
//
// Layout: /usr/bin/xlb (a launcher), /usr/lib/xlb/{node, package.json, dist/src/cli/main.js,
// dist/bpf/*.bpf.o, node_modules/@koromix/koffi-linux-x64} (the checkout's layout, so that
// src/util/paths.ts finds the objects and the version unchanged), /lib/systemd/system/
// xlb.service (contrib/), /etc/xlb/xlb.yaml (a conffile: the built-in default config),
// /usr/share/doc/xlb.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ARCH = 'amd64';
/** The BPF objects xlb loads: the data plane, the veth peers' pass program, the lab's instruments. */
const BPF_OBJECTS = ['xlb.bpf.o', 'xdp_pass.bpf.o', 'lab.bpf.o'];
/** koffi's prebuilt addon for linux x64 (glibc), as npm installs it beside koffi. */
const KOFFI_NATIVE = 'node_modules/@koromix/koffi-linux-x64';
/** dpkg-deb's compression: zstd (dpkg ≥ 1.21.18, Debian 12) at 10 packs the 125 MB runtime
 * about as small as xz -1 in a third of its time; xz -6 saves 8 MB for 20 times the time. */
const COMPRESSION = ['-Zzstd', '-z10'];

class BuildError extends Error {}

/** xlb's license (package.json: MIT), in the copyright file's indented form. */
const MIT_TEXT = `
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 and associated documentation files (the "Software"), to deal in the Software without
 restriction, including without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`.slice(1);

const say = (msg) => console.error(`package-deb: ${msg}`);

/** Runs a command; throws with its output unless it exits 0. Returns stdout. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) {
    const missing = r.error.code === 'ENOENT' ? ` (is ${cmd} installed?)` : '';
    throw new BuildError(`${cmd}: ${r.error.message}${missing}`);
  }
  if (r.status !== 0) {
    throw new BuildError(
      `\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`,
    );
  }
  return r.stdout;
}

function parseArgs(argv) {
  let out = join(root, 'dist', 'pkg');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' && argv[i + 1] !== undefined) out = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node scripts/package-deb.js [--out DIR]   (env: XLB_DEB_VERSION, SOURCE_DATE_EPOCH)',
      );
      process.exit(0);
    } else throw new BuildError(`unknown argument '${a}' (usage: node scripts/package-deb.js [--out DIR])`);
  }
  return { out };
}

/** The package's version: $XLB_DEB_VERSION or package.json's, checked against Debian's syntax. */
function packageVersion() {
  const fromEnv = process.env.XLB_DEB_VERSION;
  const version = fromEnv ?? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  if (typeof version !== 'string' || !/^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$/.test(version)) {
    const where = fromEnv === undefined ? "package.json's version" : 'XLB_DEB_VERSION';
    throw new BuildError(
      `${where} '${version}' is not a Debian version: use digits first, then letters, digits and . + ~ (e.g. 0.1.0+1)`,
    );
  }
  return version;
}

/** SOURCE_DATE_EPOCH, else the last commit's time: every file of the package gets it. */
function sourceDateEpoch() {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined) {
    if (!/^[0-9]+$/.test(env)) throw new BuildError(`SOURCE_DATE_EPOCH '${env}' is not a count of seconds`);
    return Number(env);
  }
  const r = spawnSync('git', ['-C', root, 'log', '-1', '--format=%ct'], { encoding: 'utf8' });
  const t = r.status === 0 ? r.stdout.trim() : '';
  if (!/^[0-9]+$/.test(t)) {
    throw new BuildError('no git history to date the files: set SOURCE_DATE_EPOCH (seconds since 1970)');
  }
  return Number(t);
}

function cacheDir() {
  return process.env.XLB_BUILD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'xlb');
}

const sri = (bytes) => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;

/**
 * The pinned Node.js runtime's npm tarball, from the cache or `npm pack` (the registry's
 * ordinary client); its integrity is checked against the pin either way.
 */
function nodeRuntimeTarball() {
  const pin = JSON.parse(readFileSync(join(root, 'packaging', 'node-runtime.json'), 'utf8'));
  const dir = cacheDir();
  const file = join(dir, `${pin.package}-${pin.version}.tgz`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    say(`downloading ${pin.package}@${pin.version} (once; cached in ${dir})`);
    const tmp = mkdtempSync(join(dir, '.pack-'));
    try {
      run('npm', ['pack', `${pin.package}@${pin.version}`, '--pack-destination', tmp, '--silent']);
      renameSync(join(tmp, `${pin.package}-${pin.version}.tgz`), file);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const got = sri(readFileSync(file));
  if (got !== pin.integrity) {
    rmSync(file, { force: true });
    throw new BuildError(
      `${file} does not match the integrity pinned in packaging/node-runtime.json (${got}): ` +
        'it was removed; run again to download it anew',
    );
  }
  return { ...pin, file };
}

async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch (e) {
    throw new BuildError(`cannot load esbuild (${e.message}): it is a devDependency, run npm ci`);
  }
}

/** The npm package a bundled input belongs to: its directory, relative to the checkout. */
function packageDirOf(input) {
  const i = input.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  const rest = input.slice(i + 'node_modules/'.length).split('/');
  const name = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  return `${input.slice(0, i)}node_modules/${name}`;
}

/** How xlb's code is bundled: one ES module for Node, run by the packaged runtime. */
const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Paths in the bundle stay as the checkout spells them (node_modules/…), also when
  // node_modules or a package in it is a symlink: the bundle does not depend on where
  // the checkout is.
  preserveSymlinks: true,
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies (fastify, pino, …) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as xlbCreateRequire } from 'node:module';\nconst require = xlbCreateRequire(import.meta.url);",
  },
};

/** Bundles the CLI into `outfile`; returns the npm packages inside (for the copyright file). */
async function bundle(outfile) {
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outfile,
    metafile: true,
    ...BUNDLE_OPTIONS,
  });
  const text = readFileSync(outfile, 'utf8');
  if (text.includes(root)) {
    throw new BuildError(
      `the bundle names the checkout's directory ${root}: it would not build reproducibly`,
    );
  }
  const dirs = new Set(
    Object.keys(result.metafile.inputs)
      .map(packageDirOf)
      .filter((d) => d !== undefined),
  );
  return [...dirs].sort();
}

/** A package's license texts (LICENSE, LICENCE.md, license.txt, …). */
function licenseFiles(dir) {
  return readdirSync(dir)
    .filter((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** /usr/share/doc/xlb/copyright (Debian's machine-readable format) and the license texts. */
function writeCopyright(doc, bundled, runtime) {
  const licenses = join(doc, 'licenses');
  mkdirSync(licenses, { recursive: true });
  const entries = [];
  const add = (name, version, license, files, texts) => {
    const kept = texts.map((t, i) => {
      const target = `${name.replace('/', '__')}${texts.length > 1 ? `-${i + 1}` : ''}.txt`;
      copyFileSync(t, join(licenses, target));
      return `/usr/share/doc/xlb/licenses/${target}`;
    });
    entries.push(
      [
        `Files: ${files}`,
        `Comment: ${name} ${version}`,
        `License: ${license}`,
        ...(kept.length ? [` The full text: ${kept.join(', ')}.`] : []),
      ].join('\n'),
    );
  };
  const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  entries.push(['Files: *', 'Copyright: the xlb developers', `License: ${own.license}`, MIT_TEXT].join('\n'));
  add(runtime.package, runtime.version, 'Expat and others (Node.js)', 'usr/lib/xlb/node', [runtime.license]);
  for (const dir of bundled) {
    const meta = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const files = dir.endsWith('koffi')
      ? 'usr/lib/xlb/dist/src/cli/main.js usr/lib/xlb/node_modules/*'
      : 'usr/lib/xlb/dist/src/cli/main.js';
    add(meta.name, meta.version, meta.license ?? 'see the text', files, licenseFiles(join(root, dir)));
  }
  writeFileSync(
    join(doc, 'copyright'),
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: xlb',
      'Comment: usr/lib/xlb/dist/src/cli/main.js bundles the npm packages listed below.',
      '',
      entries.join('\n\n'),
      '',
    ].join('\n'),
  );
}

/** The built-in default config (src/model/config.ts), as the example /etc/xlb/xlb.yaml. */
async function exampleConfig(scratch) {
  const esbuild = await loadEsbuild();
  const file = join(scratch, 'default-config.mjs');
  await esbuild.build({
    absWorkingDir: root,
    stdin: {
      contents: "export { DEFAULT_CONFIG_YAML } from './src/model/config.ts';",
      resolveDir: root,
      loader: 'ts',
    },
    outfile: file,
    ...BUNDLE_OPTIONS,
  });
  const { DEFAULT_CONFIG_YAML } = await import(pathToFileURL(file).href);
  return [
    '# /etc/xlb/xlb.yaml: the configuration of `xlb daemon` (systemctl enable --now xlb). Check a',
    '# change with `xlb validate /etc/xlb/xlb.yaml`; the daemon applies it by itself (it watches',
    '# this file) or on `systemctl reload xlb`. Every key is described in',
    '# /usr/share/doc/xlb/README.md (Configuration). As shipped: the tutorial setup on lo,',
    '# 127.0.0.1:9875 spread over the local ports 9876-9878.',
    '',
    DEFAULT_CONFIG_YAML,
  ].join('\n');
}

/** Every path under `dir` (files and directories), deepest first. */
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return lstatSync(p).isDirectory() ? [...walk(p), p] : [p];
  });
}

/** Fixed modes and times; returns Installed-Size in KiB (dpkg's count: files rounded up, 1 per directory). */
function normalize(stage, executables, epoch) {
  let kib = 0;
  for (const p of walk(stage)) {
    const rel = relative(stage, p);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      if (!rel.startsWith('DEBIAN')) kib += 1;
    } else {
      chmodSync(p, executables.has(rel) ? 0o755 : 0o644);
      if (!rel.startsWith('DEBIAN')) kib += Math.ceil(st.size / 1024);
    }
    utimesSync(p, epoch, epoch);
  }
  chmodSync(stage, 0o755);
  utimesSync(stage, epoch, epoch);
  return kib;
}

function md5sums(stage) {
  return walk(stage)
    .map((p) => relative(stage, p))
    .filter((rel) => !rel.startsWith('DEBIAN') && statSync(join(stage, rel)).isFile())
    .sort()
    .map(
      (rel) =>
        `${createHash('md5')
          .update(readFileSync(join(stage, rel)))
          .digest('hex')}  ${rel}\n`,
    )
    .join('');
}

const put = (stage, rel, from) => {
  mkdirSync(dirname(join(stage, rel)), { recursive: true });
  copyFileSync(from, join(stage, rel));
};

async function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const version = packageVersion();
  const epoch = sourceDateEpoch();
  const runtime = nodeRuntimeTarball();

  say('building the BPF objects');
  run('make', ['-s', '-C', join(root, 'bpf')], { stdio: ['ignore', 'ignore', 'pipe'] });

  mkdirSync(out, { recursive: true });
  const scratch = mkdtempSync(join(out, '.build-'));
  const stage = join(scratch, 'root');
  try {
    const lib = 'usr/lib/xlb';
    say('bundling the CLI (esbuild)');
    const bundled = await bundle(join(stage, lib, 'dist/src/cli/main.js'));
    for (const o of BPF_OBJECTS) put(stage, `${lib}/dist/bpf/${o}`, join(root, 'dist', 'bpf', o));
    writeFileSync(
      join(stage, lib, 'package.json'),
      `${JSON.stringify({ name: 'xlb', version, private: true, type: 'module' }, null, 2)}\n`,
    );
    for (const f of ['package.json', 'index.js', 'linux_x64/koffi.node']) {
      put(stage, `${lib}/${KOFFI_NATIVE}/${f}`, join(root, KOFFI_NATIVE, f));
    }

    run('tar', ['-xzf', runtime.file, '-C', scratch, 'package/bin/node', 'package/LICENSE']);
    put(stage, `${lib}/node`, join(scratch, 'package/bin/node'));
    const doc = join(stage, 'usr/share/doc/xlb');
    mkdirSync(doc, { recursive: true });
    writeCopyright(doc, bundled, { ...runtime, license: join(scratch, 'package/LICENSE') });

    put(stage, 'usr/bin/xlb', join(root, 'packaging/deb/xlb'));
    put(stage, 'lib/systemd/system/xlb.service', join(root, 'contrib/xlb.service'));
    mkdirSync(join(stage, 'etc/xlb'), { recursive: true });
    writeFileSync(join(stage, 'etc/xlb/xlb.yaml'), await exampleConfig(scratch));
    put(stage, 'usr/share/doc/xlb/README.md', join(root, 'README.md'));
    put(
      stage,
      'usr/share/doc/xlb/examples/grafana-dashboard.json',
      join(root, 'contrib/grafana-dashboard.json'),
    );

    const scripts = ['postinst', 'prerm', 'postrm'];
    for (const s of scripts) put(stage, `DEBIAN/${s}`, join(root, 'packaging/deb', s));
    writeFileSync(join(stage, 'DEBIAN/conffiles'), '/etc/xlb/xlb.yaml\n');
    writeFileSync(join(stage, 'DEBIAN/md5sums'), md5sums(stage));

    const executables = new Set(['usr/bin/xlb', `${lib}/node`, ...scripts.map((s) => `DEBIAN/${s}`)]);
    const installedKib = normalize(stage, executables, epoch);
    const control = readFileSync(join(root, 'packaging/deb/control'), 'utf8')
      .replace('@VERSION@', version)
      .replace('@INSTALLED_SIZE@', String(installedKib));
    writeFileSync(join(stage, 'DEBIAN/control'), control);
    chmodSync(join(stage, 'DEBIAN/control'), 0o644);
    utimesSync(join(stage, 'DEBIAN/control'), epoch, epoch);

    const deb = join(out, `xlb_${version}_${ARCH}.deb`);
    say(`dpkg-deb --build (${COMPRESSION.join(' ')})`);
    run('dpkg-deb', ['--root-owner-group', ...COMPRESSION, '--build', stage, deb], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    });
    const mb = (n) => (n / 1e6).toFixed(1);
    say(
      `${relative(process.cwd(), deb) || basename(deb)}: ${mb(statSync(deb).size)} MB, installed ${mb(installedKib * 1024)} MB`,
    );
    console.log(deb);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e) => {
  say(`error: ${e instanceof BuildError ? e.message : e.stack}`);
  process.exit(1);
});
