// A BPF object file: opened (the spec: programs, maps, BTF, sizes still changeable),
// then loaded into the kernel (programs verified, maps created). A failed load is a
// VerifierError carrying the verifier's log.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { layoutMismatches, type StructCodec, type StructLayout } from '../abi/codec.js';
import { enumValues, structLayout } from './btf.js';
import { KernelError, VerifierError, kernelError } from './errors.js';
import { lastErrno, libbpf, readNative, withLibbpfLog, type Ptr } from './libbpf.js';
import { BpfMap, mapInfoByFd } from './map.js';

export interface BpfProgram {
  name: string;
  fd: number;
}

export class BpfObject {
  private loaded = false;
  private closed = false;
  private readonly mapCache = new Map<string, BpfMap>();

  private constructor(
    private readonly obj: Ptr,
    readonly path: string,
  ) {}

  /** Opens an object file. Nothing reaches the kernel until load(). */
  static open(path: string): BpfObject {
    if (!existsSync(path)) {
      throw new Error(`BPF object ${path} does not exist: build it with \`make -C bpf\` (npm run build)`);
    }
    const log: string[] = [];
    const obj = withLibbpfLog(
      (_level, line) => log.push(line),
      () => libbpf().bpf_object__open_file(path, null),
    );
    if (obj === null) {
      throw new KernelError(
        `open BPF object ${path}`,
        lastErrno(),
        log.join('').trim().split('\n').pop() ?? '',
      );
    }
    return new BpfObject(obj, path);
  }

  /** Sets a map's size before load (e.g. the flow table from the config). */
  setMaxEntries(mapName: string, entries: number): void {
    if (this.loaded) throw new Error(`map '${mapName}': sizes can only change before load`);
    const rc = libbpf().bpf_map__set_max_entries(this.rawMap(mapName), entries);
    if (rc < 0) throw kernelError(`set max_entries of map '${mapName}' to ${entries}`, rc);
  }

  /**
   * Makes the object use an existing map (e.g. one pinned by an earlier daemon) instead
   * of creating it: programs loaded afterwards share its contents. Before load only.
   */
  reuseMap(mapName: string, fd: number): void {
    if (this.loaded) throw new Error(`map '${mapName}': maps can only be reused before load`);
    const rc = libbpf().bpf_map__reuse_fd(this.rawMap(mapName), fd);
    if (rc < 0) throw kernelError(`reuse pinned map '${mapName}'`, rc);
  }

