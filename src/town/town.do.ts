import { DurableObject } from "cloudflare:workers";
import migrations from "../../migrations/migrations.js";
import type {
  AddRigInput,
  BulkInput,
  CancelBeadInput,
  CreateConvoyInput,
  EditBeadInput,
  HeartbeatInput,
  HistoryInput,
  IngestInput,
  ListAgentsInput,
  ListBeadsInput,
  ReplayInput,
  SlingBeadInput,
  TickWindowInput,
} from "../api/schemas";
import { SIGNING_KEY_MISSING, signingKeyOf } from "../auth/signing";
import { newAgentToken, sha256Hex } from "../auth/tokens";
import { isMigrated, migrate } from "../db/migrate";
import { TownStore } from "../db/town-store";
import { shownEventId } from "../db/event-rows";
import { mergeOverrides, type TownConfigOverrides } from "../domain/config";
import { explainBead } from "../domain/explain";
import { explanationView } from "../views/explanation-view";
import type { AgentId, BeadId, RigId, TownId } from "../domain/ids";
import { newTown, type Bead, type Rig } from "../domain/model";
import type { TownEnv } from "./town-env";
import { createLogger, parseLogLevel, type Logger } from "../observability/log";
import { createAlertSink } from "../observability/sentry";
import { summarize, tickView } from "../views/tick-history";
import { agentCallerDenied, isAgentToken } from "./agent-auth";
import type { AgentCaller } from "../auth/dispatch-credential";
import { StoredArchive } from "../db/stored-archive";
import type { Clock } from "../domain/clock";
import * as commands from "../commands/admin";
import * as steering from "../commands/steering";
import { beadHistory } from "../views/bead-history";
import { listAgents, listBeads } from "../views/listings";
import { dryRun } from "../tick/dry-run";
import { FleetReporter, townSummary } from "../fleet/fleet-report";
import { exportHistory } from "../replay/history-export";
import { Housekeeping } from "../tick/housekeeping";
import { once, type IdempotentRequest } from "../commands/idempotency";
import { ingestEvents, observeAgent, type IngestSource } from "../commands/ingest";
import { ensureArmed, type AlarmCheck } from "../tick/liveness";
import type { TownParts } from "./parts";
import { Platform } from "../effects/platform";
import { TokenBuckets } from "./rate-limiter";
import { Registration } from "../fleet/registration";
import { replayWindow } from "../replay/replay-window";
import { beadNotFound, caught, fail, ok, storageFull, townNotFound, type Result } from "../domain/result";
import { isStorageFull } from "../domain/storage";
import type { TownRuntime } from "./runtime";
import { townMetrics } from "../views/town-metrics";
import { AlarmSchedule } from "../tick/schedule";
import { townStatus } from "../views/town-status";
import { stuckWork } from "../views/stuck-work";
import { newestTicks } from "../views/tick-window";
import { Ticker } from "../tick/ticker";
import { beadDetails, beadView, loggedEventView, rigView, townView } from "../views/entity-views";

type TownView = ReturnType<typeof townView>;
/** What a creating request for a bead answers: the bead as the API shows it, and whether it is new. */
type BeadAnswer = { created: boolean; value: ReturnType<typeof beadView> };
export type PutTownOutcome = { created: true; town: TownView; agentToken: string } | { created: false; town: TownView };
/** What a request's path (and agent token) names, for `exists`. */
export interface PathNames {
  readonly agentToken?: string;
  readonly beadId?: BeadId;
  readonly agentId?: AgentId;
  readonly rigId?: RigId;
  readonly seq?: number;
}
/** Whether the town and each thing asked about exist (a name not asked about is absent). */
export interface PathFacts {
  readonly town: boolean;
  readonly agentToken?: boolean;
  readonly bead?: boolean;
  readonly agent?: boolean;
  readonly rig?: boolean;
  readonly event?: boolean;
}
/** Events one debug listing returns at most. */
const MAX_DEBUG_EVENTS = 500;

