/**
 * `npm run bench`: measures the town reconciler in the real Workers runtime on this machine (local
 * workerd via `wrangler dev`, real SQLite), prints the figures and writes bench/RESULTS.md.
 *
 * Times are measured inside the town object around the production code (in local workerd the clock
 * advances during CPU work), except ingest, which is timed end to end from here over HTTP.
 */
import { execSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir, type as osType, release } from "node:os";
import { join } from "node:path";
import { startLocalWorker } from "../scripts/local-worker";
import { benchFleet } from "./fleet";
import { benchFleetShards, logFleetShards, SHARDED_FLEETS, type FleetShardRow } from "./fleet-shards";
import { costSection, type CostProbe, type IdleProbe } from "./cost";
import { syntheticTown } from "./synthetic";
import { TownState } from "../src/domain/state";
import { newTown } from "../src/domain/model";
import type { TownId } from "../src/domain/ids";
import { stateFromSnapshot, type StateSnapshot } from "../src/domain/snapshot";
import type { HistoryProfile } from "./history";

const SIZES: Array<[agents: number, beads: number]> = [
  [100, 1_000],
  [1_000, 10_000],
  [3_000, 30_000],
];
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = 3;
/**
 * Ticks a run of the tick figures times, one after another: a run's figure is their mean. The local
 * clock moves in whole milliseconds, so one tick of a few reads as a whole number; the mean of a few
 * (their starts fall anywhere within a millisecond) reads the fraction.
 */
const TICKS_A_RUN = 5;
const AGENT_TOKEN_HEADER = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

interface Stats {
  median: number;
  p95: number;
  max: number;
  runs: number;
}

const stats = (values: number[]): Stats => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return { median: at(0.5), p95: at(0.95), max: sorted.at(-1)!, runs: sorted.length };
};
const fmt = (n: number, digits = 1) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const row = (s: Stats, digits = 1) => `${fmt(s.median, digits)} | ${fmt(s.p95, digits)} | ${fmt(s.max, digits)}`;

