import type { Result } from "../domain/result";
import type { AlarmCheck } from "../tick/liveness";
import type { Logger } from "../observability/log";
import { allRegistries, REGISTRY_SHARDS, type FleetBindings } from "./shards";

/** Asks one town whether its alarm is armed for what it owes (the town object's `ensureAlarm`); not ok: no such town. */
export type AskTown = (townId: string) => Promise<Result<AlarmCheck>>;

/**
 * The watchdog's bounds for one sweep. A sweep asks one town at a time per slot, a page of the
 * registry at a time, and stops after `maxTowns` (each town asked is a subrequest of the scheduled
 * invocation); the most overdue come first, so what is left waits for the next minute's sweep.
 */
export const WATCHDOG_LIMITS = { pageSize: 200, maxTowns: 1_000, concurrency: 25 } as const;

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
  /** The sweep stopped at `maxTowns` with more overdue towns left. */
  readonly truncated: boolean;
}

/**
 * One sweep (the Cron Trigger's `scheduled` handler runs it every minute): read, page by page, the
 * towns each registry shard holds overdue — their last summary promised a tick more than a grace ago —
 * and ask each to make sure its alarm is armed for what it owes. The registry answers from its own
 * storage, so the sweep wakes only the towns it asks, never the fleet. A town that was only late to
 * report answers "armed" and reports afresh; one whose alarm was lost sets it again.
 */
export async function sweepFleet(
  env: FleetBindings,
  askTown: AskTown,
  log: Logger,
  limits: { pageSize: number; maxTowns: number; concurrency: number } = WATCHDOG_LIMITS,
  shards = REGISTRY_SHARDS,
): Promise<SweepReport> {
  const tally = { checked: 0, rearmed: 0, armed: 0, asleep: 0, missing: 0, failed: 0, truncated: false };
  for (const registry of allRegistries(env, shards)) {
    let after: { at: number; town: string } | null = null;
    for (;;) {
      const room = limits.maxTowns - tally.checked;
      if (room <= 0) {
        tally.truncated = (await registry.overdue(after, 1)).length > 0;
        break;
      }
      const page = await registry.overdue(after, Math.min(limits.pageSize, room));
      if (page.length === 0) break;
      await inSlots(page, limits.concurrency, async ({ town }) => {
        tally.checked += 1;
        try {
          const result = await askTown(town);
          if (!result.ok) tally.missing += 1;
          else if (result.value.outcome === "rearmed") {
            tally.rearmed += 1;
            log.warn("watchdog re-armed a town's alarm", { townId: town, at: result.value.alarm.at, owed: result.value.owed.reason });
          } else tally[result.value.outcome] += 1;
        } catch (error) {
          tally.failed += 1;
          log.error("watchdog could not reach a town", { townId: town, error });
        }
      });
      after = page.at(-1)!;
      if (page.length < limits.pageSize) break;
    }
  }
  log.info("watchdog sweep", tally);
  return tally;
}

/** Runs `work` over `items`, at most `slots` at a time. */
async function inSlots<T>(items: readonly T[], slots: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(slots, items.length) }, worker));
}