/**
 * One town. It only composes: the working set (loaded here), the tick (src/tick), writes
 * (src/commands), reads (src/views), replay, the platform (src/effects) and the fleet's registration and
 * report, each a module of its own; each RPC the API calls checks the town exists and hands over, and
 * answers a domain result (a value, or an error code and message). Rules live in `src/domain`, SQL in
 * `src/db`, HTTP — statuses and the order of checks — in `src/http`.
 */
export class TownDO extends DurableObject<TownEnv> {
  protected readonly clock: Clock;
  protected readonly store: TownStore;
  protected runtime: TownRuntime | null = null;
  private readonly log: Logger;
  private readonly parts: TownParts;
  private readonly ticker: Ticker;
  private readonly debugLimiter = new TokenBuckets();

  constructor(ctx: DurableObjectState, env: TownEnv) {
    super(ctx, env);
    this.clock = this.createClock();
    this.store = new TownStore(ctx.storage);
    this.log = createLogger(parseLogLevel(env.LOG_LEVEL), { component: "town" });
    this.parts = {
      clock: this.clock,
      store: this.store,
      alerts: createAlertSink(env.SENTRY_DSN, this.log),
      platform: new Platform(env, this.store, this.clock, () => this.runtime!.state.town.config),
      schedule: new AlarmSchedule(ctx.storage, this.clock, this.store.rows, () => this.store.ticks.lastNextAlarm()),
      housekeeping: new Housekeeping(),
      registration: new Registration(ctx.storage, env, this.log),
      reporter: new FleetReporter(env, ctx.storage),
    };
    this.ticker = new Ticker(this.parts, ctx.storage, this.log);
    void ctx.blockConcurrencyWhile(async () => this.load());
  }