async function main() {
  const lines: string[] = [];
  const log = (line = "") => {
    console.log(line);
    lines.push(line);
  };
  const started = Date.now();
  const progress = (what: string) => process.stderr.write(`  … ${what} (${Math.round((Date.now() - started) / 1000)} s)\n`);
  /**
   * Runs one part of the benchmark in a runtime of its own (fresh storage, fresh objects): nothing a part
   * leaves loaded or how the local runtime takes an object's reset can reach the next. A runtime that
   * dies (the connection lost, the port closed) is started again and the part run once more; a second
   * death is reported with the runtime's last output.
   */
  const part: Part = async (name, work, storage) => {
    for (let attempt = 1; ; attempt++) {
      // A part that writes its storage from nothing starts again from nothing.
      if (storage?.fresh && attempt > 1) for (const entry of readdirSync(storage.dir)) rmSync(join(storage.dir, entry), { recursive: true, force: true });
      const server = await startLocalWorker({ script: "bench/worker.ts", persistTo: storage?.dir, inspector: false });
      try {
        return await work(benchAt(server.url), server.url);
      } catch (error) {
        const output = server.recentOutput();
        if (attempt >= 2 || !runtimeDied(error)) {
          process.stderr.write(`part "${name}" failed (try ${attempt}); the local runtime's last output:\n${output}\n`);
          throw error;
        }
        progress(`part "${name}": the local runtime died (${String(error).slice(0, 160)}); once more in a fresh one`);
      } finally {
        await server.stop();
      }
    }
  };
  const only = process.env.BENCH_ONLY;

  try {
    /** The sharded fleets, each size a part of its own; a size that cannot run is reported with why, and the run goes on. */
    const fleetShards = async () => {
      const rows: FleetShardRow[] = [];
      for (const towns of SHARDED_FLEETS) {
        try {
          rows.push(
            ...(await part(`fleet over shards, ${towns} towns`, (_b, base) => benchFleetShards(base, { runs: RUNS, progress, stats, sizes: [towns] }))),
          );
        } catch (error) {
          rows.push({ towns, failed: String(error).slice(0, 400) });
        }
      }
      logFleetShards(rows, { log, fmt, runs: RUNS });
    };
    if (only === "fleet-shards") {
      await fleetShards();
      return;
    }
    if (only === "fleet") {
      // Only the fleet part, printed (bench/RESULTS.md is written by a whole run only).
      await part("fleet", (_b, base) => benchFleet(base, { runs: RUNS, warmup: WARMUP, log, progress, stats, fmt }));
      await fleetShards();
      return;
    }
    log("# Benchmark results");
    log();
    log(
      `Run with \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} at commit ${commitOf()}; ${RUNS} measured runs per figure after ${WARMUP} warm-up runs.`,
    );
    log(
      `Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${osType()} ${release()}; Node ${process.version}; workerd from wrangler ${process.env.npm_package_devDependencies_wrangler ?? "4.124.0"} (local, real SQLite).`,
    );
    log();
    log("Times are milliseconds measured inside the town object around the production code (in local workerd");
    log("the clock advances during CPU work; in production it only advances across I/O). The synthetic towns have");
    log("40% of agents working, one merge request in review per rig, and mostly closed beads; pending events are");
    log("container status changes of working agents, each one changing an agent row. workerd's clock has a");
    log(`resolution of one millisecond, so a run of the tick figures is the mean of ${TICKS_A_RUN} ticks one after another (each timed alone:`);
    log("their starts fall anywhere within a millisecond, so the mean reads the fraction); medians are over the runs.");
    log();

    // One section alone (printed, RESULTS.md left as it is): BENCH_ONLY=lifetime, BENCH_ONLY=cost, BENCH_ONLY=ingest.
    if (only === "lifetime") {
      await measureLifetime(part, log, progress);
      return;
    }
    if (only === "ingest") {
      const rates = await measureIngest(part, log, progress);
      log(`HTTP ingest (1,000 a batch, 4 senders) ÷ in the object: ${fmt((rates["1000/http/4"]! / rates["1000/object"]!) * 100, 0)}%`);
      return;
    }
    if (only === "cost") {
      const probes = await part("cost", (bench) => measureCost(bench, progress));
      const profile = await part("calibration", (bench) => calibrate(bench, progress));
      costSection(log, fmt, { ...probes, profile, alarmMs: probes.alarmMs, archivedBytesPerBead: ARCHIVED_BYTES_PER_BEAD });
      return;
    }

    // ---- ticks, floor, scaling, cold load, rows ---------------------------------------------------------
    const { scaling, cold, probes } = await part("ticks", async (bench) => {
      const scaling: Array<{ agents: number; beads: number; steady: Stats; busy: Stats; floor: Stats; alarm: Stats }> = [];
      for (const [agents, beads] of SIZES) {
        const town = `bench-${agents}-${beads}`;
        progress(`seeding ${agents} agents / ${beads} beads`);
        await bench(town, "seed", { agents, beads });
        const steady: number[] = [];
        const alarm: number[] = [];
        for (let i = 0; i < WARMUP + RUNS; i++) {
          const tick = await bench(town, "tick", { count: TICKS_A_RUN });
          if (tick.actions !== 0 || tick.violations !== 0) throw new Error(`the synthetic town is not steady: ${JSON.stringify(tick)}`);
          if (i >= WARMUP) steady.push(tick.ms);
          const whole = await bench(town, "alarm");
          if (i >= WARMUP) alarm.push(whole.ms);
        }
        progress(`ticks with 1,000 pending events (${agents} agents)`);
        const busy: number[] = [];
        const floor: number[] = [];
        for (let i = 0; i < WARMUP + RUNS; i++) {
          const tick = await bench(town, "tick", { count: TICKS_A_RUN, pending: 1_000 });
          if (tick.drained !== 1_000) throw new Error(`expected 1,000 drained events, got ${tick.drained}`);
          const base = await bench(town, "floor", { count: TICKS_A_RUN, pending: 1_000 });
          if (i >= WARMUP) {
            busy.push(tick.ms);
            floor.push(base.ms);
          }
        }
        scaling.push({ agents, beads, steady: stats(steady), busy: stats(busy), floor: stats(floor), alarm: stats(alarm) });
      }
      progress("cold loads");
      const cold: number[] = [];
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const load = await bench("bench-1000-10000", "cold-load");
        if (i >= WARMUP) cold.push(load.ms);
      }
      return { scaling, cold, probes: await measureCost(bench, progress) };
    });

    log("## Tick cost");
    log();
    log("| town (agents / beads) | pending events | median ms | p95 ms | max ms |");
    log("|---|---|---|---|---|");
    for (const s of scaling) {
      log(`| ${fmt(s.agents, 0)} / ${fmt(s.beads, 0)} | 0 (steady state) | ${row(s.steady, 2)} |`);
      log(`| ${fmt(s.agents, 0)} / ${fmt(s.beads, 0)} | 1,000 | ${row(s.busy, 2)} |`);
    }
    log();
    log("The tick is the transaction the alarm runs: drain, apply, reconcile (all passes), invariants and repairs,");
    log("and every write (state rows, event status, outbox, violations, counters, tick record). The whole alarm adds");
    log("the simulated platform, side effects, scheduling and the post-tick records:");
    log();
    log("| town | whole alarm, steady state: median ms | p95 ms | max ms |");
    log("|---|---|---|---|");
    for (const s of scaling) log(`| ${fmt(s.agents, 0)} / ${fmt(s.beads, 0)} | ${row(s.alarm, 2)} |`);
    log();

    log("## Tick ÷ floor");
    log();
    log("The floor is the SQLite work a 1,000-event tick cannot avoid, done with the DO SQL API and nothing else,");
    log("each part the cheapest way known: read the pending events, mark them processed (one range update), write");
    log("each changed agent row once (one statement for all of them). Everything else a tick does is above it.");
    log();
    log("| town | tick median ms | floor median ms | tick ÷ floor |");
    log("|---|---|---|---|");
    for (const s of scaling)
      log(`| ${fmt(s.agents, 0)} / ${fmt(s.beads, 0)} | ${fmt(s.busy.median, 2)} | ${fmt(s.floor.median, 2)} | ${fmt(s.busy.median / s.floor.median, 2)} |`);
    log();

    log("## Scaling");
    log();
    log("| town | size × | steady tick ms | × smallest | 1,000-event tick ms | × smallest |");
    log("|---|---|---|---|---|---|");
    const first = scaling[0]!;
    for (const s of scaling) {
      log(
        `| ${fmt(s.agents, 0)} / ${fmt(s.beads, 0)} | ${fmt(s.beads / first.beads, 0)} | ${fmt(s.steady.median, 2)} | ${fmt(s.steady.median / first.steady.median, 1)} | ${fmt(s.busy.median, 2)} | ${fmt(s.busy.median / first.busy.median, 1)} |`,
      );
    }
    log();

    // ---- cold load -----------------------------------------------------------------------------------
    log("## Cold load");
    log();
    log("The 1,000 / 10,000 town's working set is dropped and loaded again from SQLite in its object, as a new object");
    log("does after an eviction (migration check, every rig, agent, bead and dependency, open violations); starting");
    log("the isolate is not part of it.");
    log();
    log("| town | median ms | p95 ms | max ms |");
    log("|---|---|---|---|");
    log(`| 1,000 / 10,000 | ${row(stats(cold), 2)} |`);
    log();

    // ---- ingest --------------------------------------------------------------------------------------
    const ingestRates = await measureIngest(part, log, progress);

    // ---- replay --------------------------------------------------------------------------------------
    // Not needed by the parts after it: if its runtime dies twice, that is reported and the run goes on.
    const replay = await part("replay", async (bench) => {
      progress("building a 100,000-event history");
      const replayTown = "bench-replay";
      await bench(replayTown, "seed", { agents: 100, beads: 1_000 });
      const from = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await bench(replayTown, "history", { events: 100_000, perTick: 1_000 });
      const to = Date.now();
      progress("replaying it");
      const replayRates: number[] = [];
      let replayed = { eventsReplayed: 0, ticks: 0, divergent: 0 };
      for (let i = 0; i < WARMUP + Math.min(RUNS, 8); i++) {
        const result = await bench(replayTown, "replay", { from, to });
        replayed = result as typeof replayed;
        if (result.divergent !== 0) throw new Error(`replay diverged on ${result.divergent} ticks`);
        if (i >= WARMUP) replayRates.push(result.eventsReplayed / (result.ms / 1000));
      }
      return { replayRates, replayed };
    }).catch((error: unknown) => ({ failed: String(error).slice(0, 300) }));
    const { replayRates, replayed } = "failed" in replay ? { replayRates: [Number.NaN], replayed: { eventsReplayed: 0, ticks: 0, divergent: 0 } } : replay;
    log("## Replay");
    log();
    log(`Replay of a history of ${fmt(replayed.eventsReplayed, 0)} events in ${fmt(replayed.ticks, 0)} ticks (100 agents / 1,000 beads): from`);
    log("the snapshot, every tick re-run (commands, observations, drained events, reconcile, invariants) and compared");
    log("with what was recorded (0 divergent ticks), then the reconcile at the end of the window.");
    log();
    log("| events | median events/s | slowest run events/s |");
    log("|---|---|---|");
    const r = stats(replayRates);
    if ("failed" in replay) log(`| — | — (did not run: the local runtime died twice: ${replay.failed.replace(/\|/g, "/").replace(/\s+/g, " ")}) | — |`);
    else log(`| ${fmt(replayed.eventsReplayed, 0)} | ${fmt(r.median, 0)} | ${fmt(Math.min(...replayRates), 0)} |`);
    log();

    // ---- memory --------------------------------------------------------------------------------------
    log("## Memory");
    log();
    const memory = measureStateMemory(1_000, 10_000);
    log("Method: the domain state is plain TypeScript, so it is built here in Node (same V8 engine as workerd) from");
    log("the same synthetic town, and the JS heap is measured with `process.memoryUsage().heapUsed` after a forced");
    log("garbage collection, before and after; the bodies of beads are not held in memory (they stay in SQLite), and");
    log("SQLite's page cache is outside the JS heap. Finished beads that nothing holds are not in it either: they go");
    log("to the archive (SQLite) as the state is built, as on a cold load, so this is the working set's memory.");
    log();
    log("| town | state in memory |");
    log("|---|---|");
    log(`| 1,000 / 10,000 | ${fmt(memory / 2 ** 20, 1)} MiB |`);
    log();

    // ---- the fleet -----------------------------------------------------------------------------------
    await part("fleet", (_b, base) => benchFleet(base, { runs: RUNS, warmup: WARMUP, log, progress, stats, fmt }));
    await fleetShards();

    // ---- lifetime ------------------------------------------------------------------------------------
    // Each town in a runtime of its own (see measureLifetime).
    const { rows: lifetime, profile } = await measureLifetime(part, log, progress);

    // ---- cost ----------------------------------------------------------------------------------------
    const archived =
      lifetime.length >= 2
        ? (lifetime.at(-1)!.storage.bytes - lifetime.at(-2)!.storage.bytes) / (lifetime.at(-1)!.finished - lifetime.at(-2)!.finished)
        : ARCHIVED_BYTES_PER_BEAD;
    const { figures } = costSection(log, fmt, { ...probes, profile, alarmMs: scaling[1]!.alarm.median, archivedBytesPerBead: archived });

    // ---- targets -------------------------------------------------------------------------------------
    const mid = scaling[1]!;
    const ingest1000 = ingestRates["1000/http/4"]!;
    log("## Against the targets (DESIGN §7, issue 5)");
    log();
    log("| target | measured | |");
    log("|---|---|---|");
    const check = (ok: boolean) => (ok ? "met" : "**missed**");
    log(`| tick, 1,000 / 10,000 with 1,000 pending ≤ 25 ms | ${fmt(mid.busy.median, 2)} ms | ${check(mid.busy.median <= 25)} |`);
    log(`| steady-state tick, 1,000 / 10,000 ≤ 5 ms | ${fmt(mid.steady.median, 2)} ms | ${check(mid.steady.median <= 5)} |`);
    log(`| ingest ≥ 20,000 events/s (batches of 1,000, HTTP, 4 senders) | ${fmt(ingest1000, 0)} events/s | ${check(ingest1000 >= 20_000)} |`);
    log(
      `| ingest ≥ 20,000 events/s (batches of 1,000, in the object) | ${fmt(ingestRates["1000/object"]!, 0)} events/s | ${check(ingestRates["1000/object"]! >= 20_000)} |`,
    );
    log(`| replay ≥ 100,000 events/s | ${fmt(r.median, 0)} events/s | ${check(r.median >= 100_000)} |`);
    log(`| cold load ≤ 200 ms | ${fmt(stats(cold).median, 2)} ms | ${check(stats(cold).median <= 200)} |`);
    for (const size of scaling) {
      const ratio = size.busy.median / size.floor.median;
      log(`| tick ÷ floor ≤ 1.25, ${fmt(size.agents, 0)} / ${fmt(size.beads, 0)} | ${fmt(ratio, 2)} | ${check(ratio <= 1.25)} |`);
    }
    const share = ingest1000 / ingestRates["1000/object"]!;
    log(`| HTTP ingest (1,000 a batch, 4 senders) ≥ 40% of the in-object rate | ${fmt(share * 100, 0)}% | ${check(share >= 0.4)} |`);
    for (const x of figures) {
      const ratio = x.floor === 0 ? (x.measured === 0 ? 1 : Infinity) : x.measured / x.floor;
      log(`| rows written ${x.name} ≤ 1.25 × floor | ${Number.isFinite(ratio) ? `${fmt(ratio, 2)} ×` : "above a floor of 0"} | ${check(ratio <= 1.25)} |`);
    }
    log(`| memory of 1,000 / 10,000 ≤ 32 MB | ${fmt(memory / 2 ** 20, 1)} MiB | ${check(memory <= 32 * 2 ** 20)} |`);
    const [small, large] = [lifetime[0]!, lifetime.at(-1)!];
    const within = (name: string, a: number, b: number) =>
      log(`| lifetime: ${name} at ${fmt(large.finished, 0)} finished ≤ 1.25 × at ${fmt(small.finished, 0)} | ${fmt(b / a, 2)} × | ${check(b <= 1.25 * a)} |`);
    within("steady tick", small.steady.median, large.steady.median);
    within("1,000-event tick", small.busy.median, large.busy.median);
    within("whole alarm", small.alarm.median, large.alarm.median);
    within("cold load", small.cold.median, large.cold.median);
    within("memory of the state", small.memory, large.memory);
    within("snapshot bytes", small.snapshotBytes, large.snapshotBytes);
    within("snapshot time", small.snapshotMs.median, large.snapshotMs.median);
    within("a page of 100 failed beads", small.listFailed.median, large.listFailed.median);
    log(`| lifetime: cold load at ${fmt(large.finished, 0)} finished ≤ 100 ms | ${fmt(large.cold.median, 2)} ms | ${check(large.cold.median <= 100)} |`);
    if (small.week) log(`| a week of snapshots ≤ 10% of the database | ${fmt(small.week.after.share * 100, 1)}% | ${check(small.week.after.share <= 0.1)} |`);
    log();
    log(`The whole run took ${fmt((Date.now() - started) / 60_000, 1)} minutes.`);
    log();
    writeFileSync(new URL("./RESULTS.md", import.meta.url), `${lines.join("\n")}\n`);
    process.stderr.write(`wrote bench/RESULTS.md in ${Math.round((Date.now() - started) / 1000)} s\n`);
  } finally {
    process.stderr.write(`bench: ${Math.round((Date.now() - started) / 1000)} s in all\n`);
  }
}

