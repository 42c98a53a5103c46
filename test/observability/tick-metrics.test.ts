import { runInDurableObject } from "cloudflare:test";
import { getTableColumns } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import * as schema from "../../src/db/schema";
import { SLIM_METRICS, SUMMARY_METRICS, TICK_METRIC_KEYS, TICK_METRICS, type TickMetric, type TickMetricKey } from "../../src/db/tick-metrics";
import { advance, api, createTown, failNextStatement, runUntil, sendEvents, sling, status, tick, TOKENS, type TestTown } from "../support/town";

/**
 * The tick metrics of src/db/tick-metrics.ts reach every view of the tick history from their
 * declaration alone. Nothing here names a metric: each assertion walks the declaration, so a metric added
 * there is held to all of it.
 */

const DECLARED = TICK_METRICS as Record<TickMetricKey, TickMetric>;
let town: TestTown;
let ticks: any[];
/** What the failing tick logged (kept out of the test output; the last test asserts on it). */
let failureLog: string[] = [];
const EVERYTHING = `from=0&to=${Date.UTC(2200, 0, 1)}`;
const get = (path: string) => api("GET", `/api/towns/${town.townId}${path}`, { token: TOKENS.read });

beforeAll(async () => {
  // Work through review and merge (events, actions, side effects), then a tick that fails with events waiting.
  town = await createTown({ simulation: { workMs: 2_000 } });
  for (const id of ["b1", "b2"]) await sling(town, { id, title: id });
  await runUntil(town, (s) => s.beads.closed === 4, 60);
  await sendEvents(town, [{ eventId: "late", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } }]);
  await failNextStatement(town, 'insert into "ticks"');
  await advance(town, 1_000);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  await tick(town);
  failureLog = log.mock.calls.map((args) => String(args[0]));
  log.mockRestore();
  ticks = (await get(`/ticks?${EVERYTHING}`)).body.ticks;
});

describe("a declared tick metric", () => {
  it("is a column of the ticks table (a new one comes with its migration)", async () => {
    const columns = await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql
        .exec<{ name: string }>("PRAGMA table_info(ticks)")
        .toArray()
        .map((c) => c.name),
    );
    const declared = getTableColumns(schema.ticks);
    for (const key of TICK_METRIC_KEYS) expect(columns, key).toContain(declared[key].name);
  });

  it("is in every tick of the JSON history, a number (or null where its column allows)", () => {
    expect(ticks.filter((t) => t.result === "ok").length).toBeGreaterThan(5);
    for (const key of TICK_METRIC_KEYS) {
      const nullable = !getTableColumns(schema.ticks)[key].notNull;
      for (const t of ticks) expect(typeof t[key] === "number" || (nullable && t[key] === null), `${key} of tick ${t.id}: ${t[key]}`).toBe(true);
    }
    // The work reached both kinds: measured in the tick's transaction, and after it (side effects).
    expect(ticks.some((t) => t.eventsDrained > 0 && t.effectsAttempted > 0)).toBe(true);
  });

  it("is a CSV column, in declaration order, with the JSON's values", async () => {
    const [header, ...rows] = ((await api("GET", `/api/towns/${town.townId}/ticks?${EVERYTHING}&format=csv`, { token: TOKENS.read })).body as string)
      .trim()
      .split("\r\n");
    const columns = header!.split(",");
    expect(columns.filter((c) => (TICK_METRIC_KEYS as readonly string[]).includes(c))).toEqual(TICK_METRIC_KEYS);
    expect(rows.length).toBe(ticks.length);
    rows.forEach((row, i) => {
      // Metric cells are numbers or empty: no quoting to undo.
      const cells = row.split(",");
      for (const key of TICK_METRIC_KEYS)
        expect(cells[columns.indexOf(key)], `${key} of tick ${ticks[i].id}`).toBe(ticks[i][key] === null ? "" : String(ticks[i][key]));
    });
  });

  it("is aggregated by the summary over the window's ticks, unless it is declared out of it", async () => {
    const { metrics } = (await get(`/ticks/summary?${EVERYTHING}`)).body;
    expect(Object.keys(metrics)).toEqual(SUMMARY_METRICS);
    expect(TICK_METRIC_KEYS.filter((key) => !(key in metrics))).toEqual(TICK_METRIC_KEYS.filter((key) => DECLARED[key].summary === false));
    for (const key of SUMMARY_METRICS) {
      const values = ticks.map((t) => t[key]).filter((v) => v !== null);
      expect({ sum: metrics[key].sum, count: metrics[key].count }, key).toEqual({ sum: values.reduce((a, b) => a + b, 0), count: values.length });
    }
  });

  it("is in the slim view when it is flagged slim, and only then", async () => {
    const slim = (await get(`/ticks?${EVERYTHING}&fields=slim`)).body.ticks;
    expect(TICK_METRIC_KEYS.filter((key) => key in slim[0])).toEqual(SLIM_METRICS);
    for (const key of SLIM_METRICS)
      expect(
        slim.map((t: any) => t[key]),
        key,
      ).toEqual(ticks.map((t) => t[key]));
  });

  it("is in a failed tick's row: what the failure measured where it measures one, else 0", async () => {
    const failed = ticks.at(-1);
    expect(failed).toMatchObject({ result: "error", error: expect.stringContaining("injected fault") });
    expect(failureLog.some((line) => line.includes('"message":"tick failed"'))).toBe(true);
    const { queue, now } = await status(town);
    const facts = {
      at: failed.at,
      durationMs: failed.durationMs,
      queue: { pending: queue.pending, dead: queue.dead, oldestPendingAt: queue.oldestPendingAgeMs === null ? null : now - queue.oldestPendingAgeMs },
    };
    expect(facts.queue.pending).toBeGreaterThan(0);
    for (const key of TICK_METRIC_KEYS) {
      const { onFailure } = DECLARED[key];
      expect(failed[key], key).toBe(onFailure ? onFailure(facts) : 0);
    }
  });

  it("is what the dry run says the next tick would record, those measured after the tick still 0", async () => {
    const dry = (await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug })).body;
    for (const key of TICK_METRIC_KEYS) {
      expect(dry.metrics, key).toHaveProperty(key);
      if (DECLARED[key].afterTick) expect(dry.metrics[key], key).toBe(0);
    }
  });
});
