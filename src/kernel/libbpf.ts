// Raw bindings to the system libbpf (libbpf.so.1, Debian's libbpf1) and the few libc
// calls the kernel layer needs, through koffi. Nothing here knows about load balancing;
// nothing here throws on a kernel error: callers turn return codes into KernelErrors.
//
// Loaded lazily, so that code which never touches the kernel (the model, config
// validation) runs on machines without libbpf.
import koffi, { type LibraryHandle } from 'koffi';

/** Opaque libbpf object pointers (koffi 3 passes pointers as bigint). */
export type Ptr = bigint;

/** A foreign function with its TypeScript signature. */
function fn<T>(lib: LibraryHandle, decl: string): T {
  return lib.func(decl) as unknown as T;
}

export interface TestRunOptsValue {
  sz: number;
  data_in: Uint8Array | null;
  data_out: Uint8Array | null;
  data_size_in: number;
  data_size_out: number;
  ctx_in: Uint8Array | null;
  ctx_out: Uint8Array | null;
  ctx_size_in: number;
  ctx_size_out: number;
  retval: number;
  repeat: number;
  duration: number;
  flags: number;
  cpu: number;
  batch_size: number;
}

export interface XdpQueryOptsValue {
  sz: number;
  prog_id: number;
  drv_prog_id: number;
  hw_prog_id: number;
  skb_prog_id: number;
  attach_mode: number;
}

export interface TcHookValue {
  sz: number;
  ifindex: number;
  attach_point: number;
  parent: number;
}

export interface TcOptsValue {
  sz: number;
  prog_fd: number;
  flags: number;
  prog_id: number;
  handle: number;
  priority: number;
}

