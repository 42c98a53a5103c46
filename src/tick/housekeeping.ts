import { snapshotOf } from "../domain/snapshot";
import { packSnapshot, rowsOf, SNAPSHOT_FULL_EVERY_MS, type SnapshotBase, snapshotBase, snapshotFrame, textOf } from "../db/snapshot-codec";
import type { AgentId, BeadId } from "../domain/ids";
import type { TownRuntime } from "../town/runtime";

/** Rows deleted per table in one run at most: retention never makes one alarm long (a run that hit it runs again next tick). */
export const PRUNE_BATCH = 5_000;

/** The first wait after a failed snapshot (it doubles with each failure in a row, up to the snapshot interval). */
export const SNAPSHOT_RETRY_MS = 60_000;

export interface PruneRun {
  readonly events: number;
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

  /** Retention, hourly — or at once while the previous run could not delete all that was due. */
  pruneIfDue(runtime: TownRuntime, now: number): PruneRun | null {
    const { store, state } = runtime;
    const config = state.town.config;
    if (!this.behind && now - this.lastPrunedAt < config.retentionIntervalMs) return null;
    this.lastPrunedAt = now;
    const run = store.transaction(() => {
      const events = store.events.prune(now - config.eventRetentionMs, config.eventRetentionCount, PRUNE_BATCH);
      const ticks = store.ticks.prune(now - config.tickRetentionMs, config.tickRetentionCount, PRUNE_BATCH);
      store.snapshots.prune(now - Math.min(config.eventRetentionMs, config.tickRetentionMs));
      store.idempotency.prune(now - config.idempotencyKeyTtlMs, PRUNE_BATCH);
      let beads = 0;
      if (config.finishedBeadRetentionMs !== null) {
        // Never sooner than events and ticks go, so a replay that can still run finds the beads it reads.
        const keepFor = Math.max(config.finishedBeadRetentionMs, config.eventRetentionMs, config.tickRetentionMs);
        beads = store.state.pruneFinished(now - keepFor, state.referencedBeads(), PRUNE_BATCH);
      }
      return { events, ticks, beads };
    });
    if (run.beads > 0) runtime.archive.clear();
    this.behind = run.events >= PRUNE_BATCH || run.ticks >= PRUNE_BATCH || run.beads >= PRUNE_BATCH;
    return run;
  }
}