  /** Loads every program and creates every map; throws VerifierError on rejection. */
  load(): void {
    const log: string[] = [];
    const rc = withLibbpfLog(
      (level, line) => {
        if (level === 0) log.push(line);
      },
      () => libbpf().bpf_object__load(this.obj),
    );
    if (rc < 0) {
      // The verifier stops at a pending signal with EAGAIN: that is no rejection of the code.
      if (-rc === constants.errno.EAGAIN) throw kernelError(`load ${this.path}`, rc);
      const text = log.join('');
      const m = /prog '([^']+)': -- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(text);
      if (m) throw new VerifierError(`load ${this.path}`, -rc, m[1] ?? '?', m[2] ?? '');
      const last = text.trim().split('\n').pop();
      throw kernelError(`load ${this.path}`, rc, last?.replace(/^libbpf: /, ''));
    }
    this.loaded = true;
  }

  program(name: string): BpfProgram {
    this.mustBeLoaded();
    const b = libbpf();
    const prog = b.bpf_object__find_program_by_name(this.obj, name);
    if (prog === null) throw new Error(`BPF object ${this.path} has no program '${name}'`);
    return { name, fd: b.bpf_program__fd(prog) };
  }

  /** A map of the loaded object; its fd belongs to the object. */
  map(name: string): BpfMap {
    this.mustBeLoaded();
    let m = this.mapCache.get(name);
    if (!m) {
      const fd = libbpf().bpf_map__fd(this.rawMap(name));
      m = new BpfMap(fd, mapInfoByFd(fd), false);
      this.mapCache.set(name, m);
    }
    return m;
  }

  /** The programs of the object, in its ELF order (open or loaded). */
  programNames(): string[] {
    const b = libbpf();
    return this.walk(
      (prev) => b.bpf_object__next_program(this.obj, prev),
      (p) => b.bpf_program__name(p),
    );
  }

  mapNames(): string[] {
    const b = libbpf();
    return this.walk(
      (prev) => b.bpf_object__next_map(this.obj, prev),
      (m) => b.bpf_map__name(m),
    );
  }

  /** The names along one of libbpf's `bpf_object__next_*` iterations. */
  private walk(next: (prev: Ptr | null) => Ptr | null, name: (item: Ptr) => string): string[] {
    const names: string[] = [];
    for (let item = next(null); item !== null; item = next(item)) names.push(name(item));
    return names;
  }

  /**
   * What the object's programs and maps use, read from the file before load (no kernel):
   * each program's type and the helpers it calls (enum bpf_func_id), each map's type and
   * flags (and its inner map's, for a map of maps).
   */
  uses(): {
    programs: { name: string; type: number; helpers: number[] }[];
    maps: { name: string; type: number; flags: number; innerFlags?: number }[];
  } {
    const b = libbpf();
    const programs = [];
    for (let p = b.bpf_object__next_program(this.obj, null); p !== null;) {
      const count = Number(b.bpf_program__insn_cnt(p));
      const insns = b.bpf_program__insns(p);
      const code = insns === null ? Buffer.alloc(0) : readNative(insns, count * 8);
      const helpers = new Set<number>();
      for (let i = 0; i < count; i++) {
        // BPF_JMP | BPF_CALL with src_reg 0 calls a helper; its id is the immediate.
        if (code[i * 8] === 0x85 && ((code[i * 8 + 1] ?? 0) & 0xf0) === 0)
          helpers.add(code.readInt32LE(i * 8 + 4));
      }
      programs.push({
        name: b.bpf_program__name(p),
        type: b.bpf_program__type(p),
        helpers: [...helpers].sort((x, y) => x - y),
      });
      p = b.bpf_object__next_program(this.obj, p);
    }
    const maps = [];
    for (let m = b.bpf_object__next_map(this.obj, null); m !== null;) {
      const inner = b.bpf_map__inner_map(m);
      maps.push({
        name: b.bpf_map__name(m),
        type: b.bpf_map__type(m),
        flags: b.bpf_map__map_flags(m),
        ...(inner === null ? {} : { innerFlags: b.bpf_map__map_flags(inner) }),
      });
      m = b.bpf_object__next_map(this.obj, m);
    }
    return { programs, maps };
  }

  /** The layout of a struct in the object's BTF. */
  structLayout(name: string): StructLayout | undefined {
    const btf = libbpf().bpf_object__btf(this.obj);
    return btf === null ? undefined : structLayout(btf, name);
  }

  /** The constants of an enum in the object's BTF. */
  enumValues(name: string): Map<string, number> | undefined {
    const btf = libbpf().bpf_object__btf(this.obj);
    return btf === null ? undefined : enumValues(btf, name);
  }

  /** Throws unless every codec matches the object's struct of the same name. */
  checkCodecs(codecs: readonly StructCodec<unknown>[]): void {
    const problems: string[] = [];
    for (const c of codecs) {
      const layout = this.structLayout(c.name);
      if (!layout) problems.push(`struct ${c.name}: not in the object's BTF`);
      else problems.push(...layoutMismatches(c, layout).map((p) => `struct ${c.name}: ${p}`));
    }
    if (problems.length) {
      throw new Error(
        `BPF object ${this.path} does not match this build of xlb (rebuild both: npm run build):\n  ${problems.join('\n  ')}`,
      );
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mapCache.clear();
    libbpf().bpf_object__close(this.obj);
  }

  private rawMap(name: string): Ptr {
    const m = libbpf().bpf_object__find_map_by_name(this.obj, name);
    if (m === null) throw new Error(`BPF object ${this.path} has no map '${name}'`);
    return m;
  }

  private mustBeLoaded(): void {
    if (!this.loaded) throw new Error(`BPF object ${this.path} is not loaded yet`);
    if (this.closed) throw new Error(`BPF object ${this.path} is closed`);
  }
}