function bind() {
  let lib: LibraryHandle;
  try {
    lib = koffi.load('libbpf.so.1');
  } catch (e) {
    throw new Error(
      `cannot load libbpf.so.1 (${(e as Error).message}): install Debian's libbpf1 ` +
        `(apt-get install libbpf1, or run scripts/bootstrap.sh)`,
    );
  }
  const libc = koffi.load('libc.so.6');

  const TestRunOpts = koffi.struct('bpf_test_run_opts', {
    sz: 'size_t',
    data_in: 'void *',
    data_out: 'void *',
    data_size_in: 'uint32_t',
    data_size_out: 'uint32_t',
    ctx_in: 'void *',
    ctx_out: 'void *',
    ctx_size_in: 'uint32_t',
    ctx_size_out: 'uint32_t',
    retval: 'uint32_t',
    repeat: 'int',
    duration: 'uint32_t',
    flags: 'uint32_t',
    cpu: 'uint32_t',
    batch_size: 'uint32_t',
  });
  const MapCreateOpts = koffi.struct('bpf_map_create_opts', {
    sz: 'size_t',
    btf_fd: 'uint32_t',
    btf_key_type_id: 'uint32_t',
    btf_value_type_id: 'uint32_t',
    btf_vmlinux_value_type_id: 'uint32_t',
    inner_map_fd: 'uint32_t',
    map_flags: 'uint32_t',
    map_extra: 'uint64_t',
    numa_node: 'uint32_t',
    map_ifindex: 'uint32_t',
  });
  // Only `sz` and `flags` are used; the rest is kept zero, as libbpf requires.
  const LinkCreateOpts = koffi.struct('bpf_link_create_opts', {
    sz: 'size_t',
    flags: 'uint32_t',
    iter_info: 'void *',
    iter_info_len: 'uint32_t',
    target_btf_id: 'uint32_t',
    u0: 'uint64_t',
    u1: 'uint64_t',
    u2: 'uint64_t',
    u3: 'uint64_t',
    u4: 'uint64_t',
  });
  const XdpQueryOpts = koffi.struct('bpf_xdp_query_opts', {
    sz: 'size_t',
    prog_id: 'uint32_t',
    drv_prog_id: 'uint32_t',
    hw_prog_id: 'uint32_t',
    skb_prog_id: 'uint32_t',
    attach_mode: 'uint8_t',
  });
  // struct bpf_tc_hook and struct bpf_tc_opts (libbpf.h); both end in `size_t :0`, so they
  // are padded to 8 bytes, as koffi pads them.
  const TcHook = koffi.struct('bpf_tc_hook', {
    sz: 'size_t',
    ifindex: 'int',
    attach_point: 'int',
    parent: 'uint32_t',
  });
  const TcOpts = koffi.struct('bpf_tc_opts', {
    sz: 'size_t',
    prog_fd: 'int',
    flags: 'uint32_t',
    prog_id: 'uint32_t',
    handle: 'uint32_t',
    priority: 'uint32_t',
  });
  const PrintFn = koffi.proto('int libbpf_print_fn_t(int level, const char *fmt, void *ap)');

  return {
    TestRunOpts,
    MapCreateOpts,
    LinkCreateOpts,
    XdpQueryOpts,
    tcHookSize: koffi.sizeof(TcHook),
    tcOptsSize: koffi.sizeof(TcOpts),
    PrintFn,
    // libbpf: diagnostics
    libbpf_set_print: fn<(fn: unknown) => unknown>(lib, 'void *libbpf_set_print(libbpf_print_fn_t *fn)'),
    libbpf_num_possible_cpus: fn<() => number>(lib, 'int libbpf_num_possible_cpus(void)'),
    // objects and programs
    bpf_object__open_file: fn<(path: string, opts: null) => Ptr | null>(
      lib,
      'void *bpf_object__open_file(const char *path, const void *opts)',
    ),
    bpf_object__load: fn<(obj: Ptr) => number>(lib, 'int bpf_object__load(void *obj)'),
    bpf_object__close: fn<(obj: Ptr) => void>(lib, 'void bpf_object__close(void *obj)'),
    bpf_object__btf: fn<(obj: Ptr) => Ptr | null>(lib, 'void *bpf_object__btf(void *obj)'),
    bpf_object__find_program_by_name: fn<(obj: Ptr, name: string) => Ptr | null>(
      lib,
      'void *bpf_object__find_program_by_name(void *obj, const char *name)',
    ),
    bpf_object__next_program: fn<(obj: Ptr, prev: Ptr | null) => Ptr | null>(
      lib,
      'void *bpf_object__next_program(void *obj, void *prev)',
    ),
    bpf_program__name: fn<(prog: Ptr) => string>(lib, 'const char *bpf_program__name(void *prog)'),
    bpf_program__fd: fn<(prog: Ptr) => number>(lib, 'int bpf_program__fd(void *prog)'),
    bpf_program__type: fn<(prog: Ptr) => number>(lib, 'int bpf_program__type(void *prog)'),
    bpf_program__insns: fn<(prog: Ptr) => Ptr | null>(lib, 'void *bpf_program__insns(void *prog)'),
    bpf_program__insn_cnt: fn<(prog: Ptr) => number | bigint>(
      lib,
      'size_t bpf_program__insn_cnt(void *prog)',
    ),
    bpf_object__find_map_by_name: fn<(obj: Ptr, name: string) => Ptr | null>(
      lib,
      'void *bpf_object__find_map_by_name(void *obj, const char *name)',
    ),
    bpf_object__next_map: fn<(obj: Ptr, prev: Ptr | null) => Ptr | null>(
      lib,
      'void *bpf_object__next_map(void *obj, void *prev)',
    ),
    bpf_map__name: fn<(map: Ptr) => string>(lib, 'const char *bpf_map__name(void *map)'),
    bpf_map__fd: fn<(map: Ptr) => number>(lib, 'int bpf_map__fd(void *map)'),
    bpf_map__type: fn<(map: Ptr) => number>(lib, 'int bpf_map__type(void *map)'),
    bpf_map__key_size: fn<(map: Ptr) => number>(lib, 'uint32_t bpf_map__key_size(void *map)'),
    bpf_map__value_size: fn<(map: Ptr) => number>(lib, 'uint32_t bpf_map__value_size(void *map)'),
    bpf_map__max_entries: fn<(map: Ptr) => number>(lib, 'uint32_t bpf_map__max_entries(void *map)'),
    bpf_map__map_flags: fn<(map: Ptr) => number>(lib, 'uint32_t bpf_map__map_flags(void *map)'),
    bpf_map__inner_map: fn<(map: Ptr) => Ptr | null>(lib, 'void *bpf_map__inner_map(void *map)'),
    bpf_map__reuse_fd: fn<(map: Ptr, fd: number) => number>(lib, 'int bpf_map__reuse_fd(void *map, int fd)'),
    bpf_map__set_max_entries: fn<(map: Ptr, n: number) => number>(
      lib,
      'int bpf_map__set_max_entries(void *map, uint32_t n)',
    ),
    // maps by fd
    bpf_map_create: fn<
      (
        type: number,
        name: string,
        keySize: number,
        valueSize: number,
        maxEntries: number,
        opts: { sz: number; map_flags?: number; inner_map_fd?: number },
      ) => number
    >(
      lib,
      'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
    ),
    bpf_map_lookup_elem: fn<(fd: number, key: Uint8Array, value: Uint8Array) => number>(
      lib,
      'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
    ),
    bpf_map_update_elem: fn<(fd: number, key: Uint8Array, value: Uint8Array, flags: number) => number>(
      lib,
      'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
    ),
    bpf_map_delete_elem: fn<(fd: number, key: Uint8Array) => number>(
      lib,
      'int bpf_map_delete_elem(int fd, const void *key)',
    ),
    bpf_map_update_batch: fn<
      (fd: number, keys: Uint8Array, values: Uint8Array, count: number[], opts: null) => number
    >(
      lib,
      'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const void *opts)',
    ),
    bpf_map_lookup_batch: fn<
      (
        fd: number,
        inBatch: Uint8Array | null,
        outBatch: Uint8Array,
        keys: Uint8Array,
        values: Uint8Array,
        count: number[],
        opts: null,
      ) => number
    >(
      lib,
      'int bpf_map_lookup_batch(int fd, const void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const void *opts)',
    ),
    bpf_map_delete_batch: fn<(fd: number, keys: Uint8Array, count: number[], opts: null) => number>(
      lib,
      'int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const void *opts)',
    ),
    bpf_map_get_next_key: fn<(fd: number, key: Uint8Array | null, next: Uint8Array) => number>(
      lib,
      'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
    ),
    // generic objects: pins, ids, info
    bpf_obj_pin: fn<(fd: number, path: string) => number>(lib, 'int bpf_obj_pin(int fd, const char *path)'),
    bpf_obj_get: fn<(path: string) => number>(lib, 'int bpf_obj_get(const char *path)'),
    bpf_obj_get_info_by_fd: fn<(fd: number, info: Uint8Array, len: number[]) => number>(
      lib,
      'int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)',
    ),
    bpf_prog_get_fd_by_id: fn<(id: number) => number>(lib, 'int bpf_prog_get_fd_by_id(uint32_t id)'),
    bpf_map_get_fd_by_id: fn<(id: number) => number>(lib, 'int bpf_map_get_fd_by_id(uint32_t id)'),
    bpf_link_get_fd_by_id: fn<(id: number) => number>(lib, 'int bpf_link_get_fd_by_id(uint32_t id)'),
    bpf_link_get_next_id: fn<(start: number, next: number[]) => number>(
      lib,
      'int bpf_link_get_next_id(uint32_t start, _Out_ uint32_t *next)',
    ),
    // programs by fd
    bpf_prog_load: fn<
      (type: number, name: string, license: string, insns: Uint8Array, count: number, opts: null) => number
    >(
      lib,
      'int bpf_prog_load(int type, const char *name, const char *license, const void *insns, size_t cnt, const void *opts)',
    ),
    bpf_prog_test_run_opts: fn<(fd: number, opts: TestRunOptsValue) => number>(
      lib,
      'int bpf_prog_test_run_opts(int fd, _Inout_ bpf_test_run_opts *opts)',
    ),
    // links
    bpf_link_create: fn<
      (
        progFd: number,
        targetFd: number,
        attachType: number,
        opts: { sz: number; flags: number } | null,
      ) => number
    >(
      lib,
      'int bpf_link_create(int prog_fd, int target_fd, int attach_type, const bpf_link_create_opts *opts)',
    ),
    bpf_prog_query: fn<
      (
        target: number,
        type: number,
        queryFlags: number,
        attachFlags: number[] | null,
        progIds: Uint32Array,
        count: number[],
      ) => number
    >(
      lib,
      'int bpf_prog_query(int target_fd, int type, uint32_t query_flags, _Out_ uint32_t *attach_flags, void *prog_ids, _Inout_ uint32_t *prog_cnt)',
    ),
    bpf_link_detach: fn<(linkFd: number) => number>(lib, 'int bpf_link_detach(int link_fd)'),
    bpf_link_update: fn<(linkFd: number, progFd: number, opts: null) => number>(
      lib,
      'int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)',
    ),
    bpf_xdp_query: fn<(ifindex: number, flags: number, opts: XdpQueryOptsValue) => number>(
      lib,
      'int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)',
    ),
    bpf_xdp_detach: fn<(ifindex: number, flags: number, opts: null) => number>(
      lib,
      'int bpf_xdp_detach(int ifindex, uint32_t flags, const void *opts)',
    ),
    // classic TC (clsact qdisc, direct-action cls_bpf filters) through rtnetlink
    bpf_tc_hook_create: fn<(hook: TcHookValue) => number>(lib, 'int bpf_tc_hook_create(bpf_tc_hook *hook)'),
    bpf_tc_hook_destroy: fn<(hook: TcHookValue) => number>(lib, 'int bpf_tc_hook_destroy(bpf_tc_hook *hook)'),
    bpf_tc_attach: fn<(hook: TcHookValue, opts: TcOptsValue) => number>(
      lib,
      'int bpf_tc_attach(const bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)',
    ),
    bpf_tc_detach: fn<(hook: TcHookValue, opts: TcOptsValue) => number>(
      lib,
      'int bpf_tc_detach(const bpf_tc_hook *hook, const bpf_tc_opts *opts)',
    ),
    // feature probes: 1 yes, 0 no, < 0 the probe failed (-errno)
    libbpf_probe_bpf_prog_type: fn<(type: number, opts: null) => number>(
      lib,
      'int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)',
    ),
    libbpf_probe_bpf_map_type: fn<(type: number, opts: null) => number>(
      lib,
      'int libbpf_probe_bpf_map_type(int map_type, const void *opts)',
    ),
    libbpf_probe_bpf_helper: fn<(progType: number, helper: number, opts: null) => number>(
      lib,
      'int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)',
    ),
    // BTF
    btf__find_by_name_kind: fn<(btf: Ptr, name: string, kind: number) => number>(
      lib,
      'int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
    ),
    btf__type_by_id: fn<(btf: Ptr, id: number) => Ptr>(lib, 'void *btf__type_by_id(void *btf, uint32_t id)'),
    btf__name_by_offset: fn<(btf: Ptr, offset: number) => string>(
      lib,
      'const char *btf__name_by_offset(void *btf, uint32_t offset)',
    ),
    btf__resolve_size: fn<(btf: Ptr, id: number) => number | bigint>(
      lib,
      'int64_t btf__resolve_size(void *btf, uint32_t id)',
    ),
    // libc
    vsnprintf: fn<(buf: Uint8Array, n: number, fmt: string, ap: bigint) => number>(
      libc,
      'int vsnprintf(_Out_ uint8_t *buf, size_t n, const char *fmt, void *ap)',
    ),
    close: fn<(fd: number) => number>(libc, 'int close(int fd)'),
    mmap: fn<(addr: null, len: number, prot: number, flags: number, fd: number, off: number) => Ptr>(
      libc,
      'void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)',
    ),
    munmap: fn<(addr: Ptr, len: number) => number>(libc, 'int munmap(void *addr, size_t len)'),
    sysconf: fn<(name: number) => number>(libc, 'long sysconf(int name)'),
    memcpyTo: fn<(dst: Ptr, src: Uint8Array, n: number) => Ptr>(
      libc,
      'void *memcpy(void *dst, const uint8_t *src, size_t n)',
    ),
    socket: fn<(domain: number, type: number, protocol: number) => number>(
      libc,
      'int socket(int domain, int type, int protocol)',
    ),
    send: fn<(fd: number, buf: Uint8Array, len: number, flags: number) => number>(
      libc,
      'intptr_t send(int fd, const void *buf, size_t len, int flags)',
    ),
    recv: fn<(fd: number, buf: Uint8Array, len: number, flags: number) => number>(
      libc,
      'intptr_t recv(int fd, void *buf, size_t len, int flags)',
    ),
    setns: fn<(fd: number, nstype: number) => number>(libc, 'int setns(int fd, int nstype)'),
    if_nametoindex: fn<(name: string) => number>(libc, 'uint32_t if_nametoindex(const char *name)'),
    if_indextoname: fn<(index: number, buf: Uint8Array) => string | null>(
      libc,
      'char *if_indextoname(uint32_t index, _Out_ uint8_t *buf)',
    ),
  };
}