/** The commit the benchmark runs (and whether files differ from it). */
function commitOf(): string {
  try {
    const commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
    const changed = execSync("git status --porcelain --untracked-files=no", { encoding: "utf8" }).trim() !== "";
    return changed ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return "unknown";
  }
}

/** Errors that mean the local runtime went away (rather than a figure out of bounds or a bug). */
function runtimeDied(error: unknown): boolean {
  const text = `${String(error)} ${String((error as { cause?: unknown })?.cause ?? "")}`;
  return /fetch failed|ECONNREFUSED|ECONNRESET|Network connection lost|socket hang up|other side closed|UND_ERR/i.test(text);
}

/** Storage growth per finished bead past retention when the lifetime part has one size only (its last measured figure, 1.09 MiB a 1,000). */
const ARCHIVED_BYTES_PER_BEAD = 1_143;

/** Calibration alone: a real town takes 200 issues from sling to merged (see measureLifetime). */
async function calibrate(bench: Bench, progress: (what: string) => void): Promise<HistoryProfile> {
  progress("calibrating: a real town takes 200 issues from sling to merged");
  return (await bench("bench-calibration", "calibrate", { issues: 200, bodyChars: 600 })) as HistoryProfile;
}

/** The cost probes: rows of each step on a 100 / 1,000 and a 1,000 / 10,000 town, and a town with nothing to do. */
async function measureCost(bench: Bench, progress: (what: string) => void): Promise<{ small: CostProbe; large: CostProbe; idle: IdleProbe; alarmMs: number }> {
  progress("rows: what each step writes");
  const probe = async (agents: number, beads: number) => {
    const town = `bench-cost-${agents}-${beads}`;
    await bench(town, "seed", { agents, beads });
    return (await bench(town, "cost")) as unknown as CostProbe;
  };
  const small = await probe(100, 1_000);
  const large = await probe(1_000, 10_000);
  const idle = (await bench("bench-idle", "idle")) as unknown as IdleProbe;
  const alarms: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const whole = await bench("bench-cost-1000-10000", "alarm");
    if (i >= WARMUP) alarms.push(whole.ms);
  }
  return { small, large, idle, alarmMs: stats(alarms).median };
}

