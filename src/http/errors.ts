import type { ErrorCode, Failure } from "../domain/result";

/** The statuses the API answers errors with (DESIGN §6). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 | 503 | 507;

/** The HTTP status of each code a town answers with: the town speaks the domain, the Worker speaks HTTP. */
const STATUS_OF: Readonly<Record<ErrorCode, ErrorStatus>> = {
  invalid_request: 400,
  history_unavailable: 400,
  invalid_token: 401,
  generation_ended: 403,
  town_not_found: 404,
  rig_not_found: 404,
  bead_not_found: 404,
  agent_not_found: 404,
  event_not_found: 404,
  town_mismatch: 409,
  rig_exists: 409,
  bead_exists: 409,
  bead_finished: 409,
  not_failed: 409,
  not_held: 409,
  not_in_progress: 409,
  dependency_cycle: 400,
  rig_has_live_work: 409,
  convoy_unfinished: 409,
  event_conflict: 409,
  event_not_dead: 409,
  idempotency_key_reused: 409,
  stale_generation: 409,
  agent_idle: 409,
  agent_retired: 409,
  replay_too_large: 413,
  history_too_large: 413,
  rate_limited: 429,
  queue_full: 429,
  event_budget_full: 429,
  registry_unavailable: 503,
  storage_full: 507,
  signing_key_missing: 503,
  internal_error: 500,
};

/** An error a handler throws to answer with `{ error: { code, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** A town's failure as the Worker answers it. */
  static from(failure: Failure): HttpError {
    return new HttpError(STATUS_OF[failure.code], failure.code, failure.message, failure.retryAfter);
  }
}

/**
 * What a handler throws for a town's failure: the caller's mistakes as their HTTP error; what the town
 * caught as the exception itself (name, message and the town's stack), which the router answers with
 * the stable 500 and reports to Sentry like any exception of the Worker's own.
 */
export function failureError(failure: Failure): Error {
  if (failure.code !== "internal_error") return HttpError.from(failure);
  const error = new Error(failure.thrown?.message ?? failure.message);
  error.name = failure.thrown?.name ?? "Error";
  if (failure.thrown?.stack) error.stack = failure.thrown.stack;
  return error;
}

export function errorResponse(status: number, code: string, message: string, retryAfter?: number): Response {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}
