import { snapshotOf } from "../domain/snapshot";
import { packSnapshot } from "../db/snapshot-codec";
import type { AgentId, BeadId } from "../domain/ids";
import type { TownRuntime } from "../town/runtime";

/** Rows deleted per table in one run at most: retention never makes one alarm long (a run that hit it runs again next tick). */
export const PRUNE_BATCH = 5_000;

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
