import { Toucan } from "toucan-js";
import { invariantWithId } from "../domain/invariants";
import { hours } from "../domain/budget";
import type { Alert, AlertContext } from "../domain/alerts";
import type { Logger } from "./log";

/** Delivers alerts somewhere an operator will see them. Never throws, never takes longer than its bound. */
export interface AlertSink {
  /** Delivers each alert; says which ones were accepted (the rest are tried again later). */
  deliver(alerts: ReadonlyArray<{ readonly alert: Alert; readonly context: AlertContext }>): Promise<boolean[]>;
}

/** How long one delivery may wait for Sentry before it moves on (what is not accepted by then is tried again later). */
export const SENTRY_TIMEOUT_MS = 1_500;

/**
 * Each alert becomes one Sentry event with the town, tick and entity ids as tags and context, and a
 * fingerprint that groups it per invariant (or kind) and town; it counts as delivered only when Sentry
 * answers 2xx. No DSN: alerts are logged instead (delivered, so a local run still shows them once).
 */
export function createAlertSink(dsn: string | undefined, log: Logger, timeoutMs = SENTRY_TIMEOUT_MS): AlertSink {
  if (!dsn) {
    log.info("SENTRY_DSN is not set: alerts are logged, not sent");
    return {
      async deliver(alerts) {
        for (const { alert, context } of alerts) log.warn(`alert: ${describe(alert)}`, { townId: context.townId, tickId: context.tickId, alert: alert.kind });
        return alerts.map(() => true);
      },
    };
  }
  return {
    async deliver(alerts) {
      const accepted = alerts.map(() => false);
      if (alerts.length === 0) return accepted;
      const controller = new AbortController();
      let inFlight: Promise<unknown>[] = [];
      let statuses: number[] = [];
      const toucan = sentryClient(
        dsn,
        (promise) => void inFlight.push(promise),
        // Bounded (a Sentry that hangs must not hold the tick), and watched: only a 2xx is a delivery.
        async (input, init) => {
          const response = await fetch(input, { ...init, signal: controller.signal });
          statuses.push(response.status);
          return response;
        },
      );
      const deadline = Date.now() + timeoutMs;
      for (const [i, { alert, context }] of alerts.entries()) {
        inFlight = [];
        statuses = [];
        capture(toucan, alert, context);
        if ((await settleWithin(inFlight, deadline - Date.now())) === "timeout") {
          controller.abort();
          log.warn("Sentry did not answer in time; the rest is tried again later", { townId: context.townId, alerts: alerts.length - i, timeoutMs });
          break;
        }
        accepted[i] = statuses.some((status) => status >= 200 && status < 300);
      }
      return accepted;
    },
  };
}

function capture(toucan: Toucan, alert: Alert, context: AlertContext): void {
  toucan.withScope((scope) => {
    scope.setTag("town", context.townId);
    if (context.tickId !== null) scope.setTag("tick", String(context.tickId));
    scope.setTag("alert", alert.kind);
    if ("violation" in alert) scope.setTag("invariant", String(alert.violation.invariant));
    scope.setFingerprint(fingerprint(alert, context.townId));
    scope.setContext("town", { townId: context.townId, tickId: context.tickId, ...details(alert) });
    if (alert.kind === "tick_failed")
      scope.captureException(Object.assign(new Error(alert.error.message), { name: alert.error.name, stack: alert.error.stack }));
    else scope.captureMessage(describe(alert), level(alert));
  });
}

/** The Sentry Crons monitor the watchdog sweep reports to: a sweep that stops happening is a missed check-in. */
export const WATCHDOG_MONITOR = "town-reconciler-watchdog";

