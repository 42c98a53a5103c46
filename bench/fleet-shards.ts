/**
 * The sharded fleet part of `npm run bench` (alone: `BENCH_ONLY=fleet-shards npm run bench`): 10,000 and
 * 100,000 synthetic towns over several registry shards — summaries/s, fleet status (every town, problems
 * only, a page), one shard's targets, one watchdog sweep — and a live change of the shard count under
 * load, counting the towns fleet reads see before, during and after. Timed inside the benchmark Worker
 * (`/bench/fleet/<action>`), around the production code of src/fleet. Every long step is split into
 * bounded requests driven from here (a slice of the seeding, a page of a read, a handover step), with
 * progress, so none waits on one answer longer than Node's fetch does (5 minutes).
 */
/** The fleet sizes measured (BENCH_FLEET_TOWNS, comma-separated, picks some: each size wants a fresh runtime locally). */
export const SHARDED_FLEETS = (process.env.BENCH_FLEET_TOWNS ?? "10000,100000").split(",").map(Number);
const SHARDS = 4;
const CHANGED_TO = 8;
/** One town in this many owes a tick ten minutes ago (the watchdog's work): 2%. */
const OVERDUE_EVERY = 50;

type Stats = { median: number; p95: number; max: number; runs: number };

/** One size's figures (or why it did not run). */
export type FleetShardRow =
  | {
      towns: number;
      seedMs: number;
      perSecond: number | null;
      full: { ms: number; bytes: number } | null;
      problems: { ms: number; rows: number; bytes: number };
      page: { ms: number; bytes: number };
      targets: { ms: number; groups: number };
      /** One watchdog sweep (or why it did not finish). */
      sweep: { ms: number; checked: number; requests: number; shards: number } | { failed: string };
      /** The live change of the count (or why it did not finish: the figures above are kept). */
      change:
        | { failed: string }
        | {
            before: { distinct: number; rows: number };
            during: { reads: number; minDistinct: number; maxRows: number; restarts: number };
            after: { distinct: number; rows: number };
            targets: { distinct: number; rows: number };
            reports: number;
            handoverMs: number;
            handoverSteps: number;
            span: number;
            ms: number;
          };
    }
  | { towns: number; failed: string };

/**
 * Rows of a fleet read a page at most: a bounded request at any fleet size (the status route's page of
 * 1,000 is measured above). Each page costs every shard a pass over its rows, so fewer, larger pages
 * keep a read of 100,000 towns inside a cursor's lifetime while the change loads the runtime.
 */
const READ_PAGE = 5_000;
/** Towns seeded, and reports sent, per request. */
const SEED_SLICE = 5_000;
const REPORT_SLICE = 250;
/**
 * Rows each shard hands over in one handover request, and towns one shard asks in one sweep request:
 * every step a request of a second or two. Locally every shard and every town asked run in the one
 * isolate, one after another, and a handover step of 20,000 rows a shard took 20 s (the sweep of 2,000
 * towns in one request 64 s). At 100,000 towns the runtime still ends once rows move to the new shards,
 * whatever the step's size (docs/benchmarks.md, The fleet): a request fails with "Network connection
 * lost" (workerd: `disconnected: stream disconnected prematurely`), which wrangler's proxy takes as
 * fatal. A row's cost grows with the rows of a call: about 0.25 ms at 100 a shard, 0.75 ms at 400,
 * 1.4 ms at 1,000, past some 0.15 s a shard of reading its 25,000 towns.
 */
const HANDOVER_STEP = 250;
/** Rows each shard drops in one request, a grace after it handed them over. */
const DROP_STEP = 2_500;
const SWEEP_SLICE = 25;
/** The longest the live change (reads and all) and the sweep may take before the size's row says they did not finish. */
const LIVE_CHANGE_BUDGET_MINUTES = 5;
const SWEEP_BUDGET_MINUTES = 2;
/** The longest a bounded step may take before the size is reported as not finished. */
const REQUEST_TIMEOUT_MS = 120_000;