  /** Where time comes from; the test worker overrides this with a clock it can move. */
  protected createClock(): Clock {
    return { now: () => Date.now() };
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * Creating, reconfiguring, deleting a town and rotating its token wait on one another: each awaits
   * the registry or the digest of a token, and one that ran in another's await would find the town
   * half made or half gone (a 500 reading a runtime the delete cleared; a town listed with no storage).
   */
  private lifecycle: Promise<unknown> = Promise.resolve();

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(work, work);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  /** Creates the town (returning its agent token, once) or merges new config overrides into it. */
  async putTown(townId: TownId, overrides: TownConfigOverrides = {}): Promise<Result<PutTownOutcome>> {
    return this.inTurn(() => this.createOrConfigure(townId, overrides));
  }

  private async createOrConfigure(townId: TownId, overrides: TownConfigOverrides): Promise<Result<PutTownOutcome>> {
    const { registration, schedule, housekeeping } = this.parts;
    const now = this.clock.now();
    if (this.runtime) {
      const town = this.runtime.state.town;
      if (town.id !== townId) return fail("town_mismatch", `this object holds town ${town.id}`);
      // Taken while storage is full: shorter retention is how room is made.
      const runtime = this.runtime;
      const configured = await this.newWork(
        runtime,
        now,
        async () => ok(commands.configureTown(runtime, mergeOverrides(town.overrides, overrides), crypto.randomUUID(), now)),
        false,
      );
      if (!configured.ok) return configured;
      // Registering again is harmless and mends a creation whose registration failed.
      await registration.register(townId, town.createdAt);
      await schedule.soon(this.runtime.state.town.config, "town reconfigured");
      return ok<PutTownOutcome>({ created: false, town: townView(this.runtime.state.town) });
    }
    const signingKey = signingKeyOf(this.env);
    if (!signingKey) return fail("signing_key_missing", SIGNING_KEY_MISSING);
    const agentToken = await newAgentToken(townId, signingKey);
    const tokenHash = await sha256Hex(agentToken);
    migrate(this.ctx.storage, migrations);
    const town = newTown(townId, overrides, now);
    this.store.transaction(() => this.store.state.createTown(town, tokenHash));
    const runtime = this.load()!;
    await housekeeping.takeSnapshot(runtime, now, 0);
    // The town exists from here: it answers with its token whatever the town list says.
    await registration.register(townId, now, { created: true });
    await schedule.soon(runtime.state.town.config, "town created");
    this.log.info("town created", { townId });
    return ok<PutTownOutcome>({ created: true, town: townView(runtime.state.town), agentToken });
  }

  /** Deletes the town: deregistered first (so a failure leaves it whole and the call can be repeated), then all its storage and its alarm. */
  async deleteTown(townId: TownId): Promise<Result<{ deleted: TownId }>> {
    return this.inTurn(() => this.removeTown(townId));
  }

  private async removeTown(townId: TownId): Promise<Result<{ deleted: TownId }>> {
    if (!this.runtime) return this.notFound();
    try {
      await this.parts.registration.deregister(townId, this.runtime.state.town.createdAt);
    } catch (error) {
      this.log.error("could not deregister the town", { townId, error });
      return fail("registry_unavailable", "the town list could not be updated, so nothing was deleted; try again");
    }
    await this.parts.schedule.clear();
    await this.ctx.storage.deleteAll();
    this.runtime = null;
    this.parts.platform.reset();
    this.parts.reporter.reset();
    this.ticker.reset();
    this.log.info("town deleted", { townId });
    return ok({ deleted: townId });
  }

  /**
   * A new agent token (returned once); the old one stops working at once. Rotations run one after
   * another, so each token answered works until the next rotation's answer (a caller that lost a race
   * holds a token the next rotation replaced, as after any rotation).
   */
  async rotateAgentToken(townId: TownId): Promise<Result<{ agentToken: string }>> {
    return this.inTurn(() =>
      this.withTown(async () => {
        const signingKey = signingKeyOf(this.env);
        if (!signingKey) return fail("signing_key_missing", SIGNING_KEY_MISSING);
        const agentToken = await newAgentToken(townId, signingKey);
        this.store.state.setAgentTokenHash(await sha256Hex(agentToken));
        this.log.info("agent token rotated", { townId });
        return ok({ agentToken });
      }),
    );
  }

  // ---- work ----------------------------------------------------------------------------------------

  async addRig(input: AddRigInput, idempotency?: IdempotentRequest) {
    return this.command(
      (runtime, now) =>
        once<commands.Created<Rig>>(runtime, idempotency, "rigs", now, (remember) => commands.addRig(runtime, input, crypto.randomUUID(), now, remember)),
      "rig added",
    );
  }

  async slingBead(input: SlingBeadInput, idempotency?: IdempotentRequest) {
    return this.createBead(
      "beads",
      idempotency,
      (runtime, now, remember) => commands.slingBead(runtime, input, crypto.randomUUID(), now, remember),
      "bead slung",
    );
  }

  async createConvoy(input: CreateConvoyInput, idempotency?: IdempotentRequest) {
    return this.createBead(
      "convoys",
      idempotency,
      (runtime, now, remember) => commands.createConvoy(runtime, input, crypto.randomUUID(), now, remember),
      "convoy created",
    );
  }

  // ---- steering (src/commands/steering.ts) ------------------------------------------------------------

  async cancelBead(beadId: BeadId, input: CancelBeadInput, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `cancel ${beadId}`, (runtime, now, id) => steering.cancelBead(runtime, beadId, input, id, now), "bead cancelled");
  }

