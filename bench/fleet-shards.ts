/**
 * The sharded fleet part of `npm run bench` (alone: `BENCH_ONLY=fleet npm run bench`): 10,000 and 100,000
 * synthetic towns over several registry shards — summaries/s, fleet status (every town, problems only,
 * a page), one shard's targets, one watchdog sweep — and a live change of the shard count under load,
 * counting the towns fleet reads see before, during and after. Timed inside the benchmark Worker
 * (`/bench/fleet/<action>`), around the production code of src/fleet.
 */
/** The fleet sizes measured (BENCH_FLEET_TOWNS, comma-separated, picks some: each size wants a fresh runtime locally). */
export const SHARDED_FLEETS = (process.env.BENCH_FLEET_TOWNS ?? "10000,100000").split(",").map(Number);
const SHARDS = 4;
const CHANGED_TO = 8;
/** One town in this many owes a tick ten minutes ago (the watchdog's work): 2%. */
const OVERDUE_EVERY = 50;

type Stats = { median: number; p95: number; max: number; runs: number };

export async function benchFleetShards(
  base: string,
  opts: {
    runs: number;
    log: (line?: string) => void;
    progress: (what: string) => void;
    stats: (values: number[]) => Stats;
    fmt: (n: number, digits?: number) => string;
  },
): Promise<void> {
  const { log, progress, stats, fmt } = opts;
  const runs = Math.min(opts.runs, 5);
  // Local workerd sometimes drops a connection on this shared machine ("Network connection lost"): a call is tried three times.
  const fleet = async (action: string, body: Record<string, number>) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${base}/bench/fleet/${action}`, { method: "POST", body: JSON.stringify(body) });
        const text = await response.text();
        if (!response.ok) throw new Error(`fleet ${action}: ${response.status} ${text.slice(0, 300)}`);
        return JSON.parse(text) as Record<string, any>;
      } catch (error) {
        if (attempt >= 3) throw error;
        progress(`${action} failed (${String(error).slice(0, 120)}); again`);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  };
  const repeat = async (action: string, body: Record<string, number>) => {
    const out: Array<Record<string, any>> = [];
    for (let i = 0; i < runs; i++) out.push(await fleet(action, body));
    return { ms: stats(out.map((o) => o.ms)).median, last: out.at(-1)! };
  };

  const rows: string[] = [];
  const changes: string[] = [];
  for (const towns of SHARDED_FLEETS) {
    progress(`seeding ${towns} towns over ${SHARDS} shards`);
    const seeded = await fleet("seed-shards", { towns, shards: SHARDS, overdueEvery: OVERDUE_EVERY });
    progress(`summaries, status, targets, sweep at ${towns}`);
    const rates: number[] = [];
    // The rate does not depend on the fleet's size; at 100,000 towns local workerd dropped its runtime during it here.
    if (towns <= 10_000) for (let i = 0; i < runs; i++) rates.push((await fleet("report-shards", { count: 300, shards: SHARDS, towns })).perSecond);
    // Every town in one answer: at 100,000 towns (about 24 MiB of JSON) it brings local workerd down here.
    const full = towns <= 10_000 ? await repeat("status", { shards: SHARDS, problemsOnly: 0, limit: 0 }) : null;
    const problems = await repeat("status", { shards: SHARDS, problemsOnly: 1, limit: 0 });
    const page = await repeat("status", { shards: SHARDS, problemsOnly: 0, limit: 1_000 });
    const targets = await repeat("targets", { shards: SHARDS, shard: 0 });
    const sweep = await fleet("sweep", { shards: SHARDS });
    const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 2)} MiB`;
    rows.push(
      `| ${fmt(towns, 0)} | ${SHARDS} | ${fmt(seeded.ms, 0)} | ${rates.length ? fmt(stats(rates).median, 0) : "—"} | ${full ? `${fmt(full.ms, 0)} (${mib(full.last.bytes)})` : "— (runtime dropped)"} | ${fmt(problems.ms, 0)} (${fmt(problems.last.rows, 0)} rows, ${mib(problems.last.bytes)}) | ${fmt(page.ms, 0)} (${mib(page.last.bytes)}) | ${fmt(targets.ms, 0)} (${fmt(targets.last.groups, 0)} towns) | ${fmt(sweep.ms, 0)} (${fmt(sweep.checked, 0)} asked${sweep.truncated ? ", truncated" : ""}) |`,
    );
    progress(`row: ${rows.at(-1)}`);
    progress(`changing ${SHARDS} → ${CHANGED_TO} shards under load at ${towns}`);
    const change = await fleet("change", { from: SHARDS, to: CHANGED_TO, towns, reporters: 1, pageSize: towns > 10_000 ? 5_000 : 0 });
    changes.push(
      `| ${fmt(towns, 0)} | ${SHARDS} → ${CHANGED_TO} | ${fmt(change.before.distinct, 0)} / ${fmt(change.before.rows, 0)} | ${change.during.reads} reads: at least ${fmt(change.during.minDistinct, 0)} distinct, at most ${fmt(change.during.maxRows, 0)} rows | ${fmt(change.after.distinct, 0)} / ${fmt(change.after.rows, 0)} | ${fmt(change.targets.distinct, 0)} / ${fmt(change.targets.rows, 0)} | ${fmt(change.reports, 0)} | ${fmt(change.handoverMs, 0)} ms, ${change.handoverSteps} steps | ${change.read} |`,
    );
    progress(`row: ${changes.at(-1)}`);
  }

  log("## The fleet over shards");
  log();
  log(`Synthetic towns over ${SHARDS} registry shards (seeded straight into each shard; 2% of the towns in trouble, 2% owing a tick`);
  log("ten minutes ago), timed inside the benchmark Worker around the production code: 300 summaries pushed over RPC one");
  log("after another, each to its town's shard (several senders at once drop local workerd's connection, as above: shards");
  log("take summaries in parallel in production, so the fleet's rate is about the shard count times one object's);");
  log("`fleetStatus` for every town, problems only, and");
  log("a page of 1,000 (RPC to every shard, the merge, JSON); one shard's targets; one watchdog sweep (handover step,");
  log(`then every shard asking its own overdue towns — towns that do not exist here, so each answers "missing").`);
  log(`Median ms of ${runs} runs (the sweep: one).`);
  log();
  log(
    "| towns | shards | seed ms | summaries/s | status, every town | status, problems only | status, page of 1,000 | targets, one shard | one watchdog sweep |",
  );
  log("|---|---|---|---|---|---|---|---|---|");
  for (const row of rows) log(row);
  log();
  log(`The count changed from ${SHARDS} to ${CHANGED_TO} under load: a sender reports 2,000 towns (those whose shard changed`);
  log("enter their new one) while fleet reads of every town run back to back and the old shards hand over; then a grace");
  log("later (the clock moved on) they drop what they handed over. Towns counted as distinct / rows (a town shown twice");
  log("would make rows exceed distinct); targets are the union of the new shards' `?shard=N` answers.");
  log();
  log("| towns | change | before | during | after | targets after | reports | handover | shards read after |");
  log("|---|---|---|---|---|---|---|---|---|");
  for (const row of changes) log(row);
  log();
}
