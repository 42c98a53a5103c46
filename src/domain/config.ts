import { z } from "zod";

/**
 * Every threshold the reconciler uses, in one place. Towns may override any of them when they are
 * created or reconfigured; what is not overridden falls back to these defaults.
 */
export const DEFAULT_TOWN_CONFIG = {
  /** A working agent with no heartbeat for this long becomes `stalled`. */
  heartbeatTimeoutMs: 60_000,
  /** After a dispatch the container may take this long to come up; no heartbeat or `not_found` is held against it. */
  coldStartGraceMs: 120_000,
  /** A stalled agent is stopped and its bead reopened after this long. */
  stallTimeoutMs: 300_000,
  /** Idle agents with no hook are garbage-collected after this long (they become `dead` tombstones). */
  idleAgentGcMs: 86_400_000,
  /**
   * A dead agent's tombstone is forgotten after this long. Until then its late callbacks are answered
   * "retired"; after, "unknown agent" — either way refused, since agent ids are never reused.
   */
  tombstoneRetentionMs: 7 * 86_400_000,
  /** Polecats (workers) per rig, created lazily up to this cap. */
  maxPolecatsPerRig: 5,
  /** Dispatches of one bead before it is marked `failed`. */
  maxDispatchAttempts: 5,
  /** Backoff between dispatches of one bead: base * 2^(attempts-1), capped. */
  dispatchBackoffBaseMs: 10_000,
  dispatchBackoffMaxMs: 600_000,
  breaker: {
    /** Dispatch failures within the window that open the breaker. */
    failureThreshold: 5,
    windowMs: 300_000,
    /** How long the breaker stays open before one probe dispatch is allowed (half-open). */
    cooldownMs: 300_000,
  },
  /** An invariant violation that stays open is reported again at most this often. */
  violationReportCooldownMs: 3_600_000,
  /** How often the state is snapshotted (the starting points of replay). */
  snapshotIntervalMs: 3_600_000,
  /** Debug requests (dry-run, replay, dead letters) per minute per town. */
  debugRequestsPerMinute: 20,
  /** Events applied per tick at most; the rest wait for the next tick, which is scheduled soon. */
  drainBatchSize: 1_000,
  /**
   * Bounded intake (DESIGN §4.8). Events waiting at most: a batch that would take the queue past it is
   * refused whole (429 with Retry-After). A working agent's own callbacks (its dispatch credential) are
   * not held to it but to `maxPendingEventsPerAgent` each, and are drained first.
   */
  maxPendingEvents: 100_000,
  maxPendingEventsPerAgent: 1_000,
  /** Events per second each token may send (the agent token, each dispatch credential), in bursts of up to `burst`: a token bucket. */
  ingestRate: {
    eventsPerSecond: 2_000,
    burst: 10_000,
  },
  /**
   * Bytes the event log may hold (pending and kept, as `eventRetentionBytes` counts them): a batch that
   * would take it past is refused whole (429). A working agent's own callbacks have a tenth more, so
   * its final report still lands in a town someone else filled.
   */
  eventBytesBudget: 1_000_000_000,
  /** Attempts to apply an event before it is dead-lettered. */
  maxEventAttempts: 5,
  /** A pending event older than this means the queue is not draining (invariant 8). */
  maxEventAgeMs: 300_000,
  /**
   * Invariant 11 (work moves): while work waits to be dispatched or reviewed and the breaker is closed,
   * some bead must change status within this long — longer than the dispatch backoff's cap, so a bead
   * backing off is not mistaken for stuck work.
   */
  progressWindowMs: 1_800_000,
  /** Invariant 12 (no flapping): a bead may go back to open at most `maxReopens` times within `windowMs`. */
  flapping: {
    maxReopens: 3,
    windowMs: 3_600_000,
  },
  /** Processed events are kept this long (and at most this many) for replay, then pruned. */
  eventRetentionMs: 7 * 86_400_000,
  eventRetentionCount: 200_000,
  /** … and at most this many bytes (oldest applied first): retention holds the log to it, an idle town too. */
  eventRetentionBytes: 500_000_000,
  /**
   * Finished beads (closed, failed) are kept in storage this long after they finish, then deleted — unless
   * live work still refers to them. Null keeps them for good. The counts by status stay exact either way.
   */
  finishedBeadRetentionMs: null as number | null,
  /** Tick records are kept this long (and at most this many). */
  tickRetentionMs: 7 * 86_400_000,
  tickRetentionCount: 50_000,
  /** Reconcile passes per tick: later passes see what earlier passes changed. */
  maxReconcilePasses: 4,
  /**
   * How often a town with an open invariant violation looks again, and the longest wait after failed
   * ticks. A town that owes nothing (no events, side effects, simulated runs, deadlines or open
   * violations) sets no alarm at all: the watchdog is its safety net.
   */
  idleAlarmMs: 60_000,
  /** A town pushes its summary to the fleet registry after a tick at most this often while it keeps ticking (a tick after which it sleeps always reports). */
  fleetSummaryIntervalMs: 10_000,
  /** Delay between a new event and the tick that applies it (lets a burst share one tick). */
  soonMs: 50,
  /** Side effects (dispatch, stop) against the container service. */
  effectTimeoutMs: 10_000,
  effectMaxAttempts: 3,
  effectBackoffBaseMs: 1_000,
  /** An owed stop the service did not confirm is asked for again after this, doubling, at most the max (for as long as it takes). */
  stopRetryBaseMs: 30_000,
  stopRetryMaxMs: 600_000,
  /** After failed ticks in a row the town tries again after this, doubling, never later than `idleAlarmMs`. */
  failedTickBackoffBaseMs: 1_000,
  /**
   * An alert Sentry did not accept is tried again after `baseMs`, doubling, at most `maxMs` apart, and
   * dropped (logged and counted) after `maxAttempts` tries: by default the last is about five hours after the first.
   */
  alertRetry: {
    baseMs: 30_000,
    maxMs: 3_600_000,
    maxAttempts: 10,
  },
  /** An `Idempotency-Key` answers with its first answer this long (retries come within minutes; a day is generous). */
  idempotencyKeyTtlMs: 86_400_000,
  /** Retention runs this often while it keeps up (and again at once while a run could not delete all that was due). */
  retentionIntervalMs: 3_600_000,
  /**
   * Container hours the town may use per UTC day (DESIGN §4.7), or null for no budget. From `warnAt` of it
   * a warning goes to Sentry (once a day); at it, `onExceeded: "pause"` pauses the town until the next
   * UTC day (or an operator's resume) and `"warn"` only warns.
   */
  budget: null as null | { containerHoursPerDay: number; warnAt: number; onExceeded: "pause" | "warn" },
  /**
   * Past this share of the 10 GB an object holds, the town alerts (Sentry `storage_high`, again each
   * `violationReportCooldownMs` while it lasts): room to act before writes fail with `SQLITE_FULL`.
   */
  storageAlertShare: 0.8,
  /** The simulated container adapter: how long agents work and how often they fail. */
  simulation: {
    workMs: 5_000,
    failureRate: 0,
    heartbeatIntervalMs: 10_000,
  },
};

