/**
 * The fleet part of `npm run bench` (alone: `BENCH_ONLY=fleet npm run bench`): a registry holding
 * 10,000 towns' summaries, `GET /api/fleet/status` over it end to end, and how many summaries per
 * second one registry object takes — the throughput budget past which the registry is sharded.
 */
import { DEV_TOKENS } from "../scripts/local-worker";

export const FLEET_TOWNS = 10_000;
const REPORTS_PER_SENDER = 600;
/** Each town pushes at most once per this (the default `fleetSummaryIntervalMs`). */
const SUMMARY_INTERVAL_S = 10;

export interface FleetFigures {
  readonly statusMs: { median: number; p95: number; max: number };
  readonly statusBytes: number;
  readonly statusInObjectMs: number;
  readonly reportsPerSecond: Record<number, number>;
  readonly reportsInObjectPerSecond: number;
  readonly budget: number;
}

type Stats = { median: number; p95: number; max: number; runs: number };

export async function benchFleet(
  base: string,
  opts: {
    runs: number;
    warmup: number;
    log: (line?: string) => void;
    progress: (what: string) => void;
    stats: (values: number[]) => Stats;
    fmt: (n: number, digits?: number) => string;
  },
): Promise<FleetFigures> {
  const { runs, warmup, log, progress, stats, fmt } = opts;
  const fleet = async (action: string, body: Record<string, number> = {}) => {
    const response = await fetch(`${base}/bench/fleet/${action}`, { method: "POST", body: JSON.stringify(body) });
    const text = await response.text();
    let json: Record<string, any>;
    try {
      json = JSON.parse(text) as Record<string, any>;
    } catch {
      throw new Error(`fleet ${action} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    if (!response.ok) throw new Error(`fleet ${action}: ${JSON.stringify(json)}`);
    return json;
  };

  progress(`seeding a registry with ${FLEET_TOWNS} towns`);
  const seeded = await fleet("seed", { towns: FLEET_TOWNS });

  progress("GET /api/fleet/status");
  const http: number[] = [];
  const inObject: number[] = [];
  let bytes = 0;
  let rows = 0;
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    const response = await fetch(`${base}/api/fleet/status`, { headers: { authorization: `Bearer ${DEV_TOKENS.read}` } });
    const text = await response.text();
    const ms = performance.now() - t0;
    if (response.status !== 200) throw new Error(`fleet status answered ${response.status}: ${text.slice(0, 200)}`);
    bytes = text.length;
    rows = (JSON.parse(text) as { towns: unknown[] }).towns.length;
    const object = await fleet("status-in-object");
    if (i >= warmup) {
      http.push(ms);
      inObject.push(object.ms);
    }
  }
  if (rows < FLEET_TOWNS) throw new Error(`fleet status listed ${rows} towns, expected ${FLEET_TOWNS}`);

  progress("summaries pushed to one registry");
  // Summaries pushed over RPC one after another from a Worker invocation (at most 1,000 subrequests
  // each, hence 600): an object serves one request at a time, so this is what it takes. (Several senders
  // at once are not measured: local workerd drops the connection under them — "Network connection lost".)
  const reportsPerSecond: Record<number, number> = {};
  for (const senders of [1]) {
    const rates: number[] = [];
    for (let i = 0; i < warmup + Math.min(runs, 8); i++) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: senders }, () => fleet("report", { count: REPORTS_PER_SENDER, concurrency: 1, towns: FLEET_TOWNS })));
      if (i >= warmup) rates.push((senders * REPORTS_PER_SENDER) / ((performance.now() - t0) / 1000));
    }
    reportsPerSecond[senders] = stats(rates).median;
  }
  const inObjectRates: number[] = [];
  for (let i = 0; i < warmup + Math.min(runs, 8); i++) {
    const result = await fleet("report-in-object", { count: 20_000, towns: FLEET_TOWNS });
    if (i >= warmup) inObjectRates.push(result.perSecond);
  }
  const reportsInObjectPerSecond = stats(inObjectRates).median;
  const sustained = Math.max(...Object.values(reportsPerSecond));
  // Half of what one object takes, so a burst (a deploy waking every town) has room.
  const budget = Math.floor(sustained / 2 / 100) * 100;

  const s = stats(http);
  log("## The fleet");
  log();
  log(`A registry object holding ${fmt(FLEET_TOWNS, 0)} towns' summaries (seeded in ${fmt(seeded.ms, 0)} ms; 2% of the towns in trouble).`);
  log("`GET /api/fleet/status` end to end from Node over HTTP (routing, token check, RPC to the registry, one");
  log("row per town computed from its summary, sorted worst first, JSON), and the registry's share inside the object:");
  log();
  log("| towns | response | median ms | p95 ms | max ms | in the object, median ms |");
  log("|---|---|---|---|---|---|");
  log(`| ${fmt(rows, 0)} | ${fmt(bytes / 2 ** 20, 2)} MiB | ${fmt(s.median, 1)} | ${fmt(s.p95, 1)} | ${fmt(s.max, 1)} | ${fmt(stats(inObject).median, 1)} |`);
  log();
  log("Summaries one registry object takes: `report(summary)` RPCs (each an upsert of one row, for towns spread over");
  log("the 10,000), 600 one after another from a Worker invocation, timed from Node; and the SQL alone, in the object.");
  log("An object serves one request at a time, so the per-call overhead, not the SQL, sets what it takes. Locally the");
  log("calls cross no network; in production each is a call between two objects: read the figure as an upper bound.");
  log();
  log("| path | median summaries/s |");
  log("|---|---|");
  for (const rate of Object.values(reportsPerSecond)) log(`| RPC, one after another | ${fmt(rate, 0)} |`);
  log(`| in the object (SQL only) | ${fmt(reportsInObjectPerSecond, 0)} |`);
  log();
  log(`Budget: one registry object is given ${fmt(budget, 0)} summaries/s (half the ${fmt(sustained, 0)}/s measured, for bursts). A town`);
  log(`pushes at most one summary every ${SUMMARY_INTERVAL_S} s while it ticks and none while it sleeps, so one registry serves`);
  log(`${fmt(budget * SUMMARY_INTERVAL_S, 0)} towns ticking at once (any number asleep); past that, towns are spread over`);
  log("registry shards (REGISTRY_SHARDS; docs/fleet.md, Shards).");
  log();
  return { statusMs: s, statusBytes: bytes, statusInObjectMs: stats(inObject).median, reportsPerSecond, reportsInObjectPerSecond, budget };
}