export type Libbpf = ReturnType<typeof bind>;

let bound: Libbpf | undefined;

/** The bindings, loaded on first use. */
export function libbpf(): Libbpf {
  bound ??= bind();
  return bound;
}

/** errno of the last foreign call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Reads `len` bytes at a native address (BTF records, strings). */
export function readNative(ptr: Ptr, len: number): Buffer {
  return Buffer.from(koffi.decode(ptr, koffi.array('uint8_t', len, 'Typed')) as Uint8Array);
}

// ---- libbpf's log: captured, never printed on its own ----

export type LogLevel = 0 | 1 | 2; // LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG
type LogSink = (level: LogLevel, line: string) => void;

let sink: LogSink | undefined;
let printCallback: unknown;

/**
 * Routes libbpf's messages (including the verifier log of a failed load) to `fn`
 * for the duration of `body`. Outside such a call libbpf's output is dropped.
 */
export function withLibbpfLog<T>(fn: LogSink, body: () => T): T {
  const b = libbpf();
  if (printCallback === undefined) {
    const buf = Buffer.alloc(64 * 1024);
    printCallback = koffi.register((level: number, fmt: string, ap: bigint) => {
      const n = b.vsnprintf(buf, buf.length, fmt, ap);
      const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString();
      sink?.(level as LogLevel, text);
      return 0;
    }, koffi.pointer(b.PrintFn));
    b.libbpf_set_print(printCallback);
  }
  const previous = sink;
  sink = fn;
  try {
    return body();
  } finally {
    sink = previous;
  }
}

/** Silences libbpf's default stderr printer for the life of the process. */
export function quietLibbpf(): void {
  withLibbpfLog(
    () => undefined,
    () => undefined,
  );
}
