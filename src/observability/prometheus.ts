import { INVARIANTS } from "../domain/invariants";
import { AGENT_STATUSES, BEAD_STATUSES } from "../domain/model";
import { formatLabels } from "./counters";

/**
 * Prometheus text exposition (version 0.0.4). Counters and histograms come from the persisted
 * counters table (so they never go backwards across an eviction); gauges are read from the live town.
 * Names follow controller-runtime's conventions; every series carries a `town` label.
 */

interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
}

const COUNTERS: readonly Family[] = [
  { name: "town_reconciler_ticks_total", type: "counter", help: "Ticks run, by result (ok or error)." },
  { name: "town_reconciler_events_drained_total", type: "counter", help: "Events taken from the queue by ticks, by event type." },
  { name: "town_reconciler_event_retries_total", type: "counter", help: "Failed attempts to apply an event (each is retried, then dead-lettered)." },
  { name: "town_reconciler_events_dead_lettered_total", type: "counter", help: "Events moved to the dead-letter state after their last attempt." },
  { name: "town_reconciler_actions_total", type: "counter", help: "Actions emitted, by action type and the rule (or invariant repair) that produced them." },
  { name: "town_reconciler_actions_refused_total", type: "counter", help: "Actions refused because the state moved since the rule looked." },
  { name: "town_reconciler_repairs_total", type: "counter", help: "Invariant repairs applied, by invariant." },
  { name: "town_reconciler_invariant_violations_total", type: "counter", help: "Invariant violations that started, by invariant." },
  { name: "town_reconciler_side_effects_total", type: "counter", help: "Calls to the container service, by kind and outcome (ok, failed, timeout)." },
  { name: "town_reconciler_alerts_sent_total", type: "counter", help: "Alerts Sentry accepted, by kind." },
  { name: "town_reconciler_alerts_dropped_total", type: "counter", help: "Alerts dropped after their last try without Sentry accepting them, by kind." },
  { name: "town_reconciler_after_tick_failures_total", type: "counter", help: "Steps after a committed tick (alerts, side effects, snapshot, retention, schedule, records) that failed, by step." },
  { name: "town_reconciler_alarm_rearmed_total", type: "counter", help: "Times the watchdog found the town owing work with no alarm armed, and armed it again." },
];

const UNLABELLED = new Set(["town_reconciler_event_retries_total", "town_reconciler_events_dead_lettered_total", "town_reconciler_alarm_rearmed_total"]);

const HISTOGRAMS: readonly Family[] = [
  { name: "town_reconciler_tick_duration_seconds", type: "histogram", help: "Wall clock of a tick including its side effects (Date.now advances only across I/O in production)." },
  { name: "town_reconciler_event_queue_duration_seconds", type: "histogram", help: "How long an event waited in the queue before a tick applied it." },
];

/** A point-in-time reading of the town for the gauges. */
export interface GaugeReadings {
  readonly queueDepth: number;
  readonly oldestPendingAgeSeconds: number;
  readonly deadLetters: number;
  readonly outboxDepth: number;
  readonly alertsPending: number;
  readonly owedStops: number;
  readonly breakerOpen: boolean;
  readonly violationsOpen: Readonly<Record<string, number>>;
  readonly agents: Readonly<Record<string, number>>;
  readonly beads: Readonly<Record<string, number>>;
  readonly lastTickSeconds: number | null;
  /** Since the last tick (null: none yet). */
  readonly lastTickAgeSeconds: number | null;
  /** Wall clock of the last tick (null: none yet). */
  readonly lastTickDurationSeconds: number | null;
  /** How far past due the next tick is (0: on time, or asleep owing nothing). */
  readonly tickOverdueSeconds: number;
}

