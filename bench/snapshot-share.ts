/**
 * The week of snapshots' share of the database of the lifetime town (1,000 agents, 10,000 live beads,
 * 10,000 finished behind it, its week of events and ticks, seeded as bench/run.ts's lifetime section
 * seeds it), before (168 full hourly snapshots) and after (as the town stores them now), for the
 * bench's pace (42 finished issues an hour) and a town ten times as busy (400): bench/worker.ts
 * `benchSnapshotWeek`. It is what the lifetime section of bench/run.ts should call once a town is
 * seeded: `await bench(town, "snapshot-week", { finishedPerHour })`.
 *
 *   node --import tsx bench/snapshot-share.ts
 */
import { startLocalWorker } from "../scripts/local-worker";

// A runtime of its own for each town, as bench/run.ts's lifetime section does (locally every object shares one isolate).
let server = await startLocalWorker({ script: "bench/worker.ts" });
const fresh = async () => {
  await server.stop();
  server = await startLocalWorker({ script: "bench/worker.ts" });
};
const bench = async (town: string, action: string, body: Record<string, unknown> = {}) => {
  const response = await fetch(`${server.url}/bench/towns/${town}/${action}`, { method: "POST", body: JSON.stringify(body) });
  const json = (await response.json()) as Record<string, any>;
  if (!response.ok) throw new Error(`${action} on ${town}: ${JSON.stringify(json)}`);
  return json;
};
const MiB = 2 ** 20;
try {
  const profile = await bench("share-calibration", "calibrate", { issues: 200, bodyChars: 600 });
  const finished = 10_000;
  console.log(
    "| finished / hour | rows changed / hour (agents, beads) | before: 168 full | its share | after: as stored | its share | snapshot time (median, max) |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const finishedPerHour of [42, 400]) {
    const town = `share-${finishedPerHour}`;
    await fresh();
    await bench(town, "seed", { agents: 1_000, beads: 10_000, finishedShare: 0 });
    for (let from = 0; from < finished; from += 5_000) await bench(town, "seed-history", { from, count: 5_000, total: finished, profile });
    for (let written = 0; written < 168; written += 12) await bench(town, "seed-snapshots", { count: 12, olderThan: written });
    await bench(town, "reload");
    const week = await bench(town, "snapshot-week", { finishedPerHour });
    const pct = (share: number) => `${(share * 100).toFixed(1)}% of ${(week.before.databaseBytes / MiB).toFixed(0)} MiB`;
    console.log(
      `| ${finishedPerHour} | ${(week.rowsChangedPerHour.agents * 100).toFixed(1)}%, ${(week.rowsChangedPerHour.beads * 100).toFixed(1)}% | ${(week.before.bytes / MiB).toFixed(2)} MiB | ${pct(week.before.share)} | ${(week.after.bytes / MiB).toFixed(2)} MiB (${week.after.full} full, ${week.after.deltas} deltas) | ${(week.after.share * 100).toFixed(1)}% of ${(week.after.databaseBytes / MiB).toFixed(0)} MiB | ${week.snapshotMs.median.toFixed(0)} ms, ${week.snapshotMs.max.toFixed(0)} ms |`,
    );
  }
} finally {
  await server.stop();
}
