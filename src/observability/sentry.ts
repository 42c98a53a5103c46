import { Toucan } from "toucan-js";
import { INVARIANTS } from "../domain/invariants";
import type { Alert, AlertContext } from "./alerts";
import type { Logger } from "./log";

/** Sends alerts somewhere an operator will see them. Never throws, never takes longer than its bound. */
export interface AlertSink {
  send(alerts: readonly Alert[], context: AlertContext): Promise<void>;
}

/** How long a tick may wait for Sentry before it moves on (the events are then dropped, and logged). */
export const SENTRY_TIMEOUT_MS = 1_500;

/**
 * The one place that constructs Toucan. Each alert becomes one Sentry event with the town, tick and
 * entity ids as tags and context, and a fingerprint that groups it per invariant (or kind) and town.
 * No DSN: alerts are logged instead, so a local run still shows them.
 */
export function createAlertSink(dsn: string | undefined, log: Logger, timeoutMs = SENTRY_TIMEOUT_MS): AlertSink {
  if (!dsn) {
    log.info("SENTRY_DSN is not set: alerts are logged, not sent");
    return {
      async send(alerts, context) {
        for (const alert of alerts) log.warn(`alert: ${describe(alert)}`, { townId: context.townId, tickId: context.tickId, alert: alert.kind });
      },
    };
  }
  return {
    async send(alerts, context) {
      if (alerts.length === 0) return;
      const inFlight: Promise<unknown>[] = [];
      const controller = new AbortController();
      const toucan = new Toucan({
        dsn,
        context: { waitUntil: (promise: Promise<unknown>) => void inFlight.push(promise) },
        transportOptions: {
          // Bounded: a Sentry that hangs must not hold the tick.
          fetcher: (input, init) => fetch(input, { ...init, signal: controller.signal }),
        },
        initialScope: { tags: { town: context.townId } },
      });
      for (const alert of alerts) {
        toucan.withScope((scope) => {
          scope.setTag("town", context.townId);
          if (context.tickId !== null) scope.setTag("tick", String(context.tickId));
          scope.setTag("alert", alert.kind);
          if ("violation" in alert) scope.setTag("invariant", String(alert.violation.invariant));
          scope.setFingerprint(fingerprint(alert, context.townId));
          scope.setContext("town", { townId: context.townId, tickId: context.tickId, ...details(alert) });
          if (alert.kind === "tick_failed" && alert.error instanceof Error) scope.captureException(alert.error);
          else scope.captureMessage(describe(alert), level(alert));
        });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      const outcome = await Promise.race([Promise.allSettled(inFlight).then(() => "sent" as const), timedOut]);
      if (timer !== undefined) clearTimeout(timer);
      if (outcome === "timeout") {
        controller.abort();
        log.warn("Sentry did not answer in time; alerts dropped", { townId: context.townId, tickId: context.tickId, alerts: alerts.length, timeoutMs });
      }
    },
  };
}

function fingerprint(alert: Alert, townId: string): string[] {
  switch (alert.kind) {
    case "violation_started":
    case "violation_open":
    case "violation_resolved":
      return [`invariant:${alert.violation.invariant}`, townId];
    default:
      return [alert.kind, townId];
  }
}

function level(alert: Alert): "error" | "warning" | "info" {
  if (alert.kind === "violation_resolved") return "info";
  if (alert.kind === "violation_open") return "warning";
  return "error";
}

function details(alert: Alert): Record<string, unknown> {
  switch (alert.kind) {
    case "violation_started":
    case "violation_open":
    case "violation_resolved": {
      const v = alert.violation;
      return { invariant: v.invariant, key: v.key, agentIds: v.agentIds, beadIds: v.beadIds, firstSeenAt: v.firstSeenAt, lastSeenAt: v.lastSeenAt };
    }
    case "event_dead_lettered":
      return { seq: alert.seq, eventId: alert.eventId, type: alert.type, error: alert.error };
    case "breaker_opened":
      return { reason: alert.reason, recentFailures: alert.recentFailures };
    case "tick_failed":
      return { consecutiveFailures: alert.consecutiveFailures };
  }
}

export function describe(alert: Alert): string {
  switch (alert.kind) {
    case "violation_started":
      return `Invariant ${alert.violation.invariant} violated (${INVARIANTS[alert.violation.invariant]}): ${alert.violation.message}`;
    case "violation_open":
      return `Invariant ${alert.violation.invariant} still violated since ${new Date(alert.violation.firstSeenAt).toISOString()}: ${alert.violation.message}`;
    case "violation_resolved":
      return `Invariant ${alert.violation.invariant} resolved: ${alert.violation.message}`;
    case "event_dead_lettered":
      return `Event ${alert.eventId} (${alert.type}, seq ${alert.seq}) dead-lettered: ${alert.error}`;
    case "breaker_opened":
      return `Circuit breaker opened: ${alert.reason}`;
    case "tick_failed":
      return `Tick failed (${alert.consecutiveFailures} in a row): ${alert.error instanceof Error ? alert.error.message : String(alert.error)}`;
  }
}
