import type { TownDO } from "./town/town.do";
import type { TownRegistry } from "./fleet/registry.do";

/** The Worker's bindings and settings (wrangler.toml `[vars]`, secrets via `wrangler secret put`). */
export interface Env {
  readonly TOWN: DurableObjectNamespace<TownDO>;
  readonly REGISTRY: DurableObjectNamespace<TownRegistry>;
  /** Scope tokens (DESIGN §6). A scope whose token is unset cannot be used. */
  readonly ADMIN_TOKEN?: string;
  readonly READ_TOKEN?: string;
  readonly DEBUG_TOKEN?: string;
  /** `simulated` (default) or `http`. */
  readonly CONTAINER_ADAPTER?: string;
  /** The agent container service, for `CONTAINER_ADAPTER=http`. */
  readonly CONTAINER_URL?: string;
  /**
   * The agent container service as a service binding (another Worker, or an HTTP service wrangler
   * binds), for `CONTAINER_ADAPTER=http`: when bound, calls go through it rather than the public
   * network; CONTAINER_URL then only supplies the paths' base.
   */
  readonly CONTAINER_SERVICE?: Fetcher;
  /** Bearer token sent to the container service, if it wants one. */
  readonly CONTAINER_TOKEN?: string;
  /** debug | info | warn | error (default info). */
  readonly LOG_LEVEL?: string;
  /**
   * Where the repository's docs/runbooks/ can be read (e.g. its page on the git host): the status page
   * links each open violation's runbook under it. Unset → the page names the file instead.
   */
  readonly RUNBOOKS_URL?: string;
  /** Requests without a valid token, per client address and town (wrangler.toml [[ratelimits]]): past it, 429. */
  readonly UNAUTHENTICATED?: RateLimit;
  /** Sentry DSN; unset → reporting is a logged no-op. */
  readonly SENTRY_DSN?: string;
}
