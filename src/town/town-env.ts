import type { PlatformSettings } from "../effects/platform";
import type { FleetBindings } from "../fleet/shards";

/** What a town object reads of the environment: its container service, the fleet's registry, Sentry and the log level. */
export interface TownEnv extends PlatformSettings, FleetBindings {
  /** Sentry DSN; unset → reporting is a logged no-op. */
  readonly SENTRY_DSN?: string;
  /** debug | info | warn | error (default info). */
  readonly LOG_LEVEL?: string;
  /**
   * The key agent tokens and dispatch credentials are signed with (a secret): the Worker checks a
   * signature before it wakes a town, so a made-up token costs no town anything. Unset: no town can
   * be created nor its token rotated (503), and every agent token is refused.
   */
  readonly SIGNING_KEY?: string;
}
