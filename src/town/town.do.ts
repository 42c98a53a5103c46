import { DurableObject } from "cloudflare:workers";
import migrations from "../../migrations/migrations.js";
import { MAX_TICK_ROWS, type AddRigInput, type CancelBeadInput, type CreateConvoyInput, type HeartbeatInput, type HistoryInput, type IngestInput, type ReplayInput, type SlingBeadInput, type TickWindowInput } from "../api/schemas";
import { agentTokenTown, digestsEqual, newAgentToken, sha256Hex } from "../auth/tokens";
import type { TickRow } from "../db/tick-store";
import { TownStore } from "../db/town-store";
import { isMigrated, migrate } from "../db/migrate";
import { mergeOverrides, resolveConfig, type TownConfigOverrides } from "../domain/config";
import { explainBead } from "../domain/explain";
import type { AgentId, BeadId, TownId } from "../domain/ids";
import { CLOSED_BREAKER, type Bead, type Rig } from "../domain/model";
import { oldestPendingAge } from "../domain/queue";
import type { Env } from "../env";
import { INVALID_AGENT_TOKEN } from "../http/auth";
import { CounterDeltas, TICK_DURATION_BUCKETS } from "../observability/counters";
import { createLogger, parseLogLevel, type Logger } from "../observability/log";
import { renderPrometheus } from "../observability/prometheus";
import { createAlertSink, type AlertSink } from "../observability/sentry";
import { summarize, tickView } from "../observability/tick-history";
import { alertError } from "../observability/alerts";
import { deliverAlerts } from "./alerting";
import { StoredArchive } from "./archive";
import { systemClock, type Clock } from "./clock";
import * as commands from "./commands";
import { shownEventId } from "./event-log";
import { exportHistory } from "./history-export";
import { Housekeeping } from "./housekeeping";
import { once, type IdempotentRequest } from "./idempotency";
import { ingestEvents, observeAgent } from "./ingest";
import { Platform } from "./platform";
import { RateLimiter } from "./rate-limiter";
import { replayWindow } from "./replay";
import { fail, ok, townNotFound, type Result } from "./result";
import type { TownRuntime } from "./runtime";
import { AlarmSchedule, failedTickBackoff, type AlarmInfo } from "./schedule";
import { FleetReporter, townSummary } from "./fleet-report";
import { ensureArmed, livenessOf, type AlarmCheck } from "./liveness";
import { owedWork, type ShellDues } from "./owed";
import { registryOf } from "../fleet/shards";
import { alarmStatus } from "./status";
import { stuckWork } from "./stuck";
import { commitTick, describeError, runTick, type TickReport } from "./tick";
import { beadDetails, beadView, countsByStatus, townView } from "./views";

type TownView = ReturnType<typeof townView>;
/** What a creating request for a bead answers: the bead as the API shows it, and whether it is new. */
type BeadAnswer = { created: boolean; value: ReturnType<typeof beadView> };
export type PutTownOutcome = { created: true; town: TownView; agentToken: string } | { created: false; town: TownView };
/** Events one debug listing returns at most. */
const MAX_DEBUG_EVENTS = 500;
/** Thrown to roll a dry run back. */
const DRY_RUN = Symbol("dry run");
/** Set while the town list does not know this town yet (its registration failed and is retried by the alarm). */
const REGISTRATION_PENDING = "registration-pending";
/** What a failed schedule step leaves (null is a schedule too: no alarm, nothing owed). */
const SCHEDULE_FAILED = Symbol("schedule failed");

/**
 * One town. A thin shell around the pure domain: it loads the working set, runs ticks on its alarm
 * (drain → reconcile → persist, then side effects, alerts, records, housekeeping, schedule), and answers
 * the API's typed RPCs. Rules live in `src/domain`, SQL in `src/db`, HTTP in `src/http`; the platform,
 * the schedule and the housekeeping are modules of their own.
 */
