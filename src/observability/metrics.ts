/**
 * Every Prometheus metric family the town exposes, declared once: name, help, type, label names, and a
 * histogram's buckets. Writers record through these handles (`deltas.add(METRICS.actions, { type, rule }, n)`)
 * and readers read through them, so a misspelt family or a wrong or missing label is a type error rather
 * than a series that silently never appears. The exposition lists the families in this order.
 *
 * The names are public: scrape configs, the Prometheus rules (grafana/prometheus/) and the fleet's alert
 * conditions (src/fleet/fleet-alerts.ts) use them. Names follow controller-runtime's conventions.
 */

interface FamilyOf<Type extends string, L extends string> {
  readonly type: Type;
  readonly name: string;
  readonly help: string;
  /** Label names, besides the `town` label every series carries. */
  readonly labels: readonly L[];
}

/** Cumulative, persisted (never goes backwards across an eviction). */
export type CounterFamily<L extends string = string> = FamilyOf<"counter", L>;
/** Persisted too: cumulative buckets (upper bounds, Prometheus `le`), `_sum` and `_count`. */
export interface HistogramFamily<L extends string = string> extends FamilyOf<"histogram", L> {
  readonly buckets: readonly number[];
}
/** Read from the live town at each scrape. */
export type GaugeFamily<L extends string = string> = FamilyOf<"gauge", L>;
export type MetricFamily = CounterFamily | HistogramFamily | GaugeFamily;

/** The labels a series of the family must carry: exactly its label names (none: an empty object). */
export type LabelsOf<F> = F extends FamilyOf<string, infer L> ? ([L] extends [never] ? Readonly<Record<string, never>> : { readonly [K in L]: string }) : never;

const counter = <const L extends string = never>(name: string, help: string, labels: readonly L[] = []): CounterFamily<L> => ({
  type: "counter",
  name,
  help,
  labels,
});
const gauge = <const L extends string = never>(name: string, help: string, labels: readonly L[] = []): GaugeFamily<L> => ({
  type: "gauge",
  name,
  help,
  labels,
});
const histogram = <const L extends string = never>(name: string, help: string, buckets: readonly number[], labels: readonly L[] = []): HistogramFamily<L> => ({
  type: "histogram",
  name,
  help,
  labels,
  buckets,
});