  async retryBead(beadId: BeadId, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `retry ${beadId}`, (runtime, now, id) => steering.retryBead(runtime, beadId, id, now), "bead retried");
  }

  async holdBead(beadId: BeadId, reason: string | undefined, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `hold ${beadId}`, (runtime, now, id) => steering.holdBead(runtime, beadId, reason, id, now), "bead held");
  }

  async releaseBead(beadId: BeadId, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `release ${beadId}`, (runtime, now, id) => steering.releaseBead(runtime, beadId, id, now), "bead released");
  }

  async requeueBead(beadId: BeadId, reason: string | undefined, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `requeue ${beadId}`, (runtime, now, id) => steering.requeueBead(runtime, beadId, reason, id, now), "bead requeued");
  }

  async editBead(beadId: BeadId, input: EditBeadInput, idempotency?: IdempotentRequest) {
    return this.steerBead(idempotency, `edit ${beadId}`, (runtime, now, id) => steering.editBead(runtime, beadId, input, id, now), "bead edited");
  }

  async bulkBeads(input: BulkInput, idempotency?: IdempotentRequest) {
    return this.steer(idempotency, "bulk", (runtime, now, id) => steering.bulk(runtime, input, id, now), `bulk ${input.action}`);
  }

  async deleteRig(rigId: RigId, cancel: boolean, idempotency?: IdempotentRequest) {
    return this.steer(idempotency, `delete rig ${rigId}`, (runtime, now, id) => steering.deleteRig(runtime, rigId, cancel, id, now), `rig ${rigId} deleted`);
  }

  async pause(reason: string, idempotency?: IdempotentRequest) {
    return this.steer(idempotency, "pause", (runtime, now, id) => steering.pauseTown(runtime, reason, id, now), "town paused");
  }

  async resume(idempotency?: IdempotentRequest) {
    return this.steer(idempotency, "resume", (runtime, now, id) => steering.resumeTown(runtime, id, now), "town resumed");
  }

  // ---- finding and understanding (src/views) -----------------------------------------------------------

  /** Beads, newest change first, finished ones included, a page at a time. */
  async listBeads(query: ListBeadsInput) {
    return this.withTown((runtime) => listBeads(runtime, query));
  }

  async listRigs() {
    return this.withTown((runtime) => ok({ rigs: [...runtime.state.rigs()].map(rigView) }));
  }

  async listAgents(query: ListAgentsInput) {
    return this.withTown((runtime) => ok({ agents: listAgents(runtime, query) }));
  }

  /** What touched a bead, oldest first, within retention. */
  async beadHistory(beadId: BeadId, limit: number | undefined) {
    return this.withTown((runtime, now) => beadHistory(runtime, beadId, limit, now));
  }

  /** A bead with what surrounds it, whether it is in play or long finished. */
  async getBead(beadId: BeadId) {
    return this.withTown((runtime) => {
      const live = runtime.state.liveBead(beadId);
      if (live) return ok(beadDetails(runtime, live, this.store.state.beadBody(beadId)));
      const stored = this.store.state.storedBead(beadId);
      if (!stored) return beadNotFound(beadId);
      const { body, ...bead } = stored;
      return ok(beadDetails(runtime, bead, body));
    });
  }

  // ---- agents ----------------------------------------------------------------------------------------

  /** Agent callbacks, logged for the next tick. */
  async ingestEvents(caller: AgentCaller | string, input: IngestInput) {
    return this.asAgent(caller, (runtime, now) =>
      this.newWork(runtime, now, async () => {
        const source: IngestSource =
          typeof caller !== "string" && caller.kind === "dispatch"
            ? { kind: "dispatch", agentId: caller.claims.agentId, generation: caller.claims.generation }
            : { kind: "town" };
        const result = ingestEvents(runtime, input, now, source);
        if (result.ok && result.value.accepted > 0) await this.parts.schedule.soon(runtime.state.town.config, `${result.value.accepted} event(s) ingested`);
        return result;
      }),
    );
  }

  /** A heartbeat / container status observation. */
  async heartbeat(caller: AgentCaller | string, agentId: AgentId, input: HeartbeatInput) {
    // Not new work: what a container reports is how the town drains and stops, so it is taken while
    // storage is full (and refused only if it cannot be written).
    return this.asAgent(caller, (runtime, now) =>
      this.newWork(
        runtime,
        now,
        async () => {
          const { result, logged } = observeAgent(runtime, agentId, input, now);
          if (logged)
            await this.parts.schedule.soon(
              runtime.state.town.config,
              `container of ${agentId}@${input.generation} reported ${input.containerStatus ?? "running"}`,
            );
          return result;
        },
        false,
      ),
    );
  }

  /** Whether a token is this town's agent token (false where there is no town). */
  async verifyAgentToken(token: string): Promise<boolean> {
    return isAgentToken(this.runtime, token);
  }

  /**
   * Whether what a request names exists here: the town, and each of the agent token, bead, agent and
   * event asked about (absent: not asked). The Worker decides what to answer from it, and in which order.
   */
  async exists(names: PathNames): Promise<PathFacts> {
    const runtime = this.runtime;
    const agentToken = names.agentToken === undefined ? undefined : await isAgentToken(runtime, names.agentToken);
    if (!runtime) return { town: false, ...(agentToken === undefined ? {} : { agentToken }) };
    return {
      town: true,
      ...(agentToken === undefined ? {} : { agentToken }),
      ...(names.beadId === undefined ? {} : { bead: runtime.state.bead(names.beadId) !== undefined }),
      ...(names.agentId === undefined ? {} : { agent: runtime.state.agent(names.agentId) !== undefined }),
      ...(names.rigId === undefined ? {} : { rig: runtime.state.rig(names.rigId) !== undefined }),
      ...(names.seq === undefined ? {} : { event: this.store.events.bySeq(names.seq) !== undefined }),
    };
  }

  // ---- observability -----------------------------------------------------------------------------

  /** getAlarmStatus (DESIGN §5). */
  async status() {
    return this.withTown(async (runtime, now) => {
      return ok(townStatus(runtime, now, await this.parts.schedule.current(), this.ticker.dues(runtime, now)));
    });
  }

  /** The tick history of a window (default: the last hour), oldest first: its newest ticks, `truncated` when it held more. */
  async ticks(window: TickWindowInput) {
    return this.withTown((runtime, now) => {
      const { from, to, rows, truncated } = newestTicks(this.store, window, now);
      return ok({ townId: runtime.state.town.id, from, to, truncated, ticks: rows.map(tickView) });
    });
  }

  /** Aggregates of each tick metric over the newest ticks of a window (`truncated` as for `ticks`). */
  async ticksSummary(window: TickWindowInput) {
    return this.withTown((runtime, now) => {
      const { from, to, rows, truncated } = newestTicks(this.store, window, now);
      return ok({ townId: runtime.state.town.id, from, to, ticks: rows.length, truncated, metrics: summarize(rows.map(tickView)) });
    });
  }

  /** Prometheus text exposition. */
  async metrics() {
    return this.withTown(async (runtime, now) => ok(townMetrics(runtime, now, await this.parts.schedule.current(), this.ticker.dues(runtime, now))));
  }

  /** Failed beads and beads that are not moving, with why (the status page's first section). */
  async stuckWork(limit: number) {
    return this.withTown((runtime, now) => ok(stuckWork(runtime, now, limit)));
  }

  /**
   * The watchdog asks: is the alarm armed for what the town owes? Sets it again if not (counted and
   * logged), then reports to the fleet registry, so the registry's picture of this town is fresh.
   */
  async ensureAlarm(): Promise<Result<AlarmCheck>> {
    // Asked by the watchdog because the registry lists it: if it holds no town, it is a ghost (a
    // deletion whose registry write was lost), and leaves the list. In turn with creation, so a town
    // being created is never taken for one.
    if (!this.runtime) return this.inTurn(() => this.dropIfAbsent());
    return this.withTown(async (runtime, now) => {
      const log = this.log.with({ townId: runtime.state.town.id });
      const last = this.store.ticks.last();
      const queue = this.store.events.queueStats();
      const check = await ensureArmed(runtime, now, this.parts.schedule, { lastTickAt: last?.at ?? null, queue }, this.ticker.dues(runtime, now));
      if (check.outcome === "rearmed") log.warn("alarm re-armed by the watchdog", { at: check.alarm.at, owed: check.owed.reason, owedSince: check.owed.at });
      const alarm = check.outcome === "asleep" ? null : check.alarm;
      try {
        await this.parts.reporter.push(townSummary(runtime, now, last, alarm?.at ?? null, queue), runtime.state.town.createdAt);
      } catch (error) {
        log.error("could not report to the fleet registry", { error });
      }
      return ok(check);
    });
  }

  private async dropIfAbsent(): Promise<Result<AlarmCheck>> {
    const townId = this.ctx.id.name;
    if (!this.runtime && townId) {
      try {
        // No storage, so no creation time: the shards take the one they hold.
        await this.parts.registration.deregister(townId as TownId, null);
        this.log.warn("a listed town without storage left the registry", { townId });
      } catch (error) {
        this.log.error("could not take a town without storage off the registry", { townId, error });
      }
    }
    return this.runtime ? this.ensureAlarm() : this.notFound();
  }

  // ---- debugging -------------------------------------------------------------------------------

  /** Why a bead is or is not moving now (a finished one too). */
  async explainBead(beadId: BeadId) {
    return this.withTown((runtime, now) => {
      const bead = runtime.state.bead(beadId);
      if (!bead) return beadNotFound(beadId);
      return ok(explanationView(explainBead(runtime.state, bead, now), runtime.state.town.id));
    });
  }

  /** What the next tick would drain, decide and record; applies nothing (see dry-run.ts). */
  async reconcileDryRun() {
    return this.withDebug((runtime, now) => ok(dryRun(runtime, now)));
  }

  /** Replays the logged history of a window without touching the live town (see replay-window.ts). */
  async replayEvents(window: ReplayInput) {
    return this.withDebug((_runtime, now) => replayWindow(this.store, window.from, window.to, now));
  }

  /** The recorded history of a window as a replay bundle, streamed (see history-export.ts). */
  async exportHistory(query: HistoryInput) {
    return this.withDebug((runtime, now) => exportHistory(this.store, runtime.state.town.id, query.from, query.to, now, query.bodies === "1"));
  }

  /** Dead-lettered (or pending) events with their errors. */
  async debugEvents(status: "dead" | "pending") {
    return this.withDebug((runtime) => {
      const queue = this.store.events.queueStats();
      return ok({
        townId: runtime.state.town.id,
        status,
        count: status === "dead" ? queue.dead : queue.pending,
        events: this.store.events.withStatus(status, MAX_DEBUG_EVENTS).map(loggedEventView),
      });
    });
  }

  /** The dead letters as the status page shows them (read scope, not rate-limited): without their payloads. */
  async deadLetters() {
    return this.withTown(() => {
      const events = this.store.events
        .withStatus("dead", MAX_DEBUG_EVENTS)
        .map(({ payload: _payload, ...event }) => ({ ...event, ...shownEventId(event.eventId) }));
      return ok({ count: this.store.events.queueStats().dead, events });
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

  /** One tick (see ticker.ts). Never throws. */
  override async alarm(): Promise<void> {
    if (this.runtime) await this.ticker.tick(this.runtime);
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
    if (state.archivedAtLoad.length > 0)
      this.store.transaction(() => this.store.state.archive(state.archivedAtLoad, state.finished, state.archivedUpTo - state.archivedAtLoad.length));
    this.runtime = {
      store: this.store,
      state,
      archive,
      observations,
      observedSinceTick: new Set(),
      lastSnapshotAt: this.store.snapshots.lastAt(),
      openViolations: new Map(this.store.violations.open().map((v) => [v.key, v])),
      storageAlertedAt: null,
      storageFullSince: null,
      ingestBuckets: new TokenBuckets(),
      refusedSinceTick: new Map(),
    };
    return this.runtime;
  }

  /**
   * Runs `work` on the town, or answers 404 when there is none. What it throws comes back as a failure
   * (internal_error, with the exception), for the Worker to answer and report.
   */
  private async withTown<T>(work: (runtime: TownRuntime, now: number) => Result<T> | Promise<Result<T>>): Promise<Result<T>> {
    const runtime = this.runtime;
    if (!runtime) return this.notFound();
    try {
      return await work(runtime, this.clock.now());
    } catch (error) {
      return caught(error);
    }
  }

  /** As `withTown`, for debug routes: bounded per town, a 429 with Retry-After when a caller is too eager. */
  private async withDebug<T>(work: (runtime: TownRuntime, now: number) => Result<T> | Promise<Result<T>>): Promise<Result<T>> {
    return this.withTown((runtime, now) => {
      const perMinute = runtime.state.town.config.debugRequestsPerMinute;
      const verdict = this.debugLimiter.take("debug", 1, now, { eventsPerSecond: perMinute / 60, burst: perMinute });
      if (!verdict.ok)
        return fail("rate_limited", `too many debug requests for this town; try again in ${verdict.retryAfterSeconds} s`, verdict.retryAfterSeconds);
      return work(runtime, now);
    });
  }

  /** As `withTown`, for agent routes: the agent token is checked first (401 alike whether the town exists or not). */
  private async asAgent<T>(caller: AgentCaller | string, work: (runtime: TownRuntime, now: number) => Result<T> | Promise<Result<T>>): Promise<Result<T>> {
    return (await agentCallerDenied(this.runtime, caller, this.clock.now())) ?? this.withTown(work);
  }

  /** Runs an admin command and pulls the alarm forward so its consequences follow soon. */
  private async command<T>(run: (runtime: TownRuntime, now: number) => Result<T>, reason: string): Promise<Result<T>> {
    return this.withTown((runtime, now) =>
      this.newWork(runtime, now, async () => {
        const result = run(runtime, now);
        if (result.ok) await this.parts.schedule.soon(runtime.state.town.config, reason);
        return result;
      }),
    );
  }

  /**
   * New work (a command, agent events): refused with 507 while the town's storage is full, so what
   * room is left goes to the work the town already holds — draining, stops — and a write that finds
   * it full refuses it the same way. Such a write is one transaction, rolled back whole, memory with
   * it: nothing of the refused request is kept, and nothing accepted before is lost.
   */
  private async newWork<T>(runtime: TownRuntime, now: number, work: () => Promise<Result<T>>, refuseWhileFull = true): Promise<Result<T>> {
    if (refuseWhileFull && runtime.storageFullSince !== null) return storageFull(runtime.storageFullSince);
    try {
      return await work();
    } catch (error) {
      if (!isStorageFull(error)) throw error;
      if (runtime.storageFullSince === null) this.log.error("storage full: new work refused until a tick commits", { townId: runtime.state.town.id, error });
      runtime.storageFullSince ??= now;
      return storageFull(runtime.storageFullSince);
    }
  }

  /** A steering command, once per idempotency key (keys are per `route`, which names what it steers). */
  private async steer<T>(
    idempotency: IdempotentRequest | undefined,
    route: string,
    run: (runtime: TownRuntime, now: number, newId: string) => Result<T>,
    reason: string,
  ) {
    return this.command((runtime, now) => once<T>(runtime, idempotency, route, now, () => run(runtime, now, crypto.randomUUID())), reason);
  }

  /** A steering command on one bead, answered with `{ bead }` as the API shows it. */
  private async steerBead(
    idempotency: IdempotentRequest | undefined,
    route: string,
    run: (runtime: TownRuntime, now: number, newId: string) => Result<Bead>,
    reason: string,
  ) {
    return this.steer(
      idempotency,
      route,
      (runtime, now, newId) => {
        const result = run(runtime, now, newId);
        return result.ok ? ok({ bead: beadView(result.value) }) : result;
      },
      reason,
    );
  }

  /** A command that creates a bead (or convoy), answered with the bead as the API shows it, once per idempotency key. */
  private async createBead(
    route: "beads" | "convoys",
    idempotency: IdempotentRequest | undefined,
    create: (runtime: TownRuntime, now: number, remember: ((created: commands.Created<Bead>) => void) | undefined) => Result<commands.Created<Bead>>,
    reason: string,
  ) {
    return this.command(
      (runtime, now) =>
        once<BeadAnswer>(runtime, idempotency, route, now, (remember) => {
          const asView = (created: commands.Created<Bead>) => ({ created: created.created, value: beadView(created.value) });
          const result = create(runtime, now, remember && ((created) => remember(asView(created))));
          return result.ok ? ok(asView(result.value)) : result;
        }),
      reason,
    );
  }

  private notFound() {
    return townNotFound(this.ctx.id.name ?? "this town");
  }
}
