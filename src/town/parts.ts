import type { TownStore } from "../db/town-store";
import type { AlertSink } from "../observability/sentry";
import type { Clock } from "../domain/clock";
import type { FleetReporter } from "../fleet/fleet-report";
import type { Housekeeping } from "../tick/housekeeping";
import type { Platform } from "../effects/platform";
import type { Registration } from "../fleet/registration";
import type { AlarmSchedule } from "../tick/schedule";

/** What a town object is made of beside its state: the pieces the tick and the routes share. */
export interface TownParts {
  readonly clock: Clock;
  readonly store: TownStore;
  readonly alerts: AlertSink;
  readonly platform: Platform;
  readonly schedule: AlarmSchedule;
  readonly housekeeping: Housekeeping;
  readonly registration: Registration;
  readonly reporter: FleetReporter;
}
