import type { TownDO } from "./town/town.do";
import type { TownEnv } from "./town/town-env";

/**
 * The Worker's bindings and settings (wrangler.toml `[vars]`, secrets via `wrangler secret put`): what
 * the town objects read (TownEnv: container service, registry, Sentry, log level) and what only the
 * Worker's edge reads.
 */
export interface Env extends TownEnv {
  readonly TOWN: DurableObjectNamespace<TownDO>;
  /** Scope tokens (DESIGN §6). A scope whose token is unset cannot be used. */
  readonly ADMIN_TOKEN?: string;
  readonly READ_TOKEN?: string;
  readonly DEBUG_TOKEN?: string;
  /** During a rotation, the scope token's previous value, accepted as well until it is unset (DESIGN §4.8). */
  readonly ADMIN_TOKEN_PREVIOUS?: string;
  readonly READ_TOKEN_PREVIOUS?: string;
  readonly DEBUG_TOKEN_PREVIOUS?: string;
  /**
   * Where the repository's docs/runbooks/ can be read (e.g. its page on the git host): the status page
   * links each open violation's runbook under it. Unset → the page names the file instead.
   */
  readonly RUNBOOKS_URL?: string;
  /** Requests without a valid token, per client address and town (wrangler.toml [[ratelimits]]): past it, 429. */
  readonly UNAUTHENTICATED?: RateLimit;
}