type Bench = (town: string, action: string, body?: unknown) => Promise<Record<string, any>>;

/** Calls an action of the benchmark worker at `base` on a town. */
const benchAt =
  (base: string): Bench =>
  async (town, action, body = {}) => {
    const response = await fetch(`${base}/bench/towns/${town}/${action}`, { method: "POST", body: JSON.stringify(body) });
    const text = await response.text();
    let json: Record<string, any>;
    try {
      json = JSON.parse(text) as Record<string, any>;
    } catch {
      // Not the Worker's answer: the local runtime's own (say "Network connection lost" when it went down).
      throw new Error(`${action} on ${town} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    if (!response.ok) throw new Error(`${action} on ${town}: ${JSON.stringify(json)}`);
    return json;
  };

interface LifetimeRow {
  finished: number;
  steady: Stats;
  busy: Stats;
  /** The 1,000-event tick's phases, ms: the mean over every measured tick (the record's phases are whole ms). */
  busyPhases: Record<string, number>;
  alarm: Stats;
  cold: Stats;
  memory: number;
  snapshotBytes: number;
  snapshotMs: Stats;
  storage: { bytes: number; rows: Record<string, number> };
  /** A page of 100 failed beads (GET …/beads?status=failed), in the object. */
  listFailed: Stats;
  /** The week of snapshots against the database (the first town only; bench/worker.ts `benchSnapshotWeek`). */
  week?: SnapshotWeek;
}

/** A week of hourly snapshots stored as the town stores them, against 168 full ones (bench/snapshot-week.ts). */
interface SnapshotWeek {
  rowsChangedPerHour: { agents: number; beads: number };
  before: { bytes: number; share: number; databaseBytes: number };
  after: { bytes: number; share: number; databaseBytes: number; full: number; deltas: number };
  snapshotMs: { median: number; max: number };
}

/** Finished issues an hour in the week of snapshots: the lifetime history's pace, 1,000 a day. */
const WEEK_FINISHED_PER_HOUR = 42;

/** Finished-bead histories behind a town of 1,000 agents and 10,000 live beads (BENCH_LIFETIME overrides the sizes). */
const LIFETIME = (process.env.BENCH_LIFETIME ?? "10000,300000,1000000").split(",").map(Number);
/**
 * Finished beads written a request: the local runtime holds a request's writes in memory until it ends,
 * and on a 2-core machine shared with other work it dropped its runtime on the second request of 5,000.
 */
const SEED_BATCH = 1_000;
/** Snapshots a week of hourly snapshotting keeps (DESIGN: kept as long as events and ticks, 7 days). */
const SNAPSHOTS_KEPT = 168;

/**
 * `storage`: the directory the runtime keeps its storage in (absent: a fresh one, removed when the part
 * ends); `fresh`: the part writes it from nothing, so a second try empties it first.
 */
type Part = <T>(name: string, work: (bench: Bench, base: string) => Promise<T>, storage?: { dir: string; fresh: boolean }) => Promise<T>;

/**
 * Batch ingest: over HTTP (one sender and four) and the town's share alone, timed inside it; the table
 * is logged, the medians come back by `batch/path` (`1000/http/4`, `1000/object`).
 */
async function measureIngest(part: Part, log: (line?: string) => void, progress: (what: string) => void): Promise<Record<string, number>> {
  log("## Batch ingest");
  log();
  log("End to end: `POST /api/towns/:id/events` over HTTP from Node to `wrangler dev` (its local proxy, routing,");
  log("token check, body limit, JSON parse, zod validation, RPC to the town, duplicate check, insert), timed from");
  log("here, one sender and four senders at once. In the object: the town's share alone (the same validation,");
  log("checks and insert), timed inside it.");
  log();
  log("| batch size | path | median events/s | slowest run events/s |");
  log("|---|---|---|---|");
  const ingestRates: Record<string, number> = {};
  // Its rows are logged once the part is done: a part run again (its runtime died) must not log twice.
  const ingestLines = await part("ingest", async (bench, base) => {
    const out: string[] = [];
    for (const batch of [100, 1_000]) {
      progress(`ingest in batches of ${batch}`);
      const town = `bench-ingest-${batch}`;
      const seeded = await bench(town, "seed", { agents: 100, beads: 1_000 });
      const agentId = "rig-0:polecat:0";
      const perRun = 10_000;
      const send = async (run: number, sender: number, count: number) => {
        for (let sent = 0; sent < count; sent += batch) {
          const events = Array.from({ length: batch }, (_, i) => ({
            eventId: `ingest-${run}-${sender}-${sent + i}`,
            type: "container_status",
            agentId,
            payload: { generation: 1, status: (sent + i) % 2 ? "running" : "starting" },
          }));
          const response = await fetch(`${base}/api/towns/${town}/events`, {
            method: "POST",
            headers: AGENT_TOKEN_HEADER(seeded.agentToken),
            body: JSON.stringify({ events }),
          });
          if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
        }
      };
      for (const senders of [1, 4]) {
        const rates: number[] = [];
        for (let run = 0; run < WARMUP + Math.min(RUNS, 8); run++) {
          const t0 = performance.now();
          await Promise.all(Array.from({ length: senders }, (_, sender) => send(run * 10 + senders, sender, perRun / senders)));
          if (run >= WARMUP) rates.push(perRun / ((performance.now() - t0) / 1000));
        }
        ingestRates[`${batch}/http/${senders}`] = stats(rates).median;
        out.push(`| ${fmt(batch, 0)} | HTTP, ${senders} sender${senders > 1 ? "s" : ""} | ${fmt(stats(rates).median, 0)} | ${fmt(Math.min(...rates), 0)} |`);
      }
      const inObject: number[] = [];
      for (let run = 0; run < WARMUP + Math.min(RUNS, 8); run++) {
        const result = await bench(town, "ingest-in-object", { size: batch, batches: perRun / batch });
        if (run >= WARMUP) inObject.push(result.eventsPerSecond);
      }
      ingestRates[`${batch}/object`] = stats(inObject).median;
      out.push(`| ${fmt(batch, 0)} | in the object | ${fmt(stats(inObject).median, 0)} | ${fmt(Math.min(...inObject), 0)} |`);
    }
    return out;
  });
  for (const line of ingestLines) log(line);
  log();
  return ingestRates;
}

/**
 * The calibration and each town measured run as parts of their own (a fresh runtime each): locally every
 * town object shares one isolate, so a town measured before would stay loaded (its memory counting
 * against the next), and no object is reset (`ctx.abort()`), which the local runtime takes differently
 * on different machines.
 */
async function measureLifetime(
  part: Part,
  log: (line?: string) => void,
  progress: (what: string) => void,
): Promise<{ rows: LifetimeRow[]; profile: HistoryProfile }> {
  const profile = await part("calibration", (bench) => calibrate(bench, progress));
  // Seeded in one runtime and measured in others on the same storage: each town is measured as it
  // lives, an object loaded from its storage, not in the isolate that just wrote its whole history.
  const dirs = new Map(LIFETIME.map((finished) => [finished, mkdtempSync(join(tmpdir(), "bench-lifetime-"))]));
  try {
    for (const [finished, dir] of dirs)
      await part(`lifetime: seeding ${finished} finished beads`, (bench) => seedLifetimeTown(bench, finished, profile, progress), { dir, fresh: true });
    // The sizes take turns, a round of runs each in a fresh runtime, the order reversed each round: a
    // machine that slows down or speeds up during the part (a long run's page cache, a neighbour) then
    // weighs on every size alike, not on the one measured last.
    const times = new Map(LIFETIME.map((finished) => [finished, [] as LifetimeTimes[]]));
    for (let round = 0; round < LIFETIME_ROUNDS; round++) {
      const order = round % 2 === 0 ? LIFETIME : [...LIFETIME].reverse();
      for (const finished of order) {
        const runs = Math.ceil(RUNS / LIFETIME_ROUNDS);
        const measured = await part(
          `lifetime with ${finished} finished beads, round ${round + 1}`,
          (bench) => timeLifetimeTown(bench, finished, runs, progress),
          {
            dir: dirs.get(finished)!,
            fresh: false,
          },
        );
        times.get(finished)!.push(measured);
      }
    }
    const rows: LifetimeRow[] = [];
    for (const [finished, dir] of dirs)
      rows.push(
        await part(`lifetime with ${finished} finished beads`, (bench) => describeLifetimeTown(bench, finished, times.get(finished)!), { dir, fresh: false }),
      );
    logLifetime(rows, profile, log);
    return { rows, profile };
  } finally {
    for (const dir of dirs.values()) rmSync(dir, { recursive: true, force: true });
  }
}

/** Rounds the lifetime sizes take turns in (each a fresh runtime per size, RUNS shared among them). */
const LIFETIME_ROUNDS = 3;

const lifetimeTown = (finished: number) => `bench-life-${finished}`;

/** One lifetime town, seeded: 1,000 agents and 10,000 live beads with `finished` finished beads behind them, and a week of snapshots. */
async function seedLifetimeTown(bench: Bench, finished: number, profile: HistoryProfile, progress: (what: string) => void): Promise<void> {
  const town = lifetimeTown(finished);
  progress(`lifetime: 1,000 agents, 10,000 live beads, seeding ${fmt(finished, 0)} finished`);
  await bench(town, "seed", { agents: 1_000, beads: 10_000, finishedShare: 0 });
  for (let from = 0; from < finished; from += SEED_BATCH) {
    await bench(town, "seed-history", { from, count: Math.min(SEED_BATCH, finished - from), total: finished, profile });
    if ((from + SEED_BATCH) % 50_000 === 0) progress(`  ${fmt(from + SEED_BATCH, 0)} of ${fmt(finished, 0)} finished beads written`);
  }
  // A dozen to a request: the local runtime holds a request's writes in memory until it ends.
  for (let written = 0; written < SNAPSHOTS_KEPT; written += 12)
    await bench(town, "seed-snapshots", { count: Math.min(12, SNAPSHOTS_KEPT - written), olderThan: written });
}

/** One round of a lifetime town's timed figures: each a list of its measured runs. */
interface LifetimeTimes {
  steady: number[];
  alarm: number[];
  busy: number[];
  /** Each measured run's 1,000-event tick phases. */
  phases: Array<Record<string, number>>;
  snapshotMs: number[];
  snapshotBytes: number;
  cold: number[];
}

/** One round of a lifetime town (seeded by seedLifetimeTown in a runtime before this one), timed: `runs` runs after the warm-up. */
async function timeLifetimeTown(bench: Bench, finished: number, runs: number, progress: (what: string) => void): Promise<LifetimeTimes> {
  const town = lifetimeTown(finished);
  // Loaded from storage, its working agents' heartbeats fresh (minutes went by since the seeding).
  await bench(town, "reload");
  progress(`lifetime ${fmt(finished, 0)}: measuring`);
  const times: LifetimeTimes = { steady: [], alarm: [], busy: [], phases: [], snapshotMs: [], snapshotBytes: 0, cold: [] };
  for (let i = 0; i < WARMUP + runs; i++) {
    const tick = await bench(town, "tick", { count: TICKS_A_RUN });
    if (tick.actions !== 0 || tick.violations !== 0) throw new Error(`the lifetime town is not steady: ${JSON.stringify(tick)}`);
    const whole = await bench(town, "alarm");
    const loaded = await bench(town, "tick", { count: TICKS_A_RUN, pending: 1_000 });
    if (loaded.drained !== 1_000) throw new Error(`expected 1,000 drained events, got ${loaded.drained}`);
    const snapshot = await bench(town, "snapshot");
    if (i >= WARMUP) {
      times.steady.push(tick.ms);
      times.alarm.push(whole.ms);
      times.busy.push(loaded.ms);
      times.phases.push(loaded.phases as Record<string, number>);
      times.snapshotMs.push(snapshot.ms);
      times.snapshotBytes = snapshot.bytes;
    }
  }
  for (let i = 0; i < WARMUP + runs; i++) {
    const load = await bench(town, "cold-load");
    if (i >= WARMUP) times.cold.push(load.ms);
  }
  return times;
}

/** A lifetime town's row: its rounds' times, and what does not need timing in turns (a page of failed beads, memory, storage, the week). */
async function describeLifetimeTown(bench: Bench, finished: number, rounds: readonly LifetimeTimes[]): Promise<LifetimeRow> {
  const town = lifetimeTown(finished);
  await bench(town, "reload");
  const all = <K extends "steady" | "alarm" | "busy" | "snapshotMs" | "cold">(key: K) => rounds.flatMap((round) => round[key]);
  const phases = rounds.flatMap((round) => round.phases);
  const busyPhases: Record<string, number> = {};
  for (const run of phases) for (const [phase, ms] of Object.entries(run)) busyPhases[phase] = (busyPhases[phase] ?? 0) + ms / phases.length;
  // A page of failed beads, read by index: its cost must follow the page, not the history behind it.
  const listed = await bench(town, "list-failed", { limit: 100, runs: WARMUP + RUNS });
  if (listed.beads !== 100) throw new Error(`expected a page of 100 failed beads, got ${listed.beads}`);
  const listFailed = stats((listed.times as number[]).slice(WARMUP));
  const workingSet = await bench(town, "working-set");
  const storage = (await bench(town, "storage")) as LifetimeRow["storage"];
  // Last, as it replaces the town's snapshots with a week of them taken as the town takes them.
  const week =
    finished === LIFETIME[0] ? ((await bench(town, "snapshot-week", { finishedPerHour: WEEK_FINISHED_PER_HOUR })) as unknown as SnapshotWeek) : undefined;
  return {
    week,
    finished,
    steady: stats(all("steady")),
    busy: stats(all("busy")),
    busyPhases,
    alarm: stats(all("alarm")),
    cold: stats(all("cold")),
    memory: measureWorkingSetMemory(workingSet.json),
    snapshotBytes: rounds.at(-1)!.snapshotBytes,
    snapshotMs: stats(all("snapshotMs")),
    storage,
    listFailed,
  };
}

function logLifetime(rows: LifetimeRow[], profile: HistoryProfile, log: (line?: string) => void): void {
  log("## Lifetime");
  log();
  log("A town of 1,000 agents and 10,000 live beads (held, blocked, at work, in review) with a history of finished");
  log("beads behind it, 1,000 finished a day, each written as the town leaves it. What one finished issue leaves was");
  log(`measured first on a real town (simulated platform, ${profile.issues} issues slung with ${profile.bodyChars}-character bodies, one in ten`);
  log("blocked by the one before, taken from sling to merged on a fast-forwarded clock):");
  log();
  log(`- its issue and its merge request, both archived, its body and (one in ten) its blocker;`);
  log(
    `- ${Object.entries(profile.eventsPerIssue as Record<string, number>)
      .map(([type, n]) => `${fmt(n, 2)} ${type}`)
      .join(", ")} events;`,
  );
  log(`- ${fmt(profile.ticksPerIssue, 2)} tick records; ${fmt(profile.bytesPerIssue / 1024, 1)} KiB of database in all while the history is young.`);
  log();
  log("The seeding writes the same rows through the same store calls (its events and ticks only within the 7-day");
  log(`retention, as pruning leaves them), and the ${SNAPSHOTS_KEPT} hourly snapshots a week keeps. Times in ms (median of ${RUNS} runs).`);
  log();
  log("| finished beads | steady tick | 1,000-event tick | whole alarm | cold load | state in memory | snapshot | snapshot time | SQLite size |");
  log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    log(
      `| ${fmt(r.finished, 0)} | ${fmt(r.steady.median, 2)} | ${fmt(r.busy.median, 2)} | ${fmt(r.alarm.median, 2)} | ${fmt(r.cold.median, 2)} | ${fmt(r.memory / 2 ** 20, 1)} MiB | ${fmt(r.snapshotBytes / 2 ** 20, 2)} MiB | ${fmt(r.snapshotMs.median, 2)} | ${fmt(r.storage.bytes / 2 ** 20, 0)} MiB |`,
    );
  }
  const [first, last] = [rows[0]!, rows.at(-1)!];
  log(
    `| ${fmt(last.finished, 0)} ÷ ${fmt(first.finished, 0)} | ${fmt(last.steady.median / first.steady.median, 2)} × | ${fmt(last.busy.median / first.busy.median, 2)} × | ${fmt(last.alarm.median / first.alarm.median, 2)} × | ${fmt(last.cold.median / first.cold.median, 2)} × | ${fmt(last.memory / first.memory, 2)} × | ${fmt(last.snapshotBytes / first.snapshotBytes, 2)} × | ${fmt(last.snapshotMs.median / first.snapshotMs.median, 2)} × | ${fmt(last.storage.bytes / first.storage.bytes, 1)} × |`,
  );
  // Where the 1,000-event tick's time goes at each size: what grows with the history shows here.
  const phaseNames = [...new Set(rows.flatMap((r) => Object.keys(r.busyPhases)))];
  log();
  log(`The 1,000-event tick by phase, ms (the mean of its ${RUNS * TICKS_A_RUN} measured ticks; each record's phases are whole ms):`);
  log();
  log(`| finished beads | ${phaseNames.join(" | ")} |`);
  log(`|---|${phaseNames.map(() => "---|").join("")}`);
  for (const r of rows) log(`| ${fmt(r.finished, 0)} | ${phaseNames.map((phase) => fmt(r.busyPhases[phase] ?? 0, 2)).join(" | ")} |`);
  const week = rows[0]?.week;
  if (week) {
    const MiB = 2 ** 20;
    log();
    log(`The week of snapshots of the ${fmt(rows[0]!.finished, 0)}-finished town, hour by hour as a busy town changes (${WEEK_FINISHED_PER_HOUR} issues`);
    log(
      `finished an hour; ${fmt(week.rowsChangedPerHour.agents * 100, 1)}% of agent rows and ${fmt(week.rowsChangedPerHour.beads * 100, 1)}% of bead rows change in an hour),`,
    );
    log("168 full snapshots against the town's own (a full one at least daily, deltas from it between):");
    log();
    log("| week of snapshots | bytes | share of the database | snapshot time median, max |");
    log("|---|---|---|---|");
    log(`| 168 full | ${fmt(week.before.bytes / MiB, 2)} MiB | ${fmt(week.before.share * 100, 1)}% of ${fmt(week.before.databaseBytes / MiB, 0)} MiB | |`);
    log(
      `| as stored (${week.after.full} full, ${week.after.deltas} deltas) | ${fmt(week.after.bytes / MiB, 2)} MiB | ${fmt(week.after.share * 100, 1)}% of ${fmt(week.after.databaseBytes / MiB, 0)} MiB | ${fmt(week.snapshotMs.median, 0)} ms, ${fmt(week.snapshotMs.max, 0)} ms |`,
    );
  }
  log();
  log("A page of 100 failed beads, newest change first, as `GET …/beads?status=failed&limit=100` reads it (one in twenty seeded issues");
  log("failed, with its merge request), in the object, ms:");
  log();
  log("| finished beads | page of 100 failed: median | p95 |");
  log("|---|---|---|");
  for (const r of rows) log(`| ${fmt(r.finished, 0)} | ${fmt(r.listFailed.median, 2)} | ${fmt(r.listFailed.p95, 2)} |`);
  log(`| ${fmt(last.finished, 0)} ÷ ${fmt(first.finished, 0)} | ${fmt(last.listFailed.median / first.listFailed.median, 2)} × | |`);
  log();
  log("Rows per table:");
  log();
  log(`| finished beads | ${Object.keys(first.storage.rows).join(" | ")} |`);
  log(
    `|---|${Object.keys(first.storage.rows)
      .map(() => "---")
      .join("|")}|`,
  );
  for (const r of rows)
    log(
      `| ${fmt(r.finished, 0)} | ${Object.values(r.storage.rows)
        .map((n) => fmt(n, 0))
        .join(" | ")} |`,
    );
  log();
  if (rows.length >= 2) {
    const [a, b] = [rows.at(-2)!, last];
    const perThousand = ((b.storage.bytes - a.storage.bytes) / (b.finished - a.finished)) * 1_000;
    log(`Storage growth per 1,000 finished beads once their events and ticks are past retention: ${fmt(perThousand / 2 ** 20, 2)} MiB`);
    log(`(${fmt(b.finished, 0)} vs ${fmt(a.finished, 0)}: the issue and merge request rows, bodies, blockers and indexes); while the history is`);
    log(`inside the retention window, ${fmt((profile.bytesPerIssue * 1_000) / 2 ** 20, 2)} MiB per 1,000 (measured on the real town).`);
    log();
  }
}

/** JS heap held by a working set given as a snapshot's JSON, built here in Node (same V8 engine as workerd). */
function measureWorkingSetMemory(json: string): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc (npm run bench does)");
  gc();
  const before = process.memoryUsage().heapUsed;
  const state = stateFromSnapshot(JSON.parse(json) as StateSnapshot);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (state.size.beads === 0) throw new Error("empty working set");
  return after - before;
}

/** JS heap held by a TownState of this size (see the RESULTS.md method note). */
function measureStateMemory(agents: number, beads: number): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc (npm run bench does)");
  const now = Date.now();
  const town = syntheticTown(agents, beads, now);
  const json = JSON.stringify(town);
  gc();
  const before = process.memoryUsage().heapUsed;
  // Built from a parsed copy, as a cold load builds it from rows: nothing shared with `town`.
  const copy = JSON.parse(json) as typeof town;
  const state = new TownState(newTown("bench" as TownId, {}, now), copy.rigs, copy.agents, copy.beads);
  gc();
  const after = process.memoryUsage().heapUsed;
  // Finished beads held by nothing go straight to the archive: what stays is the working set.
  if (state.size.beads + state.archivedAtLoad.length !== beads) throw new Error("state incomplete");
  return after - before;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
