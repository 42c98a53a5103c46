import type { OpenViolation } from "./violation-tracker";

/** What the town tells Sentry about: things an operator should know without watching a dashboard. */
export type Alert =
  | { readonly kind: "violation_started" | "violation_open" | "violation_resolved"; readonly violation: OpenViolation }
  | { readonly kind: "event_dead_lettered"; readonly seq: number; readonly eventId: string; readonly type: string; readonly error: string }
  | { readonly kind: "breaker_opened"; readonly reason: string; readonly recentFailures: number }
  | { readonly kind: "tick_failed"; readonly error: unknown; readonly consecutiveFailures: number };

/** Where an alert was raised. */
export interface AlertContext {
  readonly townId: string;
  readonly tickId: number | null;
}