export function renderPrometheus(townId: string, counters: ReadonlyArray<{ name: string; labels: string; value: number }>, gauges: GaugeReadings): string {
  const town = formatLabels({ town: townId });
  const withTown = (labels: string) => (labels ? `${labels},${town}` : town);
  const out: string[] = [];
  const header = (family: Family) => out.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
  const sample = (name: string, labels: string, value: number) => out.push(`${name}{${labels}} ${formatNumber(value)}`);

  for (const family of COUNTERS) {
    header(family);
    const rows = counters.filter((row) => row.name === family.name);
    // A counter without labels exists from the start (at 0), so rate() has a series to work on.
    if (rows.length === 0 && UNLABELLED.has(family.name)) sample(family.name, town, 0);
    for (const row of rows) sample(family.name, withTown(row.labels), row.value);
  }
  for (const family of HISTOGRAMS) {
    header(family);
    const buckets = counters
      .filter((row) => row.name === `${family.name}_bucket`)
      .sort((a, b) => bucketBound(a.labels) - bucketBound(b.labels));
    for (const row of buckets) sample(`${family.name}_bucket`, withTown(row.labels), row.value);
    for (const suffix of ["_sum", "_count"]) {
      const row = counters.find((r) => r.name === `${family.name}${suffix}`);
      if (row || buckets.length > 0) sample(`${family.name}${suffix}`, withTown(row?.labels ?? ""), row?.value ?? 0);
    }
  }

  const gauge = (name: string, help: string, series: Array<[Record<string, string>, number]>) => {
    header({ name, type: "gauge", help });
    for (const [labels, value] of series) sample(name, withTown(formatLabels(labels)), value);
  };
  gauge("town_reconciler_event_queue_depth", "Events waiting to be applied.", [[{}, gauges.queueDepth]]);
  gauge("town_reconciler_event_queue_oldest_age_seconds", "Age of the oldest pending event (0 when the queue is empty).", [[{}, gauges.oldestPendingAgeSeconds]]);
  gauge("town_reconciler_dead_letters", "Events in the dead-letter state.", [[{}, gauges.deadLetters]]);
  gauge("town_reconciler_outbox_depth", "Side effects waiting to be executed or retried.", [[{}, gauges.outboxDepth]]);
  gauge("town_reconciler_owed_stops", "Container stops asked for and not yet confirmed by the agent service (asked for again until they are).", [[{}, gauges.owedStops]]);
  gauge("town_reconciler_alerts_pending", "Alerts waiting for Sentry to accept them.", [[{}, gauges.alertsPending]]);
  gauge("town_reconciler_breaker_open", "1 while the dispatch circuit breaker is open or half-open.", [[{}, gauges.breakerOpen ? 1 : 0]]);
  gauge(
    "town_reconciler_invariant_violations_open",
    "Invariant violations open now, by invariant.",
    Object.keys(INVARIANTS).map((invariant) => [{ invariant }, gauges.violationsOpen[invariant] ?? 0]),
  );
  gauge("town_reconciler_agents", "Agents by status.", AGENT_STATUSES.map((status) => [{ status }, gauges.agents[status] ?? 0]));
  gauge("town_reconciler_beads", "Beads by status.", BEAD_STATUSES.map((status) => [{ status }, gauges.beads[status] ?? 0]));
  if (gauges.lastTickSeconds !== null) {
    gauge("town_reconciler_last_tick_timestamp_seconds", "When the last tick ran (Unix time).", [[{}, gauges.lastTickSeconds]]);
  }
  if (gauges.lastTickAgeSeconds !== null) {
    gauge("town_reconciler_last_tick_age_seconds", "Since the last tick. A town that owes nothing sleeps, so this grows; alert on the overdue gauge instead.", [[{}, gauges.lastTickAgeSeconds]]);
  }
  if (gauges.lastTickDurationSeconds !== null) {
    gauge("town_reconciler_last_tick_duration_seconds", "Wall clock of the last tick (Date.now advances only across I/O in production).", [[{}, gauges.lastTickDurationSeconds]]);
  }
  gauge("town_reconciler_tick_overdue_seconds", "How far past due the next tick is: past the alarm, or past what is owed when no alarm is set (0 when on time or asleep).", [[{}, gauges.tickOverdueSeconds]]);
  return `${out.join("\n")}\n`;
}

function bucketBound(labels: string): number {
  const match = /le="([^"]+)"/.exec(labels);
  return !match || match[1] === "+Inf" ? Infinity : Number(match[1]);
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
