import { snapshotOf } from "../domain/snapshot";
import { packSnapshot, rowsOf, SNAPSHOT_FULL_EVERY_MS, type SnapshotBase, snapshotBase, snapshotFrame, textOf } from "../db/snapshot-codec";
import type { AgentId, BeadId } from "../domain/ids";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";

/** Rows deleted per table in one run at most: retention never makes one alarm long (a run that hit it runs again next tick). */
export const PRUNE_BATCH = 5_000;

/** The first wait after a failed snapshot (it doubles with each failure in a row, up to the snapshot interval). */
export const SNAPSHOT_RETRY_MS = 60_000;

export interface PruneRun {
  readonly events: number;
  readonly eventBytes: number;
  readonly ticks: number;
  readonly beads: number;
}

/**
 * What keeps a town's storage bounded and its history replayable: snapshots of the working set (the
 * starting points of replay) and retention of events, ticks, snapshots and finished beads.
 */
export class Housekeeping {
  private lastPrunedAt = -Infinity;
  private behind = false;
  /** The last run found the town past a bound and could delete nothing. */
  private fruitless = false;

  /** After a failed snapshot, when the next may be tried (the interval doubles with each failure in a row). */
  private snapshotRetryAt = -Infinity;
  private snapshotFailures = 0;
  /** The newest full snapshot's rows as text, what the next delta is taken against (null: read it from storage). */
  private base: SnapshotBase | null = null;

  /**
   * A copy of the working set for replay to start from: after tick `tickId`, with what was still
   * pending. Full at least every `SNAPSHOT_FULL_EVERY_MS`, else a delta from the newest full one
   * (src/db/snapshot-codec.ts) while the delta stays under a third of the state: a quiet town stores
   * little per hour, and a restless one is never worse off than with full snapshots. The state and the
   * log position are read together, at once (the base, if it has to be read from storage, is read
   * before); compressing takes a moment in which requests may run (and log events), so what goes with
   * the state is fixed before it, and the rows are written after it in one transaction.
   */
  async takeSnapshot(runtime: TownRuntime, now: number, tickId: number): Promise<{ bytes: number; storedBytes: number; delta: boolean }> {
    const { store, state } = runtime;
    const base = await this.baseFor(runtime, now);
    const watching = { agents: new Set<AgentId>(), beads: new Set<BeadId>() };
    for (const violation of runtime.openViolations.values()) {
      for (const id of violation.agentIds) watching.agents.add(id as AgentId);
      for (const id of violation.beadIds) watching.beads.add(id as BeadId);
    }
    const snapshot = snapshotOf(state, watching) as unknown as Record<string, unknown>;
    const rows = rowsOf(snapshot);
    const json = textOf(snapshot, rows);
    const runs = store.snapshots.pendingRuns();
    const meta = { takenAt: now, tickId, logSeq: store.events.maxSeq(), firstPendingSeq: runs[0]?.[0] ?? null };
    const bytes = new TextEncoder().encode(json).length;
    const frame = snapshotFrame(snapshot, rows, json, runs, base);
    const packed = await packSnapshot(frame.text);
    const baseId = frame.delta ? base!.id : null;
    const id = store.transaction(() => store.snapshots.save({ ...meta, baseId, bytes }, packed));
    if (!frame.delta) this.base = snapshotBase(id, now, rows);
    runtime.lastSnapshotAt = now;
    return { bytes, storedBytes: packed.storedBytes, delta: frame.delta };
  }

  /** The full snapshot a delta taken now would be from: none a day after the newest, else the newest (read back once after a start). */
  private async baseFor(runtime: TownRuntime, now: number): Promise<SnapshotBase | null> {
    const ref = runtime.store.snapshots.latestFullRef();
    if (!ref || now - ref.takenAt >= SNAPSHOT_FULL_EVERY_MS) return null;
    if (this.base?.id !== ref.id)
      this.base = snapshotBase(ref.id, ref.takenAt, rowsOf((await runtime.store.snapshots.read(ref)).state as Record<string, unknown>));
    return this.base;
  }

