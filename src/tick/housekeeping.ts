import { snapshotOf } from "../domain/snapshot";
import { packSnapshot } from "../db/snapshot-codec";
import type { AgentId, BeadId } from "../domain/ids";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";

/** Rows deleted per table in one run at most: retention never makes one alarm long (a run that hit it runs again next tick). */
export const PRUNE_BATCH = 5_000;

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

  /**
   * A copy of the working set for replay to start from: after tick `tickId`, with what was still
   * pending. The state and the log position are read together, at once; compressing takes a moment
   * in which requests may run (and log events), so what goes with the state is fixed before it, and
   * the rows are written after it in one transaction.
   */
  async takeSnapshot(runtime: TownRuntime, now: number, tickId: number): Promise<{ bytes: number; storedBytes: number }> {
    const { store, state } = runtime;
    const watching = { agents: new Set<AgentId>(), beads: new Set<BeadId>() };
    for (const violation of runtime.openViolations.values()) {
      for (const id of violation.agentIds) watching.agents.add(id as AgentId);
      for (const id of violation.beadIds) watching.beads.add(id as BeadId);
    }
    const json = JSON.stringify(snapshotOf(state, watching));
    const meta = { takenAt: now, tickId, logSeq: store.events.maxSeq(), pending: store.events.pendingSeqs() };
    const packed = await packSnapshot(json);
    store.transaction(() => store.snapshots.save(meta, packed));
    runtime.lastSnapshotAt = now;
    return { bytes: packed.bytes, storedBytes: packed.storedBytes };
  }

  async snapshotIfDue(runtime: TownRuntime, now: number, tickId: number): Promise<void> {
    if (now - (runtime.lastSnapshotAt ?? -Infinity) >= runtime.state.town.config.snapshotIntervalMs) await this.takeSnapshot(runtime, now, tickId);
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
