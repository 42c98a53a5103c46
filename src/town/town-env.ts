import type { PlatformSettings } from "../effects/platform";
import type { FleetBindings } from "../fleet/shards";

/** What a town object reads of the environment: its container service, the fleet's registry, Sentry and the log level. */
export interface TownEnv extends PlatformSettings, FleetBindings {
  /** Sentry DSN; unset → reporting is a logged no-op. */
  readonly SENTRY_DSN?: string;
  /** debug | info | warn | error (default info). */
  readonly LOG_LEVEL?: string;
}
