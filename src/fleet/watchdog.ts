import type { Logger } from "../observability/log";
import { fleetLayout } from "./layout";
import { shardStub, type FleetBindings } from "./shards";
import { WATCHDOG_LIMITS, type SweepReport, type WatchdogLimits } from "./shard-sweep";

export { WATCHDOG_LIMITS, type SweepReport } from "./shard-sweep";

/**
 * One sweep of the fleet (the Cron Trigger's `scheduled` handler runs it every minute). First every
 * shard that may hold towns hands over the rows that are no longer its own under the current shard
 * count (src/fleet/layout.ts), so each town has one shard that sweeps it; then every shard sweeps its
 * own overdue towns, all at once. The registry answers from its own storage, so the sweep wakes only
 * the towns it asks, never the fleet.
 */
export async function sweepFleet(env: FleetBindings, log: Logger, limits: WatchdogLimits = WATCHDOG_LIMITS): Promise<SweepReport> {
  const layout = await fleetLayout(env);
  const balance = await Promise.all(layout.shards.map((i) => shardStub(env, i).rebalance(layout.current, i, layout.now)));
  // Shards past the count that hold nothing any more are no longer read.
  const lastHolding = balance.reduce((last, result, i) => (result.held > 0 ? i : last), -1);
  const span = Math.max(layout.current, lastHolding + 1);
  if (span < layout.span) await shardStub(env, 0).settle(layout.current, span);
  const sweeps = await Promise.all(layout.shards.map((i) => shardStub(env, i).sweepOverdue(layout.now, limits)));
  const tally = { checked: 0, rearmed: 0, armed: 0, asleep: 0, missing: 0, failed: 0, truncated: false };
  for (const { report, notes } of sweeps) {
    for (const key of ["checked", "rearmed", "armed", "asleep", "missing", "failed"] as const) tally[key] += report[key];
    tally.truncated ||= report.truncated;
    for (const note of notes) {
      if (note.kind === "rearmed") log.warn("watchdog re-armed a town's alarm", { townId: note.townId, at: note.at, owed: note.owed });
      else log.error("watchdog could not reach a town", { townId: note.townId, error: note.error });
    }
  }
  const handedOver = balance.reduce((n, result) => n + result.handedOver, 0);
  log.info("watchdog sweep", { ...tally, shards: layout.current, shardsRead: layout.span, handedOver });
  return tally;
}
