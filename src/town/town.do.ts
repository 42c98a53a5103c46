import { DurableObject } from "cloudflare:workers";
import migrations from "../../migrations/migrations.js";
import type { AddRigInput, CancelBeadInput, CreateConvoyInput, HeartbeatInput, IngestInput, ReplayInput, SlingBeadInput, TickWindowInput } from "../api/schemas";
import { agentTokenTown, digestsEqual, newAgentToken, sha256Hex } from "../auth/tokens";
import { TownRepository, type TickRow } from "../db/repository";
import { isMigrated, migrate } from "../db/migrate";
import type { Effect } from "../domain/actions";
import { CLOSED_BREAKER } from "../domain/model";
import { mergeOverrides, resolveConfig, type TownConfigOverrides } from "../domain/config";
import { explainBead } from "../domain/explain";
import { snapshotOf } from "../domain/snapshot";
import type { AgentId, BeadId, TownId } from "../domain/ids";
import type { CallOutcome, ContainerPort, DispatchRequest, StopRequest } from "../effects/container-port";
import { httpContainerPort } from "../effects/http-container";
import { runOutbox, type OutboxRun } from "../effects/outbox";
import { SimulatedContainers } from "../effects/simulated-containers";
import type { Env } from "../env";
import { CounterDeltas, TICK_DURATION_BUCKETS } from "../observability/counters";
import { createLogger, parseLogLevel, type Logger } from "../observability/log";
import { renderPrometheus } from "../observability/prometheus";
import { createAlertSink, type AlertSink } from "../observability/sentry";
import { summarize, tickView } from "../observability/tick-history";
import { systemClock, type Clock } from "./clock";
import * as commands from "./commands";
import { toNewEvent } from "./event-log";
import { ingestEvents, observeAgent } from "./ingest";
import { fail, ok, townNotFound, type Result } from "./result";
import { RateLimiter } from "./rate-limiter";
import { replayWindow } from "./replay";
import { inTransaction, type TownRuntime } from "./runtime";
import { alarmStatus, type AlarmInfo } from "./status";
import { stuckWork } from "./stuck";
import { describeError, runTick, type TickReport } from "./tick";
import { beadDetails, beadView, countsByStatus, townView } from "./views";

const ALARM_KEY = "alarm";

type TownView = ReturnType<typeof townView>;
export type PutTownOutcome = { created: true; town: TownView; agentToken: string } | { created: false; town: TownView };
const PRUNE_INTERVAL_MS = 3_600_000;
/** Ticks returned by one history request at most (a day of 10-second ticks is 8,640). */
export const MAX_TICK_ROWS = 10_000;
/** Events one debug listing returns at most. */
const MAX_DEBUG_EVENTS = 500;
/** Thrown to roll a dry run back. */
const DRY_RUN = Symbol("dry run");

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * One town. A thin shell around the pure domain: it loads the state, runs ticks on its alarm
 * (drain → reconcile → persist → side effects → schedule), and answers the API's typed RPCs.
 * Rules live in `src/domain`, SQL in `src/db`, HTTP in `src/http`.
 */