export class TownDO extends DurableObject<Env> {
  protected readonly clock: Clock;
  protected readonly store: TownStore;
  protected runtime: TownRuntime | null = null;
  private readonly log: Logger;
  private readonly alerts: AlertSink;
  private readonly platform: Platform;
  private readonly schedule: AlarmSchedule;
  private readonly housekeeping = new Housekeeping();
  private readonly reporter: FleetReporter;
  private readonly debugLimiter = new RateLimiter();
  private failedTicks = 0;
  private lastFailureReportAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.clock = this.createClock();
    this.store = new TownStore(ctx.storage);
    this.log = createLogger(parseLogLevel(env.LOG_LEVEL), { component: "town" });
    this.alerts = createAlertSink(env.SENTRY_DSN, this.log);
    this.platform = new Platform(env, this.store, this.clock, () => this.runtime!.state.town.config);
    this.schedule = new AlarmSchedule(ctx.storage, this.clock);
    this.reporter = new FleetReporter(env);
    void ctx.blockConcurrencyWhile(async () => this.load());
  }

  /** Where time comes from; the test worker overrides this with a clock it can move. */
  protected createClock(): Clock {
    return systemClock;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Creates the town (returning its agent token, once) or merges new config overrides into it. */
  async putTown(townId: TownId, overrides: TownConfigOverrides = {}): Promise<Result<PutTownOutcome>> {
    const now = this.clock.now();
    if (this.runtime) {
      const state = this.runtime.state;
      if (state.town.id !== townId) return fail(409, "town_mismatch", `this object holds town ${state.town.id}`);
      commands.configureTown(this.runtime, mergeOverrides(state.town.overrides, overrides), crypto.randomUUID(), now);
      // Registering again is harmless and mends a creation whose registration failed.
      await this.register(townId, state.town.createdAt);
      await this.schedule.soon(state.town.config, "town reconfigured");
      return ok<PutTownOutcome>({ created: false, town: townView(this.runtime.state.town) });
    }
    const agentToken = newAgentToken(townId);
    const tokenHash = await sha256Hex(agentToken);
    migrate(this.ctx.storage, migrations);
    const town = { id: townId, overrides, config: resolveConfig(overrides), breaker: { ...CLOSED_BREAKER, since: now }, progressAt: now, createdAt: now, updatedAt: now };
    this.store.transaction(() => this.store.state.createTown(town, tokenHash));
    const runtime = this.load()!;
    this.housekeeping.takeSnapshot(runtime, now, 0);
    // The town exists from here: it answers with its token whatever the town list says (see `register`).
    await this.register(townId, now);
    await this.schedule.soon(runtime.state.town.config, "town created");
    this.log.info("town created", { townId });
    return ok<PutTownOutcome>({ created: true, town: townView(runtime.state.town), agentToken });
  }

  /** Deletes the town: deregistered first (so a failure leaves it whole and the call can be repeated), then all its storage and its alarm. */
  async deleteTown(townId: TownId): Promise<Result<{ deleted: TownId }>> {
    if (!this.runtime) return this.notFound();
    try {
      await registryOf(this.env, townId).deregister(townId);
    } catch (error) {
      this.log.error("could not deregister the town", { townId, error });
      return fail(503, "registry_unavailable", "the town list could not be updated, so nothing was deleted; try again");
    }
    await this.schedule.clear();
    await this.ctx.storage.deleteAll();
    this.runtime = null;
    this.platform.reset();
    this.reporter.reset();
    this.failedTicks = 0;
    this.log.info("town deleted", { townId });
    return ok({ deleted: townId });
  }

  /** A new agent token (returned once); the old one stops working at once. */
  async rotateAgentToken(townId: TownId): Promise<Result<{ agentToken: string }>> {
    if (!this.runtime) return this.notFound();
    const agentToken = newAgentToken(townId);
    const hash = await sha256Hex(agentToken);
    this.store.state.setAgentTokenHash(hash);
    this.log.info("agent token rotated", { townId });
    return ok({ agentToken });
  }

  // ---- work ----------------------------------------------------------------------------------------

  async addRig(input: AddRigInput, idempotency?: IdempotentRequest) {
    return this.command(
      (runtime, now) => once<commands.Created<Rig>>(runtime, idempotency, "rigs", now, (remember) => commands.addRig(runtime, input, crypto.randomUUID(), now, remember)),
      "rig added",
    );
  }

  async slingBead(input: SlingBeadInput, idempotency?: IdempotentRequest) {
    return this.command(
      (runtime, now) =>
        once<BeadAnswer>(runtime, idempotency, "beads", now, (remember) => {
          const asView = (created: commands.Created<Bead>) => ({ created: created.created, value: beadView(created.value) });
          const result = commands.slingBead(runtime, input, crypto.randomUUID(), now, remember && ((created) => remember(asView(created))));
          return result.ok ? ok(asView(result.value)) : result;
        }),
      "bead slung",
    );
  }

  async createConvoy(input: CreateConvoyInput, idempotency?: IdempotentRequest) {
    return this.command(
      (runtime, now) =>
        once<BeadAnswer>(runtime, idempotency, "convoys", now, (remember) => {
          const asView = (created: commands.Created<Bead>) => ({ created: created.created, value: beadView(created.value) });
          const result = commands.createConvoy(runtime, input, crypto.randomUUID(), now, remember && ((created) => remember(asView(created))));
          return result.ok ? ok(asView(result.value)) : result;
        }),
      "convoy created",
    );
  }

  async cancelBead(beadId: BeadId, input: CancelBeadInput) {
    return this.command((runtime, now) => {
      const result = commands.cancelBead(runtime, beadId, input, now);
      return result.ok ? ok(beadView(result.value)) : result;
    }, "bead cancelled");
  }

  /** A bead with what surrounds it, whether it is in play or long finished. */
  async getBead(beadId: BeadId) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const live = runtime.state.liveBead(beadId);
    if (live) return ok(beadDetails(runtime, live, this.store.state.beadBody(beadId)));
    const stored = this.store.state.storedBead(beadId);
    if (!stored) return fail(404, "bead_not_found", `bead ${beadId} does not exist in this town`);
    const { body, ...bead } = stored;
    return ok(beadDetails(runtime, bead, body));
  }

  // ---- agents ----------------------------------------------------------------------------------------

  /** Agent callbacks, logged for the next tick. */
  async ingestEvents(agentToken: string, input: IngestInput) {
    const runtime = this.runtime;
    const denied = await this.checkAgentToken(agentToken);
    if (denied || !runtime) return denied!;
    const result = ingestEvents(runtime, input, this.clock.now());
    if (result.ok && result.value.accepted > 0) await this.schedule.soon(runtime.state.town.config, `${result.value.accepted} event(s) ingested`);
    return result;
  }

  /** A heartbeat / container status observation. */
  async heartbeat(agentToken: string, agentId: AgentId, input: HeartbeatInput) {
    const runtime = this.runtime;
    const denied = await this.checkAgentToken(agentToken);
    if (denied || !runtime) return denied!;
    const { result, logged } = observeAgent(runtime, agentId, input, this.clock.now());
    if (logged) await this.schedule.soon(runtime.state.town.config, `container of ${agentId}@${input.generation} reported ${input.containerStatus ?? "running"}`);
    return result;
  }

  // ---- observability -----------------------------------------------------------------------------

  /** getAlarmStatus (DESIGN §5). */
  async status() {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const now = this.clock.now();
    const alarm = await this.schedule.current();
    const status = alarmStatus(runtime, now, alarm);
    return ok({ ...status, liveness: livenessOf(runtime, now, alarm, status.lastTick?.at ?? null, this.shellDues()) });
  }

  /**
   * The tick history of a window (default: the last hour), oldest first: its newest `limit` ticks
   * (default and most: MAX_TICK_ROWS), with `truncated` set when the window held more.
   */
  async ticks(window: TickWindowInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const { from, to, limit } = this.resolveWindow(window);
    const { rows, truncated } = this.newestTicks(from, to, limit);
    return ok({ townId: runtime.state.town.id, from, to, truncated, ticks: rows.map(tickView) });
  }

  /** Aggregates of each tick metric over the newest ticks of a window (`truncated` as for `ticks`). */
  async ticksSummary(window: TickWindowInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const { from, to, limit } = this.resolveWindow(window);
    const { rows, truncated } = this.newestTicks(from, to, limit);
    return ok({ townId: runtime.state.town.id, from, to, ticks: rows.length, truncated, metrics: summarize(rows.map(tickView)) });
  }

  /** Prometheus text exposition. */
  async metrics() {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const now = this.clock.now();
    const queue = this.store.events.queueStats();
    const { agents, beads } = countsByStatus(runtime.state);
    const violationsOpen: Record<string, number> = {};
    for (const v of runtime.openViolations.values()) violationsOpen[v.invariant] = (violationsOpen[v.invariant] ?? 0) + 1;
    const lastTick = this.store.ticks.last();
    const lastTickAt = lastTick?.at ?? null;
    const liveness = livenessOf(runtime, now, await this.schedule.current(), lastTickAt, this.shellDues());
    return ok(
      renderPrometheus(runtime.state.town.id, this.store.counters.all(), {
        queueDepth: queue.pending,
        oldestPendingAgeSeconds: (oldestPendingAge(queue.oldestPendingAt, now) ?? 0) / 1000,
        deadLetters: queue.dead,
        outboxDepth: this.store.outbox.size(),
        alertsPending: this.store.alerts.size(),
        owedStops: [...runtime.state.owedStops()].length,
        breakerOpen: runtime.state.town.breaker.status !== "closed",
        violationsOpen,
        agents,
        beads,
        lastTickSeconds: lastTickAt === null ? null : lastTickAt / 1000,
        lastTickAgeSeconds: liveness.lastTickAgeMs === null ? null : liveness.lastTickAgeMs / 1000,
        lastTickDurationSeconds: lastTick ? lastTick.durationMs / 1000 : null,
        tickOverdueSeconds: liveness.overdueMs / 1000,
      }),
    );
  }

  /** Failed beads and beads that are not moving, with why (the status page's first section). */
  async stuckWork(limit: number) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    return ok(stuckWork(runtime, this.clock.now(), limit));
  }

  /**
   * The watchdog asks: is the alarm armed for what the town owes? Sets it again if not (counted and
   * logged), then reports to the fleet registry, so the registry's picture of this town is fresh.
   */
  async ensureAlarm(): Promise<Result<AlarmCheck>> {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const now = this.clock.now();
    const log = this.log.with({ townId: runtime.state.town.id });
    const check = await ensureArmed(runtime, now, this.schedule, this.shellDues());
    if (check.outcome === "rearmed") log.warn("alarm re-armed by the watchdog", { at: check.alarm.at, owed: check.owed.reason, owedSince: check.owed.at });
    const alarm = check.outcome === "asleep" ? null : check.alarm;
    const last = this.store.ticks.last();
    try {
      await this.reporter.push(townSummary(runtime, now, last, alarm?.at ?? null));
    } catch (error) {
      log.error("could not report to the fleet registry", { error });
    }
    return ok(check);
  }

  // ---- debugging -------------------------------------------------------------------------------

  /** Why a bead is or is not moving now (a finished one too). */
  async explainBead(beadId: BeadId) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const bead = runtime.state.bead(beadId);
    if (!bead) return fail(404, "bead_not_found", `bead ${beadId} does not exist in this town`);
    return ok(explainBead(runtime.state, bead, this.clock.now()));
  }

  /**
   * What the next tick would do: the very tick code (same drain, same config, same rules), inside a
   * transaction that is rolled back, with the in-memory state rolled back with it. Changes nothing.
   */
  async reconcileDryRun() {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const limited = this.rateLimit(runtime);
    if (limited) return limited;
    const now = this.clock.now();
    const mark = runtime.state.mark();
    const restoreFocus = runtime.state.saveFocus();
    let report: TickReport | undefined;
    try {
      this.store.transaction(() => {
        report = runTick(runtime, now);
        throw DRY_RUN;
      });
    } catch (error) {
      if (error !== DRY_RUN) throw error;
    } finally {
      runtime.state.rollbackTo(mark);
      restoreFocus();
    }
    const tick = report!;
    const outcomes = new Map(tick.advance.events.map((e) => [e.seq, e]));
    return ok({
      townId: runtime.state.town.id,
      now,
      events: tick.drained.map((row) => ({
        seq: row.seq,
        eventId: row.eventId,
        type: row.type,
        agentId: row.agentId,
        beadId: row.beadId,
        createdAt: row.createdAt,
        attempts: row.attempts,
        outcome: outcomes.get(row.seq) ?? { seq: row.seq, outcome: "failed", detail: "unparsable" },
      })),
      actions: tick.advance.actions.map(({ action, refusal }) => (refusal === null ? action : { ...action, refused: refusal })),
      repairs: tick.repairs.map(({ action }) => action),
      effects: tick.advance.effects,
      violations: { open: tick.violations.open.length, started: tick.violations.started, resolved: tick.violations.resolved.map((v) => v.key) },
      metrics: { ...tickView({ ...tick.record, id: tick.tickId } as TickRow), id: null },
      wake: tick.advance.wake,
    });
  }

  /** Replays the logged history of a window without touching the live town (see replay.ts). */
  async replayEvents(window: ReplayInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const limited = this.rateLimit(runtime);
    if (limited) return limited;
    return replayWindow(this.store, window.from, window.to, this.clock.now());
  }

  /** The recorded history of a window as a replay bundle, streamed (see history-export.ts). */
  async exportHistory(query: HistoryInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const limited = this.rateLimit(runtime);
    if (limited) return limited;
    return exportHistory(this.store, runtime.state.town.id, query.from, query.to, this.clock.now(), query.bodies === "1");
  }

  /** Dead-lettered (or pending) events with their errors. */
  async debugEvents(status: "dead" | "pending") {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const limited = this.rateLimit(runtime);
    if (limited) return limited;
    const events = this.store.events.withStatus(status, MAX_DEBUG_EVENTS);
    const queue = this.store.events.queueStats();
    return ok({
      townId: runtime.state.town.id,
      status,
      count: status === "dead" ? queue.dead : queue.pending,
      events: events.map((e) => ({ ...e, ...shownEventId(e.eventId), payload: safeJson(e.payload) })),
    });
  }

  /** Puts a dead-lettered event back in the queue. */
  async retryDeadLetter(seq: number) {
    return this.command((runtime, now) => commands.retryDeadLetter(runtime, seq, crypto.randomUUID(), now), `dead letter ${seq} retried`);
  }

  /** Drops a dead-lettered event for good. */
  async discardDeadLetter(seq: number) {
    return this.command((runtime, now) => commands.discardDeadLetter(runtime, seq, crypto.randomUUID(), now), `dead letter ${seq} discarded`);
  }

  // ---- the tick -----------------------------------------------------------------------------------

  /**
   * One tick: let the (simulated) platform report, run the transactional tick, then the steps that
   * follow a committed tick — each on its own, so one that fails costs only itself (it is logged and
   * counted): tell Sentry, execute side effects, snapshot, retention, registration, schedule the next
   * alarm, and record what the tick did. Never throws: a failed tick is recorded and retried on our own
   * backoff (a throwing alarm is retried a few times by the platform, then dropped).
   */
  override async alarm(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime) return;
    const now = this.clock.now();
    const startedAt = Date.now();
    const log = this.log.with({ townId: runtime.state.town.id });
    this.schedule.beginTick();
    const simulatedWake = await this.step("simulated platform", log, [], () => this.platform.reportSimulated(runtime, now), null);

    let report: TickReport;
    try {
      report = commitTick(runtime, now);
    } catch (error) {
      await this.tickFailed(runtime, now, startedAt, error, log);
      return;
    }
    this.failedTicks = 0;
    const tickLog = log.with({ tickId: report.tickId });
    const failed: string[] = [];
    for (const alert of report.alerts) {
      if (alert.kind === "event_dead_lettered") tickLog.error("event dead-lettered", { seq: alert.seq, eventId: alert.eventId, type: alert.type });
    }
    await this.step("alerts", tickLog, failed, () => deliverAlerts(this.store, this.alerts, now, tickLog), undefined);
    const effects = await this.step("side effects", tickLog, failed, () => this.platform.runEffects(runtime), null);
    await this.step("snapshot", tickLog, failed, () => this.housekeeping.snapshotIfDue(runtime, now, report.tickId), undefined);
    await this.step("retention", tickLog, failed, () => this.housekeeping.pruneIfDue(runtime, now), null);
    await this.step("registration", tickLog, failed, () => this.retryRegistration(runtime), undefined);
    const config = runtime.state.town.config;
    // A summary goes to the fleet after this tick unless one went too recently: then it is owed.
    const summaryHeldBack = this.reporter.heldBackUntil(now, config);
    const wake = await this.step<AlarmInfo | null | typeof SCHEDULE_FAILED>(
      "schedule",
      tickLog,
      failed,
      () => {
        const dues = { simulatedAt: simulatedWake, summaryAt: summaryHeldBack, registrationPending: this.registrationPending() };
        return this.schedule.next(config, owedWork(runtime, now, this.store.events.queueStats(), report.advance.wake, dues));
      },
      SCHEDULE_FAILED,
    );
    const next = wake === SCHEDULE_FAILED ? null : wake;
    const durationMs = Date.now() - startedAt;
    await this.step("records", tickLog, failed, () => {
      const counters = new CounterDeltas().observe("town_reconciler_tick_duration_seconds", {}, durationMs / 1000, TICK_DURATION_BUCKETS);
      for (const { kind, outcome } of effects?.outcomes ?? []) counters.add("town_reconciler_side_effects_total", { kind, outcome });
      for (const step of failed) counters.add("town_reconciler_after_tick_failures_total", { step });
      this.store.transaction(() => {
        this.store.ticks.finish(report.tickId, {
          durationMs,
          effectsAttempted: effects?.attempted ?? 0,
          effectsSucceeded: effects?.succeeded ?? 0,
          effectsFailed: effects?.failed ?? 0,
          nextAlarmAt: next?.at ?? null,
          nextAlarmReason: next?.reason ?? (wake === null ? "none: the town owes nothing and sleeps" : null),
        });
        this.store.counters.add(counters.list());
      });
    }, undefined);
    // Whatever failed above, the town must wake again.
    if (wake === SCHEDULE_FAILED) await this.schedule.set(now + failedTickBackoff(1, config), "retry after a failed schedule");
    if (summaryHeldBack === null) {
      const sent = await this.step("fleet summary", tickLog, [], async () => {
        await this.reporter.push(townSummary(runtime, now, { at: now, durationMs }, wake === SCHEDULE_FAILED ? now : (next?.at ?? null)));
        return true;
      }, false);
      // The registry must get the town's last word: try again — not sooner than the idle poll, so a
      // registry that is down is not hammered by every town at once.
      if (!sent) await this.schedule.byLatest(now + Math.max(config.fleetSummaryIntervalMs, config.idleAlarmMs), "fleet summary retry");
    }
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** Loads the town's working set (nothing if no town was ever created here). */
  protected load(): TownRuntime | null {
    if (!isMigrated(this.ctx.storage)) return null;
    try {
      migrate(this.ctx.storage, migrations);
    } catch (error) {
      this.log.error("migration failed", { error });
      throw error;
    }
    const archive = new StoredArchive(this.store.state);
    const loaded = this.store.state.loadState(archive);
    if (!loaded) return null;
    const { state, observations } = loaded;
    // Finished beads an older version (or a hand edit) left in the working set are archived now.
    if (state.settledAtLoad.length > 0) this.store.transaction(() => this.store.state.archive(state.settledAtLoad, state.finished));
    this.runtime = {
      store: this.store,
      state,
      archive,
      observations,
      observedSinceTick: new Set(),
      lastSnapshotAt: this.store.snapshots.lastAt(),
      openViolations: new Map(this.store.violations.open().map((v) => [v.key, v])),
    };
    return this.runtime;
  }

  /** Runs one step after a committed tick: a failure is logged and counted, and the step's fallback used. */
  private async step<T>(name: string, log: Logger, failed: string[], work: () => T | Promise<T>, fallback: T): Promise<T> {
    try {
      return await work();
    } catch (error) {
      failed.push(name);
      log.error(`${name} failed`, { error });
      return fallback;
    }
  }

  /** Adds the town to the town list; if that fails the town still exists, and the alarm tries again. */
  private async register(townId: TownId, createdAt: number): Promise<void> {
    try {
      await registryOf(this.env, townId).register(townId, createdAt);
      this.ctx.storage.kv.delete(REGISTRATION_PENDING);
    } catch (error) {
      this.ctx.storage.kv.put(REGISTRATION_PENDING, true);
      this.log.error("could not register the town; the alarm will try again", { townId, error });
    }
  }

  private registrationPending(): boolean {
    return this.ctx.storage.kv.get(REGISTRATION_PENDING) === true;
  }

  /** What the town's alarm must cover beside its state and storage (for the watchdog and the liveness figures). */
  private shellDues(): ShellDues {
    return { simulatedAt: this.platform.nextSimulatedReport(), summaryAt: null, registrationPending: this.registrationPending() };
  }

  private async retryRegistration(runtime: TownRuntime): Promise<void> {
    if (!this.registrationPending()) return;
    await this.register(runtime.state.town.id, runtime.state.town.createdAt);
  }

  private async tickFailed(runtime: TownRuntime, now: number, startedAt: number, error: unknown, log: Logger): Promise<void> {
    this.failedTicks += 1;
    const config = runtime.state.town.config;
    const delay = failedTickBackoff(this.failedTicks, config);
    const reason = `retry after failed tick (${this.failedTicks} in a row)`;
    log.error("tick failed", { error, consecutiveFailures: this.failedTicks });
    // The first failure of a streak is reported, then at most once per cooldown while it lasts.
    const report = this.failedTicks === 1 || now - this.lastFailureReportAt >= config.violationReportCooldownMs;
    try {
      this.store.transaction(() => {
        this.store.ticks.insertFailed(now, describeError(error), Date.now() - startedAt, runtime.state.town.breaker.status, now + delay, reason, this.store.events.queueStats());
        this.store.counters.add(new CounterDeltas().add("town_reconciler_ticks_total", { result: "error" }).list());
        if (report) this.store.alerts.enqueue([{ kind: "tick_failed", error: alertError(error), consecutiveFailures: this.failedTicks }], { townId: runtime.state.town.id, tickId: null }, now);
      });
      if (report) this.lastFailureReportAt = now;
      await deliverAlerts(this.store, this.alerts, now, log);
    } catch (recordError) {
      log.error("could not record the failed tick", { error: recordError });
    }
    await this.schedule.set(now + delay, reason);
  }

  /** Debug routes are bounded per town: a 429 with Retry-After when a caller is too eager. */
  private rateLimit(runtime: TownRuntime) {
    const verdict = this.debugLimiter.take(this.clock.now(), runtime.state.town.config.debugRequestsPerMinute);
    if (verdict.ok) return null;
    return fail(429, "rate_limited", `too many debug requests for this town; try again in ${verdict.retryAfterSeconds} s`, verdict.retryAfterSeconds);
  }

  private resolveWindow(window: TickWindowInput): { from: number; to: number; limit: number } {
    const to = window.to ?? this.clock.now();
    return { from: window.from ?? to - 3_600_000, to, limit: window.limit ?? MAX_TICK_ROWS };
  }

  /** One tick more than asked for tells whether the window held more. */
  private newestTicks(from: number, to: number, limit: number) {
    const rows = this.store.ticks.newestBetween(from, to, limit + 1);
    return rows.length > limit ? { rows: rows.slice(1), truncated: true } : { rows, truncated: false };
  }

  private notFound() {
    return townNotFound(this.ctx.id.name ?? "this town");
  }

  /** Runs an admin command and pulls the alarm forward so its consequences follow soon. */
  private async command<T>(run: (runtime: TownRuntime, now: number) => Result<T>, reason: string): Promise<Result<T>> {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const result = run(runtime, this.clock.now());
    if (result.ok) await this.schedule.soon(runtime.state.town.config, reason);
    return result;
  }

  /** Whether a token is this town's agent token (false where there is no town). */
  async verifyAgentToken(token: string): Promise<boolean> {
    if (!this.runtime || agentTokenTown(token) !== this.runtime.state.town.id) return false;
    const expected = this.store.state.agentTokenHash();
    return expected !== null && digestsEqual(await sha256Hex(token), expected);
  }

  /**
   * The checks that come before the body's (DESIGN §6), for a request whose body is wrong: the agent
   * token (401), then the town and what the path names (404). Null when they hold.
   */
  async precheck(check: { agentToken?: string; beadId?: BeadId; agentId?: AgentId; seq?: number }): Promise<Result<null>> {
    if (check.agentToken !== undefined) {
      const denied = await this.checkAgentToken(check.agentToken);
      if (denied) return denied;
    }
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    if (check.beadId && !runtime.state.bead(check.beadId)) return fail(404, "bead_not_found", `bead ${check.beadId} does not exist in this town`);
    if (check.agentId && !runtime.state.agent(check.agentId)) return fail(404, "agent_not_found", `agent ${check.agentId} does not exist in this town`);
    if (check.seq !== undefined && !this.store.events.bySeq(check.seq)) return fail(404, "event_not_found", `there is no event with seq ${check.seq} in this town`);
    return ok(null);
  }

  /** The agent token of this town, or a 401 that says the same whether the town exists or not. */
  private async checkAgentToken(token: string) {
    return (await this.verifyAgentToken(token)) ? null : fail(401, "invalid_token", INVALID_AGENT_TOKEN);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

