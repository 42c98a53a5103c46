/**
 * Errors are values across the Worker → Durable Object boundary: an RPC returns a Result, and the HTTP
 * layer turns a failure into `{ error: { code, message } }` with its status.
 */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503;

export interface ApiError {
  readonly status: ErrorStatus;
  /** Stable snake_case code a caller can branch on. */
  readonly code: string;
  /** What went wrong and what to do about it. */
  readonly message: string;
  /** Seconds, for 429. */
  readonly retryAfter?: number;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ApiError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = (status: ErrorStatus, code: string, message: string, retryAfter?: number): { ok: false; error: ApiError } => ({
  ok: false,
  error: retryAfter === undefined ? { status, code, message } : { status, code, message, retryAfter },
});

export const townNotFound = (townId: string) =>
  fail(404, "town_not_found", `town ${townId} does not exist; create it with PUT /api/towns/${townId}`);