export class TownDO extends DurableObject<Env> {
  protected readonly clock: Clock;
  protected readonly repo: TownRepository;
  private readonly log: Logger;
  protected runtime: TownRuntime | null = null;
  private port: ContainerPort | null = null;
  private simulation: SimulatedContainers | null = null;
  private readonly alerts: AlertSink;
  private failedTicks = 0;
  private lastFailureReportAt = 0;
  private readonly debugLimiter = new RateLimiter();
  private lastPrunedAt = 0;
  /** A wake-up asked for while a tick was running: the tick's own schedule must not push it back. */
  private requestedWake: AlarmInfo | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.clock = this.createClock();
    this.repo = new TownRepository(ctx.storage);
    this.log = createLogger(parseLogLevel(env.LOG_LEVEL), { component: "town" });
    this.alerts = createAlertSink(env.SENTRY_DSN, this.log);
    void ctx.blockConcurrencyWhile(async () => this.load());
  }

  /** Where time comes from; the test worker overrides this with a clock it can move. */
  protected createClock(): Clock {
    return systemClock;
  }

  // ---- API (typed RPC from the Worker) ----------------------------------------------------------

  /** Creates the town (returning its agent token, once) or merges new config overrides into it. */
  async putTown(townId: TownId, overrides: TownConfigOverrides = {}): Promise<Result<PutTownOutcome>> {
    const now = this.clock.now();
    if (this.runtime) {
      const state = this.runtime.state;
      if (state.town.id !== townId) return fail(409, "town_mismatch", `this object holds town ${state.town.id}`);
      commands.configureTown(this.runtime, mergeOverrides(state.town.overrides, overrides), crypto.randomUUID(), now);
      // Registering again is harmless and mends a creation whose registration failed.
      await this.env.REGISTRY.getByName("registry").register(townId, state.town.createdAt);
      await this.wakeSoon("town reconfigured");
      return ok<PutTownOutcome>({ created: false, town: townView(this.runtime!.state.town) });
    }
    const agentToken = newAgentToken(townId);
    const tokenHash = await sha256Hex(agentToken);
    migrate(this.ctx.storage, migrations);
    const town = { id: townId, overrides, config: resolveConfig(overrides), breaker: { ...CLOSED_BREAKER, since: now }, createdAt: now, updatedAt: now };
    this.repo.transaction(() => this.repo.createTown(town, tokenHash));
    this.load();
    this.takeSnapshot(this.runtime!, now, 0);
    await this.env.REGISTRY.getByName("registry").register(townId, now);
    await this.wakeSoon("town created");
    this.log.info("town created", { townId });
    return ok<PutTownOutcome>({ created: true, town: townView(this.runtime!.state.town), agentToken });
  }

  async addRig(input: AddRigInput) {
    return this.command((runtime, now) => commands.addRig(runtime, input, crypto.randomUUID(), now), "rig added");
  }

  async slingBead(input: SlingBeadInput) {
    return this.command((runtime, now) => {
      const result = commands.slingBead(runtime, input, crypto.randomUUID(), now);
      return result.ok ? ok({ created: result.value.created, value: beadView(result.value.value) }) : result;
    }, "bead slung");
  }

  async createConvoy(input: CreateConvoyInput) {
    return this.command((runtime, now) => {
      const result = commands.createConvoy(runtime, input, crypto.randomUUID(), now);
      return result.ok ? ok({ created: result.value.created, value: beadView(result.value.value) }) : result;
    }, "convoy created");
  }

  async cancelBead(beadId: BeadId, input: CancelBeadInput) {
    return this.command((runtime, now) => {
      const result = commands.cancelBead(runtime, beadId, input, now);
      return result.ok ? ok(beadView(result.value)) : result;
    }, "bead cancelled");
  }

  async getBead(beadId: BeadId) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const bead = runtime.state.bead(beadId);
    if (!bead) return fail(404, "bead_not_found", `bead ${beadId} does not exist in this town`);
    return ok(beadDetails(runtime, bead));
  }

  /** Agent callbacks, logged for the next tick. */
  async ingestEvents(agentToken: string, input: IngestInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const denied = await this.checkAgentToken(agentToken);
    if (denied) return denied;
    const result = ingestEvents(runtime, input, this.clock.now());
    if (result.ok && result.value.accepted > 0) await this.wakeSoon(`${result.value.accepted} event(s) ingested`);
    return result;
  }

  /** A heartbeat / container status observation. */
  async heartbeat(agentToken: string, agentId: AgentId, input: HeartbeatInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const denied = await this.checkAgentToken(agentToken);
    if (denied) return denied;
    const result = observeAgent(runtime, agentId, input, this.clock.now());
    if (result.ok && result.value.event) await this.wakeSoon(`container of ${agentId} reported ${input.containerStatus}`);
    return result;
  }

  /** getAlarmStatus (DESIGN §5). */
  async status() {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    return ok(alarmStatus(runtime, this.clock.now(), await this.alarmInfo()));
  }

  /** The tick history of a window (default: the last hour), oldest first. */
  async ticks(window: TickWindowInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const { from, to } = this.resolveWindow(window);
    const rows = this.repo.ticksBetween(from, to, MAX_TICK_ROWS + 1);
    return ok({ townId: runtime.state.town.id, from, to, truncated: rows.length > MAX_TICK_ROWS, ticks: rows.slice(0, MAX_TICK_ROWS).map(tickView) });
  }

  /** Aggregates of each tick metric over a window. */
  async ticksSummary(window: TickWindowInput) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const { from, to } = this.resolveWindow(window);
    const ticks = this.repo.ticksBetween(from, to, MAX_TICK_ROWS).map(tickView);
    return ok({ townId: runtime.state.town.id, from, to, ticks: ticks.length, metrics: summarize(ticks) });
  }

  /** Prometheus text exposition. */
  async metrics() {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const now = this.clock.now();
    const queue = this.repo.queueStats();
    const { agents, beads } = countsByStatus(runtime);
    const violationsOpen: Record<string, number> = {};
    for (const v of runtime.openViolations.values()) violationsOpen[v.invariant] = (violationsOpen[v.invariant] ?? 0) + 1;
    const lastTickAt = this.repo.lastTick()?.at ?? null;
    return ok(
      renderPrometheus(runtime.state.town.id, this.repo.counters(), {
        queueDepth: queue.pending,
        oldestPendingAgeSeconds: queue.oldestPendingAt === null ? 0 : Math.max(0, now - queue.oldestPendingAt) / 1000,
        deadLetters: queue.dead,
        outboxDepth: this.repo.outboxSize(),
        breakerOpen: runtime.state.town.breaker.status !== "closed",
        violationsOpen,
        agents,
        beads,
        lastTickSeconds: lastTickAt === null ? null : lastTickAt / 1000,
      }),
    );
  }

  /** Failed beads and beads that are not moving, with why (the status page's first section). */
  async stuckWork(limit: number) {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    return ok(stuckWork(runtime, this.clock.now(), limit));
  }

  // ---- debugging -------------------------------------------------------------------------------

  /** Why a bead is or is not moving now. */
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
    let report: TickReport | undefined;
    try {
      this.repo.transaction(() => {
        report = runTick(runtime, now);
        throw DRY_RUN;
      });
    } catch (error) {
      if (error !== DRY_RUN) throw error;
    } finally {
      runtime.state.rollbackTo(mark);
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
    return replayWindow(this.repo, window.from, window.to, this.clock.now());
  }

  /** Dead-lettered (or pending) events with their errors. */
  async debugEvents(status: "dead" | "pending") {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const limited = this.rateLimit(runtime);
    if (limited) return limited;
    const events = this.repo.eventsByStatus(status, MAX_DEBUG_EVENTS);
    return ok({
      townId: runtime.state.town.id,
      status,
      count: status === "dead" ? this.repo.queueStats().dead : this.repo.queueStats().pending,
      events: events.map((e) => ({ ...e, payload: safeJson(e.payload) })),
    });
  }

  // ---- the tick -----------------------------------------------------------------------------------

  /**
   * One tick: let the (simulated) platform report, run the transactional tick, tell Sentry what it
   * found, execute side effects, and schedule the next alarm. Never throws: a failed tick is recorded
   * and retried on our own backoff (a throwing alarm is retried a few times by the platform, then dropped).
   */
  override async alarm(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime) return;
    const now = this.clock.now();
    const startedAt = Date.now();
    const log = this.log.with({ townId: runtime.state.town.id });
    this.requestedWake = null;
    let simulatedWake: number | null = null;
    try {
      simulatedWake = this.progressSimulation(runtime, now);
    } catch (error) {
      log.error("simulated platform failed", { error });
    }

    let report: TickReport;
    try {
      report = inTransaction(runtime, () => runTick(runtime, now));
    } catch (error) {
      await this.tickFailed(runtime, now, startedAt, error, log);
      return;
    }
    this.failedTicks = 0;
    runtime.lastTickAt = now;
    runtime.openViolations = new Map(report.violations.open.map((v) => [v.key, v]));
    const tickLog = log.with({ tickId: report.tickId });
    for (const row of report.drained) {
      if (report.alerts.some((a) => a.kind === "event_dead_lettered" && a.seq === row.seq)) {
        tickLog.error("event dead-lettered", { seq: row.seq, eventId: row.eventId, type: row.type });
      }
    }
    await this.alerts.send(report.alerts, { townId: runtime.state.town.id, tickId: report.tickId });

    const effects = await this.runSideEffects(runtime, now, tickLog);
    const wake = await this.scheduleNext(runtime, report.advance.wake, simulatedWake);
    const durationMs = Date.now() - startedAt;
    const counters = new CounterDeltas().observe("town_reconciler_tick_duration_seconds", {}, durationMs / 1000, TICK_DURATION_BUCKETS);
    for (const { kind, outcome } of effects.outcomes) counters.add("town_reconciler_side_effects_total", { kind, outcome });
    if (now - (runtime.lastSnapshotAt ?? -Infinity) >= runtime.state.town.config.snapshotIntervalMs) {
      try {
        this.takeSnapshot(runtime, now, report.tickId);
      } catch (error) {
        tickLog.error("snapshot failed", { error });
      }
    }
    this.repo.transaction(() => {
      this.repo.finishTick(report.tickId, {
        durationMs,
        effectsAttempted: effects.attempted,
        effectsSucceeded: effects.succeeded,
        effectsFailed: effects.failed,
        nextAlarmAt: wake.at,
        nextAlarmReason: wake.reason,
      });
      this.repo.addCounters(counters.list());
    });
  }

  // ---- internals ----------------------------------------------------------------------------------

  protected load(): void {
    if (!isMigrated(this.ctx.storage)) return; // no town was ever created here
    try {
      migrate(this.ctx.storage, migrations);
    } catch (error) {
      this.log.error("migration failed", { error });
      throw error;
    }
    const loaded = this.repo.loadState();
    if (!loaded) return;
    this.runtime = {
      repo: this.repo,
      state: loaded.state,
      observations: loaded.observations,
      lastTickAt: this.repo.lastTick()?.at ?? 0,
      lastSnapshotAt: this.repo.lastSnapshotAt(),
      openViolations: new Map(this.repo.openViolations().map((v) => [v.key, v])),
    };
  }

  /** Debug routes are bounded per town: a 429 with Retry-After when a caller is too eager. */
  private rateLimit(runtime: TownRuntime) {
    const verdict = this.debugLimiter.take(this.clock.now(), runtime.state.town.config.debugRequestsPerMinute);
    if (verdict.ok) return null;
    return fail(429, "rate_limited", `too many debug requests for this town; try again in ${verdict.retryAfterSeconds} s`, verdict.retryAfterSeconds);
  }

  private resolveWindow(window: TickWindowInput): { from: number; to: number } {
    const to = window.to ?? this.clock.now();
    return { from: window.from ?? to - 3_600_000, to };
  }

  private notFound() {
    return townNotFound(this.ctx.id.name ?? "this town");
  }

  /** Runs an admin command and pulls the alarm forward so its consequences follow soon. */
  private async command<T>(run: (runtime: TownRuntime, now: number) => Result<T>, reason: string): Promise<Result<T>> {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    const result = run(runtime, this.clock.now());
    if (result.ok) await this.wakeSoon(reason);
    return result;
  }

  private async checkAgentToken(token: string) {
    const town = this.runtime!.state.town;
    const claimed = agentTokenTown(token);
    if (claimed !== null && claimed !== town.id) {
      return fail(403, "wrong_town", `this agent token belongs to town ${claimed}, not ${town.id}`);
    }
    const expected = this.repo.agentTokenHash();
    if (!expected || !digestsEqual(await sha256Hex(token), expected)) {
      return fail(401, "invalid_token", "the agent token is not valid for this town; use the token returned when the town was created");
    }
    return null;
  }

  private containerPort(runtime: TownRuntime): ContainerPort {
    if (this.port) return this.port;
    const adapter = this.env.CONTAINER_ADAPTER ?? "simulated";
    if (adapter === "http") {
      this.port = httpContainerPort(this.env);
    } else if (adapter === "simulated") {
      this.simulation = new SimulatedContainers(this.repo, this.clock, () => runtime.state.town.config);
      this.port = this.simulation;
    } else {
      throw new Error(`CONTAINER_ADAPTER must be "simulated" or "http", not "${adapter}"`);
    }
    return this.port;
  }

  /** The simulated platform reports like a real one would: heartbeats and callbacks through the same paths. */
  private progressSimulation(runtime: TownRuntime, now: number): number | null {
    this.containerPort(runtime);
    if (!this.simulation) return null;
    const { reports, wakeAt } = this.simulation.progress(now);
    const events: IngestInput["events"] = [];
    for (const report of reports) {
      if (report.kind === "heartbeat") {
        observeAgent(runtime, report.agentId, { generation: report.generation, containerStatus: "running" }, now);
      } else {
        const eventId = `simulated:${report.agentId}@${report.generation}:${report.kind}`;
        events.push(
          report.kind === "done"
            ? { eventId, type: "agent_done", agentId: report.agentId, payload: { generation: report.generation, branch: report.branch } }
            : { eventId, type: "agent_completed", agentId: report.agentId, payload: { generation: report.generation, status: "failed", reason: report.reason } },
        );
      }
    }
    if (events.length > 0) ingestEvents(runtime, { events }, now);
    return wakeAt;
  }

  private describeEffect(runtime: TownRuntime, effect: Effect): DispatchRequest | StopRequest | null {
    const townId = runtime.state.town.id;
    if (effect.kind === "stop") return { effectId: effect.id, townId, agentId: effect.agentId, generation: effect.generation };
    const agent = runtime.state.agent(effect.agentId);
    const bead = effect.beadId ? runtime.state.bead(effect.beadId) : undefined;
    const rig = runtime.state.rig(effect.rigId);
    // A dispatch whose agent has moved on (stopped, re-dispatched) must not start a container.
    if (!agent || !bead || !rig || agent.generation !== effect.generation || agent.hook !== bead.id || agent.status === "idle") return null;
    return {
      effectId: effect.id,
      townId,
      agentId: agent.id,
      role: agent.role,
      generation: effect.generation,
      rig: { id: rig.id, name: rig.name, gitUrl: rig.gitUrl, defaultBranch: rig.defaultBranch },
      bead: { id: bead.id, type: bead.type, title: bead.title, body: this.repo.beadBody(bead.id), branch: bead.branch, prUrl: bead.prUrl },
    };
  }

  /** Called inside the outbox's transaction: the outcome enters the town as an event. */
  private reportEffect(effect: Effect, outcome: CallOutcome): void {
    const payload = {
      effectId: effect.id,
      kind: effect.kind,
      generation: effect.generation,
      outcome: outcome.outcome,
      ...(outcome.outcome === "ok" ? {} : { error: outcome.error.slice(0, 2_000) }),
    };
    const body = { type: "dispatch_result", agentId: effect.agentId, beadId: null, payload } as const;
    this.repo.appendEvents([toNewEvent(`result:${effect.id}`, body, this.clock.now())]);
  }

  /** Executes due side effects after the tick committed; a failure here is retried from the outbox. */
  private async runSideEffects(runtime: TownRuntime, now: number, log: Logger): Promise<OutboxRun> {
    try {
      const run = await runOutbox({
        repo: this.repo,
        port: this.containerPort(runtime),
        clock: this.clock,
        config: runtime.state.town.config,
        describe: (effect) => this.describeEffect(runtime, effect),
        report: (effect, outcome) => this.reportEffect(effect, outcome),
      });
      this.prune(runtime, now);
      return run;
    } catch (error) {
      log.error("side effects or housekeeping failed", { error });
      return { attempted: 0, succeeded: 0, failed: 0, deferred: 0, obsolete: 0, outcomes: [] };
    }
  }

  private async tickFailed(runtime: TownRuntime, now: number, startedAt: number, error: unknown, log: Logger): Promise<void> {
    this.failedTicks += 1;
    const config = runtime.state.town.config;
    const delay = Math.min(1_000 * 2 ** (this.failedTicks - 1), config.idleAlarmMs);
    const reason = `retry after failed tick (${this.failedTicks} in a row)`;
    log.error("tick failed", { error, consecutiveFailures: this.failedTicks });
    try {
      this.repo.transaction(() => {
        this.repo.insertFailedTick(now, describeError(error), Date.now() - startedAt, runtime.state.town.breaker.status, now + delay, reason);
        this.repo.addCounters(new CounterDeltas().add("town_reconciler_ticks_total", { result: "error" }).list());
      });
    } catch (recordError) {
      log.error("could not record the failed tick", { error: recordError });
    }
    // The first failure of a streak is reported, then at most once per cooldown while it lasts.
    if (this.failedTicks === 1 || now - this.lastFailureReportAt >= config.violationReportCooldownMs) {
      this.lastFailureReportAt = now;
      await this.alerts.send([{ kind: "tick_failed", error, consecutiveFailures: this.failedTicks }], { townId: runtime.state.town.id, tickId: null });
    }
    await this.setAlarm(now + delay, reason);
  }

  /** A copy of the state for replay to start from: after tick `tickId`, with what was still pending. */
  private takeSnapshot(runtime: TownRuntime, now: number, tickId: number): void {
    const json = JSON.stringify(snapshotOf(runtime.state));
    this.repo.transaction(() => this.repo.saveSnapshot({ takenAt: now, tickId, logSeq: this.repo.maxSeq(), pending: this.repo.pendingSeqs() }, json));
    runtime.lastSnapshotAt = now;
  }

  private prune(runtime: TownRuntime, now: number): void {
    if (now - this.lastPrunedAt < PRUNE_INTERVAL_MS) return;
    this.lastPrunedAt = now;
    const config = runtime.state.town.config;
    this.repo.transaction(() => {
      this.repo.pruneEvents(now - config.eventRetentionMs, config.eventRetentionCount);
      this.repo.pruneTicks(now - config.tickRetentionMs, config.tickRetentionCount);
      this.repo.pruneSnapshots(now - Math.min(config.eventRetentionMs, config.tickRetentionMs));
    });
  }

  /** The next alarm: the earliest of what the rules, the queue, the outbox and the simulation need. */
  private async scheduleNext(runtime: TownRuntime, ruleWake: AlarmInfo | null, simulatedWake: number | null): Promise<AlarmInfo> {
    const now = this.clock.now();
    const config = runtime.state.town.config;
    const candidates: AlarmInfo[] = [{ at: now + config.idleAlarmMs, reason: "idle poll" }];
    if (ruleWake) candidates.push({ at: Math.max(ruleWake.at, now + config.soonMs), reason: ruleWake.reason });
    const queue = this.repo.queueStats();
    if (queue.pending > 0) candidates.push({ at: now + config.soonMs, reason: `${queue.pending} event(s) pending` });
    const effectAt = this.repo.nextEffectAt();
    if (effectAt !== null) candidates.push({ at: Math.max(effectAt, now + config.soonMs), reason: "side effect due" });
    if (simulatedWake !== null) candidates.push({ at: Math.max(simulatedWake, now + config.soonMs), reason: "simulated agent report due" });
    if (this.requestedWake) candidates.push(this.requestedWake);
    const next = candidates.reduce((a, b) => (b.at < a.at ? b : a));
    await this.setAlarm(next.at, next.reason);
    return next;
  }

  /** Pulls the alarm forward to "soon" (never pushes it back). */
  private async wakeSoon(reason: string): Promise<void> {
    const runtime = this.runtime;
    if (!runtime) return;
    const at = this.clock.now() + runtime.state.town.config.soonMs;
    if (!this.requestedWake || at < this.requestedWake.at) this.requestedWake = { at, reason };
    const current = await this.ctx.storage.getAlarm();
    if (current !== null && current <= at) return;
    await this.setAlarm(at, reason);
  }

  private async setAlarm(at: number, reason: string): Promise<void> {
    await this.ctx.storage.put<AlarmInfo>(ALARM_KEY, { at, reason });
    await this.ctx.storage.setAlarm(at);
  }

  private async alarmInfo(): Promise<AlarmInfo | null> {
    const at = await this.ctx.storage.getAlarm();
    if (at === null) return null;
    const info = await this.ctx.storage.get<AlarmInfo>(ALARM_KEY);
    return { at, reason: info && info.at === at ? info.reason : "scheduled" };
  }
}