  /**
   * A snapshot when one is due. One that fails (the database full, a row too big) is tried again after
   * a minute, then two, four… up to the snapshot interval, not on every tick: a tick that retried it
   * each time would pay for the attempt each time and log it each time.
   */
  async snapshotIfDue(runtime: TownRuntime, now: number, tickId: number): Promise<void> {
    const interval = runtime.state.town.config.snapshotIntervalMs;
    if (now - (runtime.lastSnapshotAt ?? -Infinity) < interval || now < this.snapshotRetryAt) return;
    try {
      await this.takeSnapshot(runtime, now, tickId);
      this.snapshotFailures = 0;
      this.snapshotRetryAt = -Infinity;
    } catch (error) {
      this.snapshotFailures += 1;
      this.snapshotRetryAt = now + Math.min(interval, SNAPSHOT_RETRY_MS * 2 ** (this.snapshotFailures - 1));
      throw error;
    }
  }

  /**
   * Retention: hourly while the town ticks anyway, and whenever `owed` says it is due — so a town past
   * its bounds, idle or not, ticks for it, a bounded batch a tick, until it is back within them.
   */
  pruneIfDue(runtime: TownRuntime, now: number): PruneRun | null {
    const { store, state } = runtime;
    const config = state.town.config;
    const owed = this.owed(runtime, now);
    if (now - this.lastPrunedAt < config.retentionIntervalMs && (owed === null || owed.at > now)) return null;
    const over = this.over(runtime) !== null;
    this.lastPrunedAt = now;
    const run = store.transaction(() => {
      const events = store.events.prune(now - config.eventRetentionMs, config.eventRetentionCount, config.eventRetentionBytes, PRUNE_BATCH);
      const ticks = store.ticks.prune(now - config.tickRetentionMs, config.tickRetentionCount, PRUNE_BATCH);
      store.snapshots.prune(now - Math.min(config.eventRetentionMs, config.tickRetentionMs));
      store.idempotency.prune(now - config.idempotencyKeyTtlMs, PRUNE_BATCH);
      let beads = 0;
      if (config.finishedBeadRetentionMs !== null) {
        // Never sooner than events and ticks go, so a replay that can still run finds the beads it reads.
        const keepFor = Math.max(config.finishedBeadRetentionMs, config.eventRetentionMs, config.tickRetentionMs);
        beads = store.state.pruneFinished(now - keepFor, state.referencedBeads(), PRUNE_BATCH);
      }
      return { events: events.events, eventBytes: events.bytes, ticks, beads };
    });
    if (run.beads > 0) runtime.archive.clear();
    this.behind = run.events >= PRUNE_BATCH || run.ticks >= PRUNE_BATCH || run.beads >= PRUNE_BATCH;
    // Past a bound with nothing it may delete (what is over is pending, or dead letters): asking again
    // every tick would change nothing, so it waits for the hourly run.
    this.fruitless = over && run.events === 0 && run.ticks === 0;
    return run;
  }

  /**
   * When retention is owed (a candidate of the town's alarm, idle or not): at once while a run could
   * not delete all that was due, or while the log or the ticks are past a bound of count or bytes — a
   * bounded batch a tick until they are back within them. Age alone owes no tick: what ages out goes
   * at the hourly run of a town that ticks anyway, and an idle town that owes nothing sleeps (a tick
   * for an old row would leave a row of its own to age out, and wake it again a week later).
   * Read at a fixed cost: the log's totals and the first tick.
   */
  owed(runtime: TownRuntime, now: number): Wake | null {
    if (this.behind) return { at: now, reason: "retention: more to delete than one run deletes" };
    const over = this.over(runtime);
    if (!over) return null;
    // Past a bound with nothing it could delete last time: the hourly run, not every tick.
    return { at: this.fruitless ? this.lastPrunedAt + runtime.state.town.config.retentionIntervalMs : now, reason: `retention: ${over}` };
  }

  /** Which bound of count or bytes the log or the ticks are past, or null. */
  private over(runtime: TownRuntime): string | null {
    const { store, state } = runtime;
    const config = state.town.config;
    const totals = store.events.totals();
    if (totals.bytes > config.eventRetentionBytes) return `event bytes ${totals.bytes} over eventRetentionBytes ${config.eventRetentionBytes}`;
    // As prune counts it (the newest seqs are kept, whatever their status), with something settled to delete.
    if (totals.events > config.eventRetentionCount && totals.events > totals.pending)
      return `${totals.events} events over eventRetentionCount ${config.eventRetentionCount}`;
    const tick = store.ticks.oldest();
    if (tick !== null && tick.id <= store.ticks.nextId() - 1 - config.tickRetentionCount) return `ticks over tickRetentionCount ${config.tickRetentionCount}`;
    return null;
  }
}
