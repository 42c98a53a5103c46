/**
 * The response with its request id (`X-Request-ID`). Our routes' responses take the header in place:
 * copying one (new headers, a new response around its body) cost more of a batch ingest's time in the
 * Worker than routing it. A response whose headers are immutable (one fetched from elsewhere) is copied.
 */
export function withRequestId(response: Response, requestId: string): Response {
  try {
    response.headers.set("x-request-id", requestId);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set("x-request-id", requestId);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}