export type TownConfig = typeof DEFAULT_TOWN_CONFIG;

const ms = (max: number) => z.number().int().min(0).max(max);
const DAY = 86_400_000;

/** What a caller may override. Bounds keep a typo from freezing or flooding a town. */
export const TownConfigOverridesSchema = z
  .object({
    heartbeatTimeoutMs: ms(DAY).min(1_000),
    coldStartGraceMs: ms(DAY),
    stallTimeoutMs: ms(DAY).min(1_000),
    idleAgentGcMs: ms(30 * DAY).min(60_000),
    tombstoneRetentionMs: ms(365 * DAY).min(60_000),
    maxPolecatsPerRig: z.number().int().min(1).max(1_000),
    maxDispatchAttempts: z.number().int().min(1).max(100),
    dispatchBackoffBaseMs: ms(DAY),
    dispatchBackoffMaxMs: ms(DAY),
    breaker: z
      .object({
        failureThreshold: z.number().int().min(1).max(10_000),
        windowMs: ms(DAY).min(1_000),
        cooldownMs: ms(DAY).min(1_000),
      })
      .partial()
      .strict(),
    violationReportCooldownMs: ms(7 * DAY).min(60_000),
    snapshotIntervalMs: ms(DAY).min(60_000),
    debugRequestsPerMinute: z.number().int().min(1).max(600),
    drainBatchSize: z.number().int().min(1).max(5_000),
    // No lower than a batch (1,000 events): a bound under it would refuse every full batch.
    maxPendingEvents: z.number().int().min(1_000).max(10_000_000),
    maxPendingEventsPerAgent: z.number().int().min(1_000).max(100_000),
    ingestRate: z
      .object({
        eventsPerSecond: z.number().int().min(1).max(1_000_000),
        burst: z.number().int().min(1_000).max(10_000_000),
      })
      .partial()
      .strict(),
    eventBytesBudget: z.number().int().min(1_000_000).max(8_000_000_000),
    maxEventAttempts: z.number().int().min(1).max(100),
    maxEventAgeMs: ms(DAY).min(1_000),
    progressWindowMs: ms(7 * DAY).min(60_000),
    flapping: z
      .object({
        maxReopens: z.number().int().min(1).max(1_000),
        windowMs: ms(7 * DAY).min(60_000),
      })
      .partial()
      .strict(),
    eventRetentionMs: ms(90 * DAY).min(60_000),
    eventRetentionCount: z.number().int().min(1_000).max(10_000_000),
    eventRetentionBytes: z.number().int().min(1_000_000).max(8_000_000_000),
    finishedBeadRetentionMs: ms(3_650 * DAY)
      .min(DAY)
      .nullable(),
    tickRetentionMs: ms(90 * DAY).min(60_000),
    tickRetentionCount: z.number().int().min(100).max(1_000_000),
    maxReconcilePasses: z.number().int().min(1).max(10),
    idleAlarmMs: ms(DAY).min(1_000),
    soonMs: ms(60_000),
    fleetSummaryIntervalMs: ms(DAY).min(1_000),
    effectTimeoutMs: ms(120_000).min(100),
    effectMaxAttempts: z.number().int().min(1).max(20),
    effectBackoffBaseMs: ms(DAY),
    stopRetryBaseMs: ms(DAY).min(100),
    stopRetryMaxMs: ms(DAY).min(100),
    failedTickBackoffBaseMs: ms(60_000).min(100),
    alertRetry: z
      .object({
        baseMs: ms(DAY).min(1_000),
        maxMs: ms(7 * DAY).min(1_000),
        maxAttempts: z.number().int().min(1).max(100),
      })
      .partial()
      .strict(),
    idempotencyKeyTtlMs: ms(30 * DAY).min(60_000),
    retentionIntervalMs: ms(DAY).min(60_000),
    // Given whole (a reconfiguration replaces it); null removes it.
    budget: z
      .object({
        containerHoursPerDay: z.number().positive().max(1_000_000),
        warnAt: z.number().min(0).max(1).default(0.8),
        onExceeded: z.enum(["pause", "warn"]).default("pause"),
      })
      .strict()
      .nullable(),
    storageAlertShare: z.number().min(0).max(1),
    simulation: z
      .object({
        workMs: ms(DAY),
        failureRate: z.number().min(0).max(1),
        heartbeatIntervalMs: ms(DAY).min(100),
      })
      .partial()
      .strict(),
  })
  .partial()
  .strict();

export type TownConfigOverrides = z.infer<typeof TownConfigOverridesSchema>;

/** Defaults with the town's overrides laid over them (nested groups are merged, not replaced). */
export function resolveConfig(overrides: TownConfigOverrides = {}): TownConfig {
  return layered(DEFAULT_TOWN_CONFIG, overrides) as TownConfig;
}

/** Merges a reconfiguration into the overrides a town already has. */
export function mergeOverrides(current: TownConfigOverrides, update: TownConfigOverrides): TownConfigOverrides {
  return layered(current, update) as TownConfigOverrides;
}

/** `top` laid over `base`, one level of groups deep (the config's groups: breaker, flapping, ingestRate, alertRetry, simulation). */
function layered(base: object, top: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const under = out[key];
    // The budget is one value, not a group: a new one replaces the old whole.
    out[key] = key !== "budget" && isGroup(value) && isGroup(under) ? { ...under, ...value } : value;
  }
  return out;
}

const isGroup = (value: unknown): value is object => typeof value === "object" && value !== null && !Array.isArray(value);
