import type { TownStore } from "../db/town-store";
import { doublingDelay } from "../domain/backoff";
import type { TownConfig } from "../domain/config";
import type { Alert } from "../domain/alerts";
import { CounterDeltas } from "../observability/counters";
import { METRICS } from "../observability/metrics";
import type { Logger } from "../observability/log";
import type { AlertSink } from "../observability/sentry";

/** Alerts taken per delivery; the rest wait for the next tick. */
const ALERT_BATCH = 20;

/**
 * Delivers the alerts that are due. One Sentry accepted is gone; one it did not is tried again later,
 * with backoff, and dropped — logged and counted — after its last try. An alert is never marked sent
 * before Sentry took it, so a crash or a timeout only delays it.
 */
export async function deliverAlerts(store: TownStore, sink: AlertSink, retry: TownConfig["alertRetry"], now: number, log: Logger): Promise<void> {
  const due = store.alerts.due(now, ALERT_BATCH);
  if (due.length === 0) return;
  const accepted = await sink.deliver(due);
  const dropped: Alert[] = [];
  const counters = new CounterDeltas();
  store.transaction(() => {
    due.forEach((entry, i) => {
      if (accepted[i]) {
        store.alerts.remove(entry.id);
        counters.add(METRICS.alertsSent, { kind: entry.alert.kind });
      } else if (entry.attempts + 1 >= retry.maxAttempts) {
        store.alerts.remove(entry.id);
        counters.add(METRICS.alertsDropped, { kind: entry.alert.kind });
        dropped.push(entry.alert);
      } else {
        store.alerts.retryAt(entry.id, entry.attempts + 1, now + doublingDelay(entry.attempts + 1, retry.baseMs, retry.maxMs));
      }
    });
    store.counters.add(counters.list());
  });
  for (const alert of dropped) log.error("alert dropped: Sentry did not accept it in its last try", { alert: alert.kind, attempts: retry.maxAttempts });
}
