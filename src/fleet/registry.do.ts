import { DurableObject } from "cloudflare:workers";
import { RegistryStore, type RankKey, type RegisteredSummary } from "./registry-store";
import { fleetRow, OVERDUE_GRACE_MS, type FleetRow } from "./fleet-row";
import { nextLayout, shardName, shardOf, type StoredLayout } from "./placement";
import { sweepShard, type AskTown, type ShardSweep, type WatchdogLimits } from "./shard-sweep";
import type { TownSummary } from "./town-summary";
import type { Clock } from "../domain/clock";
import type { Result } from "../domain/result";
import type { AlarmCheck } from "../tick/liveness";

/** A row handed over to its town's new shard is dropped here this long after (a fleet read in flight still finds it in one of the two). */
export const HANDOVER_GRACE_MS = 60_000;
/**
 * Rows one shard hands over in one sweep, and in one call to their new shard. A shard's step should
 * stay short, so the reports and reads waiting on it are not held up: locally a row cost the two shards
 * 0.25 ms handed over 100 at a time, 0.75 ms 400 at a time, 1.4 ms 1,000 at a time (bench/fleet-shards.ts),
 * past a fixed part of reading the shard's towns (0.15 s at 25,000). 2,000 a sweep keeps a step to a
 * few seconds at most; a shard that held 25,000 towns of which half move hands them over within seven
 * sweeps (reads see every town once meanwhile).
 */
export const HANDOVER_LIMITS = { perSweep: 2_000, perCall: 1_000 } as const;
/** A deletion is remembered this long: a row handed over cannot be in flight longer. */
const DEPARTED_RETENTION_MS = 86_400_000;

/** A fleet row as one shard holds it, with what a fleet read needs to merge shards: the summary's freshness and its rank. */
export interface ShardRow {
  readonly row: FleetRow;
  readonly reportedAt: number;
  readonly rank: RankKey;
}

export interface RankedRequest {
  /** The moment the rows are computed at (shard 0's clock when the first page was read). */
  readonly asOf: number;
  /** A paged read's snapshot (src/fleet/registry-store.ts, SNAPSHOT_WINDOW_MS): the rows as of it; absent or null, the last summaries. */
  readonly snapshot?: number | null;
  readonly problemsOnly: boolean;
  readonly after: RankKey | null;
  readonly limit: number | null;
}

export interface Rebalance {
  /** Towns this shard holds. */
  readonly held: number;
  /** Of them, rows no longer this shard's under the count (handed over or still to be). */
  readonly misplaced: number;
  /** Rows handed over in this call. */
  readonly handedOver: number;
  /** Rows dropped in this call (handed over more than the grace ago). */
  readonly dropped: number;
}

type RegistryEnv = { readonly REGISTRY: DurableObjectNamespace<TownRegistry>; readonly TOWN: DurableObjectNamespace };

/**
 * The list of towns and the last summary of each (one object per registry shard: src/fleet/shards.ts).
 * Towns register when created, deregister when deleted, and push a summary after their ticks; the
 * fleet routes and the watchdog read from here alone, so no fleet read ever wakes a town. A summary is
 * a row of small numbers: the throughput one object takes is in docs/benchmarks.md (The fleet).
 */
