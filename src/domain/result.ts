/**
 * Errors are values across the Worker → Durable Object boundary: the town answers a Result, whose
 * failure is a stable code and a message. What HTTP status a code is, and in which order a request's
 * checks run, is the Worker's to decide (src/http/errors.ts, src/http/route.ts).
 */

/** Every code a town answers with (each has its HTTP status in src/http/errors.ts). */
export type ErrorCode =
  // the input names something impossible, or asks for what cannot be read
  | "invalid_request"
  | "history_unavailable"
  // the agent token is not this town's
  | "invalid_token"
  // a dispatch credential whose generation is over
  | "generation_ended"
  // what the request names does not exist
  | "town_not_found"
  | "rig_not_found"
  | "bead_not_found"
  | "agent_not_found"
  | "event_not_found"
  // the request conflicts with what the town holds
  | "town_mismatch"
  | "rig_exists"
  | "bead_exists"
  | "bead_finished"
  | "not_failed"
  | "not_held"
  | "not_in_progress"
  | "dependency_cycle"
  | "rig_has_live_work"
  | "convoy_unfinished"
  | "event_conflict"
  | "event_not_dead"
  | "idempotency_key_reused"
  | "stale_generation"
  | "agent_idle"
  | "agent_retired"
  // the request is too costly to answer
  | "replay_too_large"
  | "history_too_large"
  | "rate_limited"
  // bounded intake (DESIGN §4.8): the queue or the event log is at its bound, and the batch is refused whole
  | "queue_full"
  | "event_budget_full"
  // a part the town depends on is unavailable
  | "registry_unavailable"
  // the town's storage is full: it takes no new work until there is room again
  | "storage_full"
  // neither SIGNING_KEY nor ADMIN_TOKEN is configured: no agent token can be signed
  | "signing_key_missing"
  // the town failed at what it was asked: an exception it caught, carried to the Worker to report
  | "internal_error";

export interface Failure {
  /** Stable snake_case code a caller can branch on. */
  readonly code: ErrorCode;
  /** What went wrong and what to do about it. */
  readonly message: string;
  /** Seconds until trying again makes sense (rate_limited, queue_full, event_budget_full). */
  readonly retryAfter?: number;
  /** What the town caught (internal_error): the Worker reports it as the failure of the request. */
  readonly thrown?: ThrownError;
}

/** An exception as it crosses the RPC boundary: a value, so the runtime does not print it as uncaught. */
export interface ThrownError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = (code: ErrorCode, message: string, retryAfter?: number): { ok: false; error: Failure } => ({
  ok: false,
  error: retryAfter === undefined ? { code, message } : { code, message, retryAfter },
});

/**
 * An exception the town caught, as a failure: thrown out of an RPC method it would be printed by the
 * runtime as "uncaught" even though the Worker catches it, and reported twice.
 */
export function caught(error: unknown): { ok: false; error: Failure } {
  const thrown: ThrownError =
    error instanceof Error
      ? { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) }
      : { name: "Error", message: String(error) };
  return { ok: false, error: { code: "internal_error", message: thrown.message, thrown } };
}

export const townNotFound = (townId: string) => fail("town_not_found", `town ${townId} does not exist; create it with PUT /api/towns/${townId}`);

export const beadNotFound = (beadId: string) => fail("bead_not_found", `bead ${beadId} does not exist in this town`);
export const rigNotFound = (rigId: string) => fail("rig_not_found", `rig ${rigId} does not exist in this town`);
export const agentNotFound = (agentId: string) => fail("agent_not_found", `agent ${agentId} does not exist in this town`);
export const eventNotFound = (seq: number) => fail("event_not_found", `there is no event with seq ${seq} in this town`);

/** The town's storage is full (since `since`): new work waits until there is room again. */
export const storageFull = (since: number) =>
  fail(
    "storage_full",
    `the town's storage is full (SQLITE_FULL since ${new Date(since).toISOString()}): it takes no new work until a tick commits again; reads, draining and stops go on; try again later`,
  );
