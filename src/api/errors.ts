// How the daemon's error codes (src/daemon/contract.ts) answer over HTTP.
import type { ErrorCode } from '../daemon/contract.js';

/** The HTTP status of each error code. */
export const httpStatus: Readonly<Record<ErrorCode, number>> = {
  XLB_BAD_REQUEST: 400,
  XLB_INVALID_CONFIG: 422,
  XLB_NOT_FOUND: 404,
  XLB_CONFLICT: 409,
  XLB_UNAUTHORIZED: 401,
  XLB_FORBIDDEN: 403,
  XLB_NOT_READY: 503,
  XLB_KERNEL: 500,
  XLB_RELOAD_FAILED: 422,
  XLB_INTERNAL: 500,
};