export class TownRegistry extends DurableObject {
  protected readonly clock: Clock;
  protected readonly store: RegistryStore;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.clock = this.createClock();
    this.store = new RegistryStore(ctx.storage.sql);
  }

  /** Where time comes from; the test worker overrides this with a clock it can move. */
  protected createClock(): Clock {
    return { now: () => Date.now() };
  }

  private get fleetEnv(): RegistryEnv {
    return this.env as unknown as RegistryEnv;
  }

  /** The town registers itself (`shards`: the count it runs with); a deletion remembered before is forgotten, as the town exists. */
  async register(townId: string, createdAt: number, shards?: number): Promise<boolean> {
    this.wrote(shards);
    return this.store.register(townId, createdAt, true);
  }

  /** A town that now reports here (its shard under a new count): registered and its summary kept, in one call. */
  async enter(townId: string, createdAt: number, summary: TownSummary, shards?: number): Promise<boolean> {
    this.wrote(shards);
    return this.ctx.storage.transactionSync(() => this.store.enter(townId, createdAt, summary));
  }

  /** Deregisters the town created at `createdAt` (null: whatever is held); remembered, so a row handed over later does not bring it back. */
  async deregister(townId: string, createdAt: number | null = null): Promise<void> {
    this.store.deregister(townId, createdAt, this.clock.now());
  }

  async list(): Promise<Array<{ id: string; createdAt: number }>> {
    return this.store.list();
  }

  /** A town's summary after its ticks; ignored for a town not on the list (deleted meanwhile). */
  async report(summary: TownSummary): Promise<boolean> {
    return this.store.report(summary);
  }

  /** One row per town, by town id, as of now. */
  async fleetStatus(): Promise<FleetRow[]> {
    const now = this.clock.now();
    return this.store.summaries().map(({ summary, registeredAt }) => fleetRow(summary, registeredAt, now));
  }

  /** A page of this shard's rows at `asOf`, worst first (src/fleet/reads.ts merges the shards' pages). */
  async ranked(request: RankedRequest): Promise<ShardRow[]> {
    return this.store
      .ranked(request.asOf, request)
      .map(({ summary, registeredAt, rank }) => ({ row: fleetRow(summary, registeredAt, request.asOf), reportedAt: summary.reportedAt, rank }));
  }

  /** The rows of these towns this shard holds, at `asOf` (what a fleet read asks a town's own shard); with `snapshot`, as of it. */
  async lookup(towns: string[], asOf: number, snapshot: number | null = null): Promise<ShardRow[]> {
    return this.store.summariesOf(towns, snapshot).map(({ summary, registeredAt }) => {
      const row = fleetRow(summary, registeredAt, asOf);
      return { row, reportedAt: summary.reportedAt, rank: { problems: row.problems, overdue: row.overdueSeconds, town: row.town } };
    });
  }

  /** The towns held here whose shard under `shards` is `owner` (this shard is `self`): a part of the Prometheus targets of shard `owner`. */
  async townsOf(owner: number, shards: number, self: number): Promise<string[]> {
    const held = this.store.heldTowns();
    if (this.balancedFor() === shards) return owner === self ? held.map((t) => t.id) : [];
    return held.filter((t) => shardOf(t.id, shards) === owner).map((t) => t.id);
  }

  // ---- the layout (shard 0 only) -------------------------------------------------------------------

  /** The layout as a caller running with `current` shards sees it (src/fleet/layout.ts), with this shard's clock. */
  async layout(current: number): Promise<StoredLayout & { now: number }> {
    const stored = this.ctx.storage.kv.get<StoredLayout>(LAYOUT_KEY);
    const layout = nextLayout(stored, current);
    if (layout !== stored) this.ctx.storage.kv.put(LAYOUT_KEY, layout);
    return { ...layout, now: this.clock.now() };
  }

  /** The shards past `span` hold nothing any more (the watchdog found): reads stop asking them, if the count is still `current`. */
  async settle(current: number, span: number): Promise<void> {
    const stored = this.ctx.storage.kv.get<StoredLayout>(LAYOUT_KEY);
    if (stored && stored.current === current && span < stored.span) this.ctx.storage.kv.put(LAYOUT_KEY, { current, span: Math.max(current, span) });
  }

  // ---- changing the count ----------------------------------------------------------------------------

  /**
   * Takes rows another shard hands over (`shards`: the count under which they are this shard's).
   * Returns, per town kept, the freshness of the summary this shard now holds.
   */
  async adopt(rows: RegisteredSummary[], shards: number): Promise<Record<string, number>> {
    this.wrote(shards);
    return this.ctx.storage.transactionSync(() => this.store.adopt(rows));
  }

  /**
   * One step of this shard (`self`) settling under `shards`: rows handed over more than the grace ago
   * are dropped (at most `limit`); rows whose town is now another shard's are handed over to it (at most
   * `limit`, by default HANDOVER_LIMITS.perSweep, a call), kept here — and still read — until the grace
   * has passed. Once nothing here belongs elsewhere, the shard remembers it is settled for that count and
   * the step costs a count of rows.
   */
  async rebalance(shards: number, self: number, now: number, limit: number = HANDOVER_LIMITS.perSweep): Promise<Rebalance> {
    const dropped = this.store.dropHandedOver(now - HANDOVER_GRACE_MS, limit);
    this.store.pruneDeparted(now - DEPARTED_RETENTION_MS);
    if (this.balancedFor() === shards) return { held: this.heldCount(), misplaced: 0, handedOver: 0, dropped };
    const held = this.store.heldTowns();
    const misplaced = held.filter((t) => shardOf(t.id, shards) !== self);
    const byOwner = new Map<number, string[]>();
    for (const town of misplaced.filter((t) => !t.handedOver).slice(0, Math.max(0, Math.floor(limit)))) {
      const owner = shardOf(town.id, shards);
      const towns = byOwner.get(owner);
      if (towns) towns.push(town.id);
      else byOwner.set(owner, [town.id]);
    }
    let handedOver = 0;
    for (const [owner, towns] of byOwner) {
      for (let i = 0; i < towns.length; i += HANDOVER_LIMITS.perCall) {
        const rows = this.store.handoverRows(towns.slice(i, i + HANDOVER_LIMITS.perCall));
        const kept = await this.fleetEnv.REGISTRY.getByName(shardName(owner)).adopt(rows, shards);
        const confirmed = Object.entries(kept).map(([town, reportedAt]) => ({ town, reportedAt }));
        this.store.markHandedOver(confirmed, now);
        handedOver += confirmed.length;
      }
    }
    if (misplaced.length === 0) this.ctx.storage.kv.put(BALANCED_KEY, shards);
    return { held: held.length, misplaced: misplaced.length, handedOver, dropped };
  }

  // ---- the watchdog ----------------------------------------------------------------------------------

  /** A page of the towns whose next tick is more than the grace overdue at `now`, most overdue first, after `after`. */
  async overdue(after: { at: number; town: string } | null, limit: number, now = this.clock.now()): Promise<Array<{ town: string; at: number }>> {
    return this.store.overdue(now - OVERDUE_GRACE_MS, after, limit);
  }

  /** This shard's part of the watchdog's sweep at `now` (src/fleet/watchdog.ts): its own overdue towns, each asked. */
  async sweepOverdue(now: number, limits: WatchdogLimits): Promise<ShardSweep> {
    return sweepShard((after, limit) => this.overdue(after, limit, now), this.askTown, limits);
  }

  private readonly askTown: AskTown = async (townId) => {
    const town = this.fleetEnv.TOWN.getByName(townId) as unknown as { ensureAlarm(): Promise<Result<AlarmCheck>> };
    return town.ensureAlarm();
  };

  /** A write from a town running with `shards`: if that is not the count this shard settled for, it looks again on its next step. */
  private wrote(shards: number | undefined): void {
    const balanced = this.balancedFor();
    if (shards !== undefined && balanced !== undefined && balanced !== shards) this.ctx.storage.kv.delete(BALANCED_KEY);
  }

  private balancedFor(): number | undefined {
    return this.ctx.storage.kv.get<number>(BALANCED_KEY);
  }

  private heldCount(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM towns").one().n;
  }
}

const LAYOUT_KEY = "layout";
const BALANCED_KEY = "balanced-for";