export async function benchFleetShards(
  base: string,
  opts: {
    runs: number;
    progress: (what: string) => void;
    stats: (values: number[]) => Stats;
    /** The fleet sizes to measure (default SHARDED_FLEETS). */
    sizes?: readonly number[];
  },
): Promise<FleetShardRow[]> {
  const { progress, stats } = opts;
  const runs = Math.min(opts.runs, 5);
  // Local workerd sometimes drops a connection on this shared machine ("Network connection lost"): a call is tried three times.
  // A call that outlasts REQUEST_TIMEOUT_MS is not tried again: the size is reported as not finished, and the run goes on.
  /** What must be done by when (the live change, the sweep: each is many calls, and each call checks it). */
  let bound: { what: string; minutes: number; at: number } | null = null;
  const within = async <T>(what: string, minutes: number, work: () => Promise<T>): Promise<T> => {
    bound = { what, minutes, at: Date.now() + minutes * 60_000 };
    try {
      return await work();
    } finally {
      bound = null;
    }
  };
  const fleet = async (action: string, body: Record<string, number | string | undefined>) => {
    if (bound && Date.now() > bound.at) throw new Error(`${bound.what} did not finish within ${bound.minutes} minutes (at ${action})`);
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${base}/bench/fleet/${action}`, {
          method: "POST",
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await response.text();
        if (!response.ok) throw new Error(`fleet ${action}: ${response.status} ${text.slice(0, 300)}`);
        return JSON.parse(text) as Record<string, any>;
      } catch (error) {
        if (error instanceof DOMException && error.name === "TimeoutError")
          throw new Error(`fleet ${action} took longer than ${REQUEST_TIMEOUT_MS / 1000} s (every step is meant to take a second or two)`);
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
  /**
   * Every town's row, a page a request: distinct towns and rows (a town shown twice counts twice). A
   * read whose cursor expired (it took longer than a cursor lives) starts again, counted.
   */
  const readAll = async (shards: number, stopped = () => false) => {
    let towns: string[] = [];
    let restarts = 0;
    let cursor: string | undefined;
    do {
      if (stopped()) return null;
      const page = await fleet("read-page", { shards, limit: READ_PAGE, cursor });
      if (page.expired) {
        if (++restarts > 5) throw new Error(`a read of every town expired five times: ${page.expired}`);
        towns = [];
        cursor = undefined;
        continue;
      }
      towns.push(...(page.towns as string[]));
      cursor = (page.nextCursor as string | null) ?? undefined;
    } while (cursor);
    return { distinct: new Set(towns).size, rows: towns.length, restarts };
  };
  /** One watchdog sweep in bounded requests: a handover step, then each shard asking its overdue towns a slice at a time. */
  const sweepAll = (shards: number) => within("the sweep", SWEEP_BUDGET_MINUTES, () => sweepSteps(shards));
  const sweepSteps = async (shards: number) => {
    const started = performance.now();
    await fleet("handover-step", { to: shards, now: Date.now(), limit: HANDOVER_STEP });
    let checked = 0;
    let requests = 1;
    for (let shard = 0; shard < shards; shard++) {
      for (;;) {
        const slice = await fleet("sweep-slice", { shard, maxTowns: SWEEP_SLICE });
        requests += 1;
        checked += slice.checked as number;
        if (!slice.truncated || slice.checked === 0) break;
      }
    }
    return { ms: performance.now() - started, checked, requests, shards };
  };

  const out: FleetShardRow[] = [];
  for (const towns of opts.sizes ?? SHARDED_FLEETS) {
    progress(`seeding ${towns} towns over ${SHARDS} shards`);
    const seedStarted = performance.now();
    for (let from = 0; from < towns; from += SEED_SLICE) {
      for (let shard = 0; shard < SHARDS; shard++)
        await fleet("seed-slice", { towns, shards: SHARDS, shard, from, to: Math.min(towns, from + SEED_SLICE), overdueEvery: OVERDUE_EVERY });
      if ((from / SEED_SLICE) % 4 === 3) progress(`  ${Math.min(towns, from + SEED_SLICE)} of ${towns} seeded`);
    }
    await fleet("layout", { shards: SHARDS });
    const seedMs = performance.now() - seedStarted;
    progress(`summaries, status, targets, sweep at ${towns}`);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) rates.push((await fleet("report-shards", { count: 300, shards: SHARDS, towns })).perSecond);
    // Every town in one answer is about 240 bytes a town (24 MiB at 100,000): past 10,000 only pages are read.
    const full = towns <= 10_000 ? await repeat("status", { shards: SHARDS, problemsOnly: 0, limit: 0 }) : null;
    const problems = await repeat("status", { shards: SHARDS, problemsOnly: 1, limit: 0 });
    const page = await repeat("status", { shards: SHARDS, problemsOnly: 0, limit: 1_000 });
    const targets = await repeat("targets", { shards: SHARDS, shard: 0 });

    progress(`changing ${SHARDS} → ${CHANGED_TO} shards under load at ${towns}`);
    const change = await liveChange(towns).catch((error: unknown) => {
      progress(`the live change at ${towns}: ${String(error).slice(0, 200)}`);
      return { failed: String(error).slice(0, 400) };
    });
    // Last: the sweep asks every overdue town (2% of the fleet), and locally each is an object constructed
    // in the one isolate the shards share — at 100,000 towns, 2,000 of them.
    const sweepShards = "failed" in change ? SHARDS : CHANGED_TO;
    // A runtime the change took down takes the sweep with it: the figures above are kept either way.
    const sweep = await sweepAll(sweepShards).catch((error: unknown) => {
      progress(`the sweep at ${towns}: ${String(error).slice(0, 200)}`);
      return {
        failed: String(error)
          .replace(/^Error: /, "")
          .slice(0, 300),
      };
    });
    out.push({
      towns,
      seedMs,
      perSecond: rates.length ? stats(rates).median : null,
      full: full && { ms: full.ms, bytes: full.last.bytes },
      problems: { ms: problems.ms, rows: problems.last.rows, bytes: problems.last.bytes },
      page: { ms: page.ms, bytes: page.last.bytes },
      targets: { ms: targets.ms, groups: targets.last.groups },
      sweep,
      change,
    });
    progress(`fleet over shards at ${towns}: done`);
  }
  return out;

  /** The count changed from SHARDS to CHANGED_TO under load, every step a bounded request. */
  function liveChange(towns: number) {
    return within("the live change", LIVE_CHANGE_BUDGET_MINUTES, () => liveChangeSteps(towns));
  }

  async function liveChangeSteps(towns: number) {
    const changeStarted = performance.now();
    const before = (await readAll(SHARDS))!;
    const now = Date.now();
    const during: Array<{ distinct: number; rows: number; restarts: number }> = [];
    let changing = true;
    const reads = (async () => {
      while (changing) {
        // A read the change's end (or failure) overtakes stops between pages and is not counted.
        const read = await readAll(CHANGED_TO, () => !changing);
        if (read === null) break;
        during.push(read);
        progress(`  a read during the change: ${read.distinct} towns in ${read.rows} rows, ${read.restarts} restarts`);
      }
    })();
    let reports = 0;
    const load = (async () => {
      for (let from = 0; from < Math.min(towns, 2_000); from += REPORT_SLICE) {
        const to = Math.min(towns, 2_000, from + REPORT_SLICE);
        reports += (await fleet("report-slice", { from, to, fromShards: SHARDS, toShards: CHANGED_TO, now })).reports as number;
      }
    })();
    // Awaited below; if a step fails first, neither may go unhandled, and the reads must stop.
    reads.catch(() => {});
    load.catch(() => {});
    try {
      return await finish();
    } catch (error) {
      // What the change had shown before it failed goes with the failure into the table.
      const seen = during.length
        ? `; before that, ${during.length} reads during the change saw ${Math.min(...during.map((d) => d.distinct))}–${Math.max(...during.map((d) => d.distinct))} distinct towns in at most ${Math.max(...during.map((d) => d.rows))} rows`
        : "";
      throw new Error(`${String(error).replace(/^Error: /, "")}${seen}`);
    } finally {
      changing = false;
    }

    async function finish() {
      const handoverStarted = performance.now();
      let handoverSteps = 0;
      for (;;) {
        handoverSteps += 1;
        const step = await fleet("handover-step", { to: CHANGED_TO, now, limit: HANDOVER_STEP });
        if (handoverSteps % 5 === 0) progress(`  handover step ${handoverSteps}: ${step.handedOver} handed over; ${during.length} reads so far`);
        if (step.handedOver === 0) break;
      }
      const handoverMs = performance.now() - handoverStarted;
      await load;
      progress(`  handed over in ${handoverSteps} steps; ${reports} reports under load; dropping what the old shards held`);
      const later = Date.now() + 120_000;
      let dropped = await fleet("drop", { to: CHANGED_TO, later, limit: DROP_STEP });
      while (dropped.dropped > 0) dropped = await fleet("drop", { to: CHANGED_TO, later, limit: DROP_STEP });
      changing = false;
      progress(`  dropped; waiting for the read in flight (${during.length} reads done)`);
      await reads;
      progress("  reading every town after the change");
      const after = (await readAll(CHANGED_TO))!;
      const targetsAfter = await fleet("targets-all", { to: CHANGED_TO });
      return {
        before,
        during: {
          reads: during.length,
          minDistinct: during.length ? Math.min(...during.map((d) => d.distinct)) : 0,
          maxRows: during.length ? Math.max(...during.map((d) => d.rows)) : 0,
          restarts: during.reduce((n, d) => n + d.restarts, 0),
        },
        after,
        targets: { distinct: targetsAfter.distinct as number, rows: targetsAfter.rows as number },
        reports,
        handoverMs,
        handoverSteps,
        span: dropped.span as number,
        ms: performance.now() - changeStarted,
      };
    }
  }
}

/** The section of RESULTS.md for the sizes measured, and, for one that could not run, why. */
export function logFleetShards(
  rows: readonly FleetShardRow[],
  opts: { log: (line?: string) => void; fmt: (n: number, digits?: number) => string; runs: number },
): void {
  const { log, fmt } = opts;
  const runs = Math.min(opts.runs, 5);
  const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 2)} MiB`;
  log("## The fleet over shards");
  log();
  log(`Synthetic towns over ${SHARDS} registry shards (seeded straight into each shard, ${fmt(SEED_SLICE, 0)} towns a request; 2% of the towns in`);
  log("trouble, 2% owing a tick ten minutes ago), each size in a runtime of its own, timed inside the benchmark Worker around");
  log("the production code: 300 summaries pushed over RPC one after another, each to its town's shard (shards take");
  log("summaries in parallel in production, so the fleet's rate is about the shard count times one object's); `fleetStatus`");
  log("for every town (up to 10,000: past that about 240 bytes a town is what pages exist for), problems only, and a page of");
  log("1,000 (RPC to every shard, the merge, JSON); one shard's targets; one watchdog sweep (a handover step, then every shard");
  log(`asking its own overdue towns, ${SWEEP_SLICE} a request, in all the ms of its requests — towns that do not exist here, so each`);
  log(`answers "missing" and leaves the list; run last, after the change of the count below, as locally each town asked is an`);
  log(`object in the one isolate the shards share). Median ms of ${runs} runs (the sweep: one).`);
  log();
  log(
    "| towns | shards | seed ms | summaries/s | status, every town | status, problems only | status, page of 1,000 | targets, one shard | one watchdog sweep |",
  );
  log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    if ("failed" in r) {
      log(`| ${fmt(r.towns, 0)} | ${SHARDS} | — | — | — | — | — | — | — (did not run: see below) |`);
      continue;
    }
    log(
      `| ${fmt(r.towns, 0)} | ${SHARDS} | ${fmt(r.seedMs, 0)} | ${r.perSecond === null ? "—" : fmt(r.perSecond, 0)} | ${r.full ? `${fmt(r.full.ms, 0)} (${mib(r.full.bytes)})` : "— (pages only)"} | ${fmt(r.problems.ms, 0)} (${fmt(r.problems.rows, 0)} rows, ${mib(r.problems.bytes)}) | ${fmt(r.page.ms, 0)} (${mib(r.page.bytes)}) | ${fmt(r.targets.ms, 0)} (${fmt(r.targets.groups, 0)} towns) | ${"failed" in r.sweep ? `— (${r.sweep.failed.replace(/\|/g, "/")})` : `${fmt(r.sweep.ms, 0)} (${fmt(r.sweep.checked, 0)} asked over ${r.sweep.shards} shards, ${r.sweep.requests} requests)`} |`,
    );
  }
  log();
  log(`The count changed from ${SHARDS} to ${CHANGED_TO} under load, driven from Node a bounded request at a time: a sender reports`);
  log(`2,000 towns (${REPORT_SLICE} a request; those whose shard changed enter their new one) while reads of every town (pages of`);
  log(`${fmt(READ_PAGE, 0)}) run back to back and handover steps (each shard at most ${fmt(HANDOVER_STEP, 0)} rows a request) run on every shard`);
  log("until none hands anything over; then a grace later (the clock moved on) the old shards drop what they handed over.");
  log("Towns counted as distinct / rows (a town shown twice would make rows exceed distinct; a read whose cursor expired");
  log("starts again, counted); targets are the union of the new shards' `?shard=N` answers.");
  log();
  log("| towns | change | before | during | after | targets after | reports | handover | shards read after | the change in all |");
  log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    if ("failed" in r) continue;
    const c = r.change;
    if ("failed" in c) {
      log(`| ${fmt(r.towns, 0)} | ${SHARDS} → ${CHANGED_TO} | did not finish: ${c.failed.replace(/\|/g, "/").replace(/\s+/g, " ")} | | | | | | | |`);
      continue;
    }
    log(
      `| ${fmt(r.towns, 0)} | ${SHARDS} → ${CHANGED_TO} | ${fmt(c.before.distinct, 0)} / ${fmt(c.before.rows, 0)} | ${c.during.reads} reads: at least ${fmt(c.during.minDistinct, 0)} distinct, at most ${fmt(c.during.maxRows, 0)} rows${c.during.restarts ? `, ${c.during.restarts} started again` : ""} | ${fmt(c.after.distinct, 0)} / ${fmt(c.after.rows, 0)} | ${fmt(c.targets.distinct, 0)} / ${fmt(c.targets.rows, 0)} | ${fmt(c.reports, 0)} | ${fmt(c.handoverMs, 0)} ms, ${c.handoverSteps} steps | ${c.span} | ${fmt(c.ms / 1000, 0)} s |`,
    );
  }
  log();
  const ran = rows.filter((r): r is Exclude<FleetShardRow, { failed: string }> => !("failed" in r));
  const unfinished = (r: (typeof ran)[number]) => [
    ...("failed" in r.change ? ["the live change"] : []),
    ...("failed" in r.sweep ? ["the sweep after it"] : []),
  ];
  const whole = ran.filter((r) => unfinished(r).length === 0);
  const partial = ran.filter((r) => !whole.includes(r));
  if (partial.length) {
    log(
      `**Every step ran up to ${whole.length ? fmt(Math.max(...whole.map((r) => r.towns)), 0) : "no"} towns.** ${partial.map((r) => `At ${fmt(r.towns, 0)} towns ${unfinished(r).join(" and ")} did not finish (why is in its cell; every other figure above was measured)`).join("; ")}.`,
    );
    log();
  }
  const failed = rows.filter((r): r is { towns: number; failed: string } => "failed" in r);
  if (failed.length) {
    log(
      `**The largest fleet that ran here: ${ran.length ? fmt(Math.max(...ran.map((r) => r.towns)), 0) : "none"} towns.** ${failed.map((r) => `${fmt(r.towns, 0)} towns did not run (tried twice, each in a fresh runtime): ${r.failed.replace(/\|/g, "/").replace(/\s+/g, " ")}`).join("; ")}.`,
    );
    log();
  }
}
