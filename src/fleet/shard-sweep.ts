import type { Result } from "../domain/result";
import type { AlarmCheck } from "../tick/liveness";

/** Asks one town whether its alarm is armed for what it owes (the town object's `ensureAlarm`); not ok: no such town. */
export type AskTown = (townId: string) => Promise<Result<AlarmCheck>>;

/**
 * The watchdog's bounds for one sweep of one shard. Each shard sweeps its own towns in its own call
 * (so each has its own budget of subrequests: `maxTowns` towns asked), a page of its index on next-due
 * time at a time, asking `concurrency` at once; the most overdue come first, so what is left waits for
 * the next minute's sweep. A fleet of S shards is covered within ceil(overdue towns / (S × maxTowns)) sweeps.
 */
export const WATCHDOG_LIMITS = { pageSize: 200, maxTowns: 1_000, concurrency: 25 } as const;
export type WatchdogLimits = { pageSize: number; maxTowns: number; concurrency: number };

export interface SweepReport {
  /** Towns found overdue and asked. */
  readonly checked: number;
  /** Their alarm was missing (or late) with work owed: set again. */
  readonly rearmed: number;
  /** Their alarm was fine: the registry's picture was only stale (each reported afresh). */
  readonly armed: number;
  /** They owe nothing: asleep, as they should be. */
  readonly asleep: number;
  /** Listed but holding no town (deleted meanwhile). */
  readonly missing: number;
  /** The call failed: they stay overdue, and the registry marks them silent if it lasts. */
  readonly failed: number;
  /** A shard stopped at `maxTowns` with more overdue towns left. */
  readonly truncated: boolean;
}

/** What one shard's sweep found worth a log line (written by the Worker, which logs the sweep). */
export type SweepNote =
  | { readonly kind: "rearmed"; readonly townId: string; readonly at: number; readonly owed: string }
  | { readonly kind: "unreachable"; readonly townId: string; readonly error: string };

export interface ShardSweep {
  readonly report: SweepReport;
  readonly notes: SweepNote[];
}

/** A page of a shard's overdue towns (most overdue first, after `after`). */
export type OverduePage = (after: { at: number; town: string } | null, limit: number) => Promise<Array<{ town: string; at: number }>>;

/**
 * One shard's sweep: read its overdue towns page by page — their last summary promised a tick more
 * than a grace ago — and ask each to make sure its alarm is armed for what it owes. The index holds
 * only towns that promised a tick, so a town that owes nothing is never read, let alone woken. A town
 * that was only late to report answers "armed" and reports afresh; one whose alarm was lost sets it again.
 */
export async function sweepShard(overdue: OverduePage, askTown: AskTown, limits: WatchdogLimits = WATCHDOG_LIMITS): Promise<ShardSweep> {
  const tally = { checked: 0, rearmed: 0, armed: 0, asleep: 0, missing: 0, failed: 0, truncated: false };
  const notes: SweepNote[] = [];
  let after: { at: number; town: string } | null = null;
  for (;;) {
    const room = limits.maxTowns - tally.checked;
    if (room <= 0) {
      tally.truncated = (await overdue(after, 1)).length > 0;
      break;
    }
    const asked = Math.min(limits.pageSize, room);
    const page = await overdue(after, asked);
    if (page.length === 0) break;
    await inSlots(page, limits.concurrency, async ({ town }) => {
      tally.checked += 1;
      try {
        const result = await askTown(town);
        if (!result.ok) tally.missing += 1;
        else if (result.value.outcome === "rearmed") {
          tally.rearmed += 1;
          notes.push({ kind: "rearmed", townId: town, at: result.value.alarm.at, owed: result.value.owed.reason });
        } else tally[result.value.outcome] += 1;
      } catch (error) {
        tally.failed += 1;
        notes.push({ kind: "unreachable", townId: town, error: error instanceof Error ? error.message : String(error) });
      }
    });
    after = page.at(-1)!;
    // A short page is the last; a page cut to the room left is not (the next turn says whether more are left).
    if (page.length < asked) break;
  }
  return { report: tally, notes };
}

/** Runs `work` over `items`, at most `slots` at a time. */
async function inSlots<T>(items: readonly T[], slots: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(slots, items.length) }, worker));
}
