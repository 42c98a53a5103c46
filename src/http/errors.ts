import type { ApiError, ErrorStatus } from "../domain/result";

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

  static from(error: ApiError): HttpError {
    return new HttpError(error.status, error.code, error.message, error.retryAfter);
  }
}

export function errorResponse(status: number, code: string, message: string, retryAfter?: number): Response {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}