/** Runs a scheduled job and tells Sentry Crons it started and how it ended. */
export interface CronMonitor {
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * A Sentry Crons monitor for a job run by the Cron Trigger `schedule` (a crontab line): an
 * `in_progress` check-in when it starts, then `ok` or `error` with its duration, each carrying the
 * monitor's config so Sentry creates the monitor on first use and knows when to expect the next run.
 * Sentry gets at most `timeoutMs` once the job is done; slow or down, it never fails the job.
 * No DSN: the run is logged instead.
 */
export function createCronMonitor(dsn: string | undefined, schedule: string, log: Logger, timeoutMs = SENTRY_TIMEOUT_MS): CronMonitor {
  const monitorConfig = {
    schedule: { type: "crontab" as const, value: schedule },
    // Minutes: a check-in up to two minutes late is not missed; a sweep running ten is stuck.
    checkinMargin: 2,
    maxRuntime: 10,
    timezone: "Etc/UTC",
  };
  if (!dsn) {
    return {
      async run(work) {
        log.debug("SENTRY_DSN is not set: the watchdog's check-ins are logged, not sent", { monitor: WATCHDOG_MONITOR });
        return work();
      },
    };
  }
  return {
    async run(work) {
      const inFlight: Promise<unknown>[] = [];
      const controller = new AbortController();
      const toucan = sentryClient(
        dsn,
        (promise) => void inFlight.push(promise),
        (input, init) => fetch(input, { ...init, signal: controller.signal }),
      );
      const checkInId = toucan.captureCheckIn({ monitorSlug: WATCHDOG_MONITOR, status: "in_progress" }, monitorConfig);
      const started = Date.now();
      const finish = async (status: "ok" | "error") => {
        toucan.captureCheckIn({ checkInId, monitorSlug: WATCHDOG_MONITOR, status, duration: (Date.now() - started) / 1000 }, monitorConfig);
        if ((await settleWithin(inFlight, timeoutMs)) === "timeout") {
          controller.abort();
          log.warn("Sentry did not answer in time; check-ins dropped", { monitor: WATCHDOG_MONITOR, timeoutMs });
        }
      };
      try {
        const result = await work();
        await finish("ok");
        return result;
      } catch (error) {
        toucan.captureException(error);
        await finish("error");
        throw error;
      }
    },
  };
}

/** Where a request the Worker failed came in: enough to find it in the logs, nothing that authenticates it. */
export interface FailedRequest {
  readonly request: Request;
  /** The route's pattern (`/api/towns/:townId/status`), or null when none matched. */
  readonly route: string | null;
  readonly requestId: string;
  /** The town the path names, when it is a valid town id. */
  readonly townId: string | null;
}

/**
 * Reports a request the Worker failed to answer (`status`, what it answers, is 5xx): an error no
 * route handled, or a 5xx of its own. An answer to a caller's mistake (4xx: bad input, a missing
 * token, an unknown town) is expected and not reported. Sent after the response has gone
 * (`ctx.waitUntil`) and given at most `timeoutMs`: a Sentry that is slow or down never holds a
 * response. No DSN: nothing is sent (the router has logged the request).
 */
export function reportFailedRequest(
  dsn: string | undefined,
  error: unknown,
  status: number,
  failed: FailedRequest,
  ctx: { waitUntil(promise: Promise<unknown>): void },
  log: Logger,
  timeoutMs = SENTRY_TIMEOUT_MS,
): void {
  if (!dsn || status < 500) return;
  const toucan = sentryClient(
    dsn,
    (sent) =>
      ctx.waitUntil(
        sent.catch((reason: unknown) => log.warn("Sentry did not take the report of a failed request", { requestId: failed.requestId, reason, timeoutMs })),
      ),
    (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    failed.request,
  );
  toucan.withScope((scope) => {
    scope.setTag("method", failed.request.method);
    if (failed.route !== null) scope.setTag("route", failed.route);
    scope.setTag("requestId", failed.requestId);
    if (failed.townId !== null) scope.setTag("town", failed.townId);
    scope.setContext("route", { method: failed.request.method, route: failed.route, requestId: failed.requestId, townId: failed.townId, status });
    scope.captureException(error);
  });
}

/**
 * Headers a report of a failed request may carry. Everything else stays out, and so do cookies, the
 * query string and the client's address (toucan sends none of them unless allowed): the
 * Authorization header, the status page's cookie and `?token=` hold tokens.
 */
const REPORTED_HEADERS = ["content-type", "content-length", "user-agent", "x-request-id", "cf-ray"];

/**
 * The one place that constructs Toucan: Sentry's requests go through `fetcher` (which bounds them)
 * and are handed to `waitUntil`; with a `request`, its method and path go along, and only the
 * headers of REPORTED_HEADERS.
 */
function sentryClient(dsn: string, waitUntil: (sent: Promise<unknown>) => void, fetcher: typeof fetch, request?: Request): Toucan {
  return new Toucan({
    dsn,
    context: { waitUntil },
    transportOptions: { fetcher },
    ...(request
      ? { request, requestDataOptions: { allowedHeaders: REPORTED_HEADERS, allowedCookies: false, allowedSearchParams: false, allowedIps: false } }
      : {}),
  });
}

/** Waits for what toucan sent, at most `timeoutMs`. */
async function settleWithin(inFlight: Promise<unknown>[], timeoutMs: number): Promise<"sent" | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  const outcome = await Promise.race([Promise.allSettled(inFlight).then(() => "sent" as const), timedOut]);
  if (timer !== undefined) clearTimeout(timer);
  return outcome;
}

function fingerprint(alert: Alert, townId: string): string[] {
  if (alert.kind === "budget_warning" || alert.kind === "budget_exhausted") return [alert.kind, townId, alert.day];
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
  if (alert.kind === "violation_open" || alert.kind === "budget_warning" || alert.kind === "storage_high") return "warning";
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
    case "budget_warning":
    case "budget_exhausted":
      return { day: alert.day, usedSeconds: Math.round(alert.usedMs / 1000), limitSeconds: Math.round(alert.limitMs / 1000), onExceeded: alert.onExceeded };
    case "storage_high":
      return { databaseBytes: alert.databaseBytes, limitBytes: alert.limitBytes, alertShare: alert.alertShare };
  }
}

export function describe(alert: Alert): string {
  switch (alert.kind) {
    case "violation_started":
      return `Invariant ${alert.violation.invariant} violated (${invariantWithId(alert.violation.invariant)?.description}): ${alert.violation.message}`;
    case "violation_open":
      return `Invariant ${alert.violation.invariant} still violated since ${new Date(alert.violation.firstSeenAt).toISOString()}: ${alert.violation.message}`;
    case "violation_resolved":
      return `Invariant ${alert.violation.invariant} resolved: ${alert.violation.message}`;
    case "event_dead_lettered":
      return `Event ${alert.eventId} (${alert.type}, seq ${alert.seq}) dead-lettered: ${alert.error}`;
    case "breaker_opened":
      return `Circuit breaker opened: ${alert.reason}`;
    case "tick_failed":
      return `Tick failed (${alert.consecutiveFailures} in a row): ${alert.error.message}`;
    case "budget_warning":
      return `Budget warning: ${hours(alert.usedMs)} of ${hours(alert.limitMs)} container hours used on ${alert.day}`;
    case "budget_exhausted":
      return `Budget exhausted: ${hours(alert.usedMs)} of ${hours(alert.limitMs)} container hours used on ${alert.day}; ${alert.onExceeded === "pause" ? "the town is paused until the next UTC day" : "the town goes on (onExceeded: warn)"}`;
    case "storage_high":
      return `Storage at ${percent(alert.databaseBytes / alert.limitBytes)} of the object's ${alert.limitBytes / 1e9} GB (alerting from ${percent(alert.alertShare)}): see docs/runbooks/storage-full.md`;
  }
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 4 : 1)}%`;
}
