import type { CallOutcome, ContainerPort, DispatchRequest, StopRequest } from "./container-port";

/** The environment's settings for the http adapter (wrangler.toml `[vars]`, secrets, bindings). */
export interface HttpContainerSettings {
  /** The agent container service's base URL, for `CONTAINER_ADAPTER=http`. */
  readonly CONTAINER_URL?: string;
  /**
   * The agent container service as a service binding (another Worker, or an HTTP service wrangler
   * binds): when bound, calls go through it rather than the public network; CONTAINER_URL then only
   * supplies the paths' base.
   */
  readonly CONTAINER_SERVICE?: Fetcher;
  /** Bearer token sent to the container service, if it wants one. */
  readonly CONTAINER_TOKEN?: string;
}

/** The base URL when the service is bound and no CONTAINER_URL is set: a bound service ignores the host. */
const BOUND_SERVICE_BASE = "http://container-service";

/**
 * The http adapter the environment asks for: through the CONTAINER_SERVICE binding when one is bound
 * (DESIGN §4.4: "a configured URL or service binding"), else to CONTAINER_URL with the global fetch.
 */
export function httpContainerPort(env: HttpContainerSettings): HttpContainerPort {
  const service = env.CONTAINER_SERVICE;
  if (service) return new HttpContainerPort(env.CONTAINER_URL ?? BOUND_SERVICE_BASE, env.CONTAINER_TOKEN, (input, init) => service.fetch(input, init));
  if (!env.CONTAINER_URL) throw new Error("CONTAINER_ADAPTER=http needs CONTAINER_URL (the agent service base URL) or a CONTAINER_SERVICE binding");
  return new HttpContainerPort(env.CONTAINER_URL, env.CONTAINER_TOKEN);
}

/**
 * The real agent service over HTTP: `POST {base}/dispatch` and `POST {base}/stop` with a JSON body and
 * an `Idempotency-Key` (agent, generation and kind), so a retried call never starts a second container.
 */
export class HttpContainerPort implements ContainerPort {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    // Wrapped: the runtime's fetch must not be called with another `this`.
    private readonly fetcher: (input: string, init: RequestInit) => Promise<Response> = (input, init) => fetch(input, init),
  ) {}

  dispatch(request: DispatchRequest, signal: AbortSignal): Promise<CallOutcome> {
    return this.post("/dispatch", request.effectId, request, signal);
  }

  stop(request: StopRequest, signal: AbortSignal): Promise<CallOutcome> {
    return this.post("/stop", request.effectId, request, signal);
  }

  private async post(path: string, idempotencyKey: string, body: unknown, signal: AbortSignal): Promise<CallOutcome> {
    const headers: Record<string, string> = { "content-type": "application/json", "idempotency-key": idempotencyKey };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      const response = await this.fetcher(new URL(path, this.baseUrl).toString(), {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal,
      });
      if (response.ok) {
        await response.body?.cancel();
        return { outcome: "ok" };
      }
      const detail = (await response.text().catch(() => "")).slice(0, 300);
      // 408 and 429 say "try later"; other 4xx mean the request itself is wrong and will stay wrong.
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
      return { outcome: "failed", error: `HTTP ${response.status} from ${path}${detail ? `: ${detail}` : ""}`, retryable };
    } catch (error) {
      if (signal.aborted) return { outcome: "timeout", error: `no answer from ${path} in time` };
      return { outcome: "failed", error: `${path} unreachable: ${error instanceof Error ? error.message : String(error)}`, retryable: true };
    }
  }
}
