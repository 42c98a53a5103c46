/**
 * One snapshot's size before and after compression, for the benchmark's lifetime town (1,000 agents,
 * 10,000 live beads: its finished beads are archived, so the snapshot is the same whatever history is
 * behind it) and a town a tenth its size, with the week of hourly snapshots that retention keeps.
 * Node's CompressionStream is zlib's gzip at its default level, as the Workers runtime's is.
 *
 *   node --import tsx bench/snapshot-size.ts
 */
import { packSnapshot } from "../src/db/snapshot-codec";
import type { TownId } from "../src/domain/ids";
import { newTown } from "../src/domain/model";
import { snapshotOf } from "../src/domain/snapshot";
import { TownState } from "../src/domain/state";
import { syntheticTown } from "./synthetic";

const WEEK = 168;
const MiB = 2 ** 20;
const now = Date.now();

console.log("| town | snapshot JSON | compressed | ratio | week of 168, JSON | week of 168, compressed |");
console.log("|---|---|---|---|---|---|");
for (const [agents, beads] of [
  [1_000, 10_000],
  [100, 1_000],
] as const) {
  const town = syntheticTown(agents, beads, now, 0);
  const state = new TownState(newTown("snapshot-size" as TownId, {}, now), town.rigs, town.agents, town.beads);
  const packed = await packSnapshot(JSON.stringify(snapshotOf(state)));
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`;
  console.log(
    `| ${agents.toLocaleString("en-US")} agents, ${beads.toLocaleString("en-US")} live beads | ${mib(packed.bytes)} | ${(packed.storedBytes / 1024).toFixed(1)} KiB | ${(packed.bytes / packed.storedBytes).toFixed(1)} × | ${mib(packed.bytes * WEEK)} | ${mib(packed.storedBytes * WEEK)} |`,
  );
}
