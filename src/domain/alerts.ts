import type { OpenViolation } from "./violations";

/** What the town tells Sentry about: things an operator should know without watching a dashboard. */
export type Alert =
  | { readonly kind: "violation_started" | "violation_open" | "violation_resolved"; readonly violation: OpenViolation }
  | { readonly kind: "event_dead_lettered"; readonly seq: number; readonly eventId: string; readonly type: string; readonly error: string }
  | { readonly kind: "breaker_opened"; readonly reason: string; readonly recentFailures: number }
  | { readonly kind: "tick_failed"; readonly error: AlertError; readonly consecutiveFailures: number }
  /** The budget's verdict for the day rose to warn or stop (once each a day: the verdict only rises within one). */
  | {
      readonly kind: "budget_warning" | "budget_exhausted";
      readonly day: string;
      readonly usedMs: number;
      readonly limitMs: number;
      readonly onExceeded: "pause" | "warn";
    }
  | { readonly kind: "storage_high"; readonly databaseBytes: number; readonly limitBytes: number; readonly alertShare: number };

/** An exception as an alert keeps it: plain data, so it can wait in storage until Sentry takes it. */
export interface AlertError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export function alertError(error: unknown): AlertError {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { name: "Error", message: String(error) };
}

/** Where an alert was raised. */
export interface AlertContext {
  readonly townId: string;
  readonly tickId: number | null;
}