export const METRICS = {
  // ---- counters -----------------------------------------------------------------------------------
  ticks: counter("town_reconciler_ticks_total", "Ticks run, by result (ok or error).", ["result"]),
  eventsDrained: counter("town_reconciler_events_drained_total", "Events taken from the queue by ticks, by event type.", ["type"]),
  eventRetries: counter("town_reconciler_event_retries_total", "Failed attempts to apply an event (each is retried, then dead-lettered)."),
  eventsDeadLettered: counter("town_reconciler_events_dead_lettered_total", "Events moved to the dead-letter state after their last attempt."),
  eventsRefused: counter(
    "town_reconciler_events_refused_total",
    "Events in batches the intake refused whole, by reason (queue_full, event_budget_full, rate_limited): counted in memory, recorded by the next tick.",
    ["reason"],
  ),
  actions: counter("town_reconciler_actions_total", "Actions emitted, by action type and the rule (or invariant repair) that produced them.", ["type", "rule"]),
  actionsRefused: counter("town_reconciler_actions_refused_total", "Actions refused because the state moved since the rule looked.", ["type", "rule"]),
  repairs: counter("town_reconciler_repairs_total", "Invariant repairs applied, by invariant.", ["invariant"]),
  invariantViolations: counter("town_reconciler_invariant_violations_total", "Invariant violations that started, by invariant.", ["invariant"]),
  sideEffects: counter("town_reconciler_side_effects_total", "Calls to the container service, by kind and outcome (ok, failed, timeout).", ["kind", "outcome"]),
  alertsSent: counter("town_reconciler_alerts_sent_total", "Alerts Sentry accepted, by kind.", ["kind"]),
  alertsDropped: counter("town_reconciler_alerts_dropped_total", "Alerts dropped after their last try without Sentry accepting them, by kind.", ["kind"]),
  afterTickFailures: counter(
    "town_reconciler_after_tick_failures_total",
    "Steps after a committed tick (alerts, side effects, snapshot, retention, schedule, records) that failed, by step.",
    ["step"],
  ),
  rowsRead: counter(
    "town_reconciler_rows_read_total",
    "SQLite rows read, as Durable Object storage bills them, by part: tick (a tick from its start to its record) or requests (requests served between ticks, and the writes that record a tick).",
    ["part"],
  ),
  rowsWritten: counter(
    "town_reconciler_rows_written_total",
    "SQLite rows written (each index update a row, each alarm set one), as Durable Object storage bills them, by part: tick or requests (as for rows read).",
    ["part"],
  ),
  containerSeconds: counter(
    "town_reconciler_container_seconds_total",
    "Container seconds the usage meter counted, by rig and role: from a dispatch's success until the agent stops working (running containers included).",
    ["rig", "role"],
  ),
  alarmRearmed: counter("town_reconciler_alarm_rearmed_total", "Times the watchdog found the town owing work with no alarm armed, and armed it again."),

  // ---- histograms (seconds) -----------------------------------------------------------------------
  tickDuration: histogram(
    "town_reconciler_tick_duration_seconds",
    "Wall clock of a tick including its side effects (Date.now advances only across I/O in production).",
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ),
  eventQueueDuration: histogram(
    "town_reconciler_event_queue_duration_seconds",
    "How long an event waited in the queue before a tick applied it.",
    [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
  ),

  // ---- gauges -------------------------------------------------------------------------------------
  eventQueueDepth: gauge("town_reconciler_event_queue_depth", "Events waiting to be applied."),
  eventQueueOldestAge: gauge("town_reconciler_event_queue_oldest_age_seconds", "Age of the oldest pending event (0 when the queue is empty)."),
  deadLetters: gauge("town_reconciler_dead_letters", "Events in the dead-letter state."),
  outboxDepth: gauge("town_reconciler_outbox_depth", "Side effects waiting to be executed or retried."),
  owedStops: gauge("town_reconciler_owed_stops", "Container stops asked for and not yet confirmed by the agent service (asked for again until they are)."),
  alertsPending: gauge("town_reconciler_alerts_pending", "Alerts waiting for Sentry to accept them."),
  breakerOpen: gauge("town_reconciler_breaker_open", "1 while the dispatch circuit breaker is open or half-open."),
  budgetUsed: gauge(
    "town_reconciler_budget_used_ratio",
    "Share of today's (UTC) container-hour budget used, running containers included (absent without a budget).",
  ),
  paused: gauge("town_reconciler_paused", "1 while the town is paused (nothing is dispatched), by who paused it (operator or budget).", ["by"]),
  invariantViolationsOpen: gauge("town_reconciler_invariant_violations_open", "Invariant violations open now, by invariant.", ["invariant"]),
  agents: gauge("town_reconciler_agents", "Agents by status.", ["status"]),
  beads: gauge("town_reconciler_beads", "Beads by status.", ["status"]),
  lastTickTimestamp: gauge("town_reconciler_last_tick_timestamp_seconds", "When the last tick ran (Unix time)."),
  lastTickAge: gauge(
    "town_reconciler_last_tick_age_seconds",
    "Since the last tick. A town that owes nothing sleeps, so this grows; alert on the overdue gauge instead.",
  ),
  lastTickDuration: gauge("town_reconciler_last_tick_duration_seconds", "Wall clock of the last tick (Date.now advances only across I/O in production)."),
  tickOverdue: gauge(
    "town_reconciler_tick_overdue_seconds",
    "How far past due the next tick is: past the alarm, or past what is owed when no alarm is set (0 when on time or asleep).",
  ),
  storageDatabaseBytes: gauge(
    "town_reconciler_storage_database_bytes",
    "Bytes of the town's SQLite database (a Durable Object holds at most 10 GB; past it every write fails).",
  ),
  storageFull: gauge("town_reconciler_storage_full", "1 while the town's storage is full (SQLITE_FULL): new work is refused with 507 until a tick commits."),
};

export type MetricKey = keyof typeof METRICS;
export type GaugeKey = { [K in MetricKey]: (typeof METRICS)[K] extends { type: "gauge" } ? K : never }[MetricKey];

/** The families in exposition order. */
export const METRIC_FAMILIES: readonly MetricFamily[] = Object.values(METRICS);

/** Labels in one canonical text form: `a="x",b="y"`, keys sorted, values escaped for Prometheus. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key]!.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`)
    .join(",");
}

/** The labels of the canonical text form, unescaped. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [, key, value] of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

/** A PromQL selector of a family's series (as the Prometheus rules write it): `name` or `name{k="v"}`. */
export function selector<F extends MetricFamily>(family: F, labels: Partial<LabelsOf<F>> = {}): string {
  const text = formatLabels(labels as Record<string, string>);
  return text ? `${family.name}{${text}}` : family.name;
}
