/**
 * Snapshot sizes for the benchmark's lifetime town (1,000 agents, 10,000 live beads: its finished beads
 * are archived, so a snapshot is the same whatever history is behind it) and a town a tenth its size:
 * one snapshot before and after compression, and the week of hourly snapshots retention keeps — all
 * full (as before incremental snapshots), and as the town stores them now (a full one at least daily,
 * deltas from it between), with the town changing between snapshots as bench/snapshot-week.ts
 * describes. Node's CompressionStream is zlib's gzip at its default level, as the Workers runtime's is.
 * The week's share of the town's database is measured in the object: the bench's `snapshot-week` action.
 *
 *   node --import tsx bench/snapshot-size.ts
 */
import { packSnapshot, rowsOf, SNAPSHOT_FULL_EVERY_MS, type SnapshotBase, snapshotBase, snapshotFrame, textOf } from "../src/db/snapshot-codec";
import type { TownId } from "../src/domain/ids";
import { newTown } from "../src/domain/model";
import { type StateSnapshot, snapshotOf } from "../src/domain/snapshot";
import { TownState } from "../src/domain/state";
import { anHourLater, HOUR, rowsChanged, WEEK_HOURS } from "./snapshot-week";
import { syntheticTown } from "./synthetic";

const MiB = 2 ** 20;
const now = Date.now();
const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`;
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

/** A week and a day of hourly snapshots stored as the town stores them; what retention keeps at its end. */
async function storedWeek(initial: StateSnapshot, finishedPerHour: number) {
  const hours = WEEK_HOURS + SNAPSHOT_FULL_EVERY_MS / HOUR;
  const stored: Array<{ hour: number; bytes: number; baseHour: number | null }> = [];
  let state = initial;
  let base: SnapshotBase | null = null;
  let changed = { agents: 0, beads: 0 };
  for (let hour = 1; hour <= hours; hour++) {
    const next = anHourLater(state, hour, now + hour * HOUR, finishedPerHour);
    if (hour === 1) changed = rowsChanged(state, next);
    state = next;
    const rows = rowsOf(state as never);
    const json = textOf(state as never, rows);
    if (base && (hour - base.takenAt) * HOUR >= SNAPSHOT_FULL_EVERY_MS) base = null;
    const frame = snapshotFrame(state as never, rows, json, [], base);
    const packed = await packSnapshot(frame.text);
    if (!frame.delta) base = snapshotBase(hour, hour, rows);
    stored.push({ hour, bytes: packed.storedBytes, baseHour: frame.delta ? base!.takenAt : null });
  }
  // Retention: the last week, the newest snapshot before it, and the full snapshots those are deltas from.
  const edge = hours - WEEK_HOURS;
  const kept = new Set(stored.filter((s) => s.hour >= edge).map((s) => s.hour));
  for (const s of stored) if (kept.has(s.hour) && s.baseHour !== null) kept.add(s.baseHour);
  const week = stored.filter((s) => kept.has(s.hour));
  return {
    changed,
    bytes: week.reduce((sum, s) => sum + s.bytes, 0),
    full: week.filter((s) => s.baseHour === null).length,
    deltas: week.filter((s) => s.baseHour !== null).length,
    deltaBytes: week.filter((s) => s.baseHour !== null).reduce((sum, s, _i, all) => sum + s.bytes / all.length, 0),
  };
}

console.log(
  "| town | finished / hour | rows changed / hour (agents, beads) | snapshot JSON | full, compressed | delta, compressed (mean) | week of full | week as stored | stored ÷ full |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const [agents, beads] of [
  [1_000, 10_000],
  [100, 1_000],
] as const) {
  const town = syntheticTown(agents, beads, now, 0);
  const state = new TownState(newTown("snapshot-size" as TownId, {}, now), town.rigs, town.agents, town.beads);
  const snapshot = snapshotOf(state);
  const packed = await packSnapshot(JSON.stringify({ pending: [], state: snapshot }));
  const fullWeek = packed.storedBytes * WEEK_HOURS;
  for (const finishedPerHour of [Math.round((42 * agents) / 1_000), Math.round((400 * agents) / 1_000)]) {
    const week = await storedWeek(snapshot, finishedPerHour);
    console.log(
      `| ${agents.toLocaleString("en-US")} agents, ${beads.toLocaleString("en-US")} live beads | ${finishedPerHour} | ${pct(week.changed.agents)}, ${pct(week.changed.beads)} | ${mib(packed.bytes)} | ${(packed.storedBytes / 1024).toFixed(1)} KiB | ${(week.deltaBytes / 1024).toFixed(1)} KiB | ${mib(fullWeek)} | ${mib(week.bytes)} (${week.full} full, ${week.deltas} deltas) | ${(week.bytes / fullWeek).toFixed(2)} |`,
    );
  }
}
