// The kernel layer: typed access to libbpf. No load-balancing knowledge here.
export * from './errors.js';
export { BpfObject, type BpfProgram } from './object.js';
export {
  BpfMap,
  MapType,
  UpdateFlags,
  BPF_F_INNER_MAP,
  BPF_F_MMAPABLE,
  numPossibleCpus,
  perCpuValues,
  perCpuBuffer,
} from './map.js';
export { TypedMap } from './typed-map.js';
export { BpfLink, findLinks, linkInfoByFd, LinkType } from './link.js';
export { attachXdp, xdpQuery, xdpDetachAny, type XdpMode, type XdpAttachment } from './xdp.js';
export { attachTcx, type TcAttachment } from './tc.js';
export { ifindexOf, ifnameOf } from './netif.js';
export {
  testRun,
  xdpContext,
  loadConstantXdp,
  progInfoByFd,
  progInfoById,
  XdpAction,
  TcAction,
  TEST_XDP_LIVE_FRAMES,
  type TestRunInput,
  type TestRunResult,
} from './program.js';
export { quietLibbpf } from './libbpf.js';
