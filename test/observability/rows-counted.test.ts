/**
 * Rows counted (DESIGN §4.7): every statement's rows read and written, summed in the one SQL wrapper the
 * stores share, per tick (its record) and as the counters on /metrics — in the Workers runtime, against
 * real SQLite.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { TownStore } from "../../src/db/town-store";
import { advance, api, createTown, failNextStatement, sling, tick, TOKENS } from "../support/town";
import type { BeadId } from "../../src/domain/ids";
import type { Bead } from "../../src/domain/model";
import { inTransaction, persistChanges, type TownRuntime } from "../../src/town/runtime";

const storeOf = (instance: unknown) => (instance as { store: TownStore }).store;

/** The value of the series of the town's /metrics with this name and this label among its labels. */
async function series(townId: string, name: string, label: string): Promise<number> {
  const text = (await api<string>("GET", `/api/towns/${townId}/metrics`, { token: TOKENS.read })).body;
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  expect(line, `${name} with ${label}`).toBeDefined();
  return Number(line!.split(" ").at(-1));
}

describe("rows counted", () => {
  it("counts the rows of a statement it runs: a write to a table and to each of its indexes", async () => {
    const town = await createTown();
    const counted = await runInDurableObject(town.stub, (instance) => {
      const rows = storeOf(instance).rows;
      const raise = () =>
        rows.sql.exec(
          "INSERT INTO counters (name, labels, value) VALUES ('rows_test_total', '', 1) ON CONFLICT (name, labels) DO UPDATE SET value = value + 1",
        );
      rows.take();
      // One new row in a table with a primary-key index (its rowid table and the index), then the same one raised.
      raise();
      const inserted = rows.take();
      raise();
      const updated = rows.take();
      const nothing = rows.take();
      return { inserted, updated, nothing };
    });
    expect(counted.inserted.written).toBe(2);
    expect(counted.updated.written).toBeGreaterThanOrEqual(1);
    expect(counted.updated.read).toBeGreaterThanOrEqual(1);
    // What was taken is not counted twice.
    expect(counted.nothing).toEqual({ read: 0, written: 0 });
  });

  it("writes one row for what a tick adds to the counters, however many series it raises", async () => {
    const town = await createTown();
    const written = await runInDurableObject(town.stub, (instance) => {
      const store = storeOf(instance);
      const series = Array.from({ length: 20 }, (_, i) => ({ name: "rows_test_total", labels: `n="${i}"`, value: 1 }));
      store.counters.add(series);
      store.rows.take();
      store.counters.add(series);
      return store.rows.take().written;
    });
    // Twenty series raised: one row written (a row per series wrote twenty).
    expect(written).toBe(1);
  });

  it("records each tick's rows and adds them to the counters, the alarm it sets included", async () => {
    const town = await createTown({ simulation: { workMs: 2_000 } });
    await sling(town, { id: "b1", title: "Work" });
    for (let i = 0; i < 4; i += 1) {
      await tick(town);
      await advance(town, 1_000);
    }
    const ticks = (await api("GET", `/api/towns/${town.townId}/ticks?from=0&to=${Date.UTC(2200, 0, 1)}`, { token: TOKENS.read })).body.ticks as Array<{
      rowsRead: number;
      rowsWritten: number;
      actionsEmitted: number;
    }>;
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    // A tick that dispatched wrote its agent, its bead, their indexes, its record and its alarm.
    const dispatching = ticks.find((t) => t.actionsEmitted > 0)!;
    expect(dispatching.rowsWritten).toBeGreaterThan(5);
    for (const t of ticks) expect(t.rowsRead, "every tick reads its queue").toBeGreaterThan(0);
    const recorded = ticks.reduce((sum, t) => sum + t.rowsWritten, 0);
    expect(await series(town.townId, "town_reconciler_rows_written_total", 'part="tick"')).toBe(recorded);
    expect(await series(town.townId, "town_reconciler_rows_read_total", 'part="tick"')).toBe(ticks.reduce((sum, t) => sum + t.rowsRead, 0));
    // The requests (the town's creation, the sling, the reads) are billed on their own.
    expect(await series(town.townId, "town_reconciler_rows_written_total", 'part="requests"')).toBeGreaterThan(0);
  });

  it("writes a tick's duration as the one bucket it fell in and the sum, not every cumulative bucket", async () => {
    const town = await createTown();
    for (let i = 0; i < 3; i += 1) {
      await tick(town);
      await advance(town, 1_000);
    }
    const rows = await runInDurableObject(town.stub, (instance) =>
      storeOf(instance)
        .counters.rows()
        .filter((r) => r.name.startsWith("town_reconciler_tick_duration_seconds")),
    );
    // Each tick a row of its bucket of its bucket (raised, not rewritten with its neighbours) and the sum: nothing per bound.
    const hits = rows.filter((r) => r.name === "town_reconciler_tick_duration_seconds_bucket_hits");
    const ticks = await series(town.townId, "town_reconciler_ticks_total", 'result="ok"');
    expect(ticks).toBeGreaterThan(0);
    expect(hits.reduce((n, r) => n + r.value, 0)).toBe(ticks);
    expect(rows.length).toBe(hits.length + 1);
    expect(rows.map((r) => r.name)).toContain("town_reconciler_tick_duration_seconds_sum");
    // The exposition still shows every cumulative bucket and the count.
    expect(await series(town.townId, "town_reconciler_tick_duration_seconds_bucket", 'le="+Inf"')).toBe(ticks);
    expect(await series(town.townId, "town_reconciler_tick_duration_seconds_count", 'town="')).toBe(ticks);
  });

  it("writes a steady tick's rows once: its record with its index, the record's finish, one row of counters", async () => {
    const town = await createTown();
    const statements = await runInDurableObject(town.stub, async (instance, state) => {
      const alarm = () => (instance as unknown as { alarm(): Promise<void> }).alarm();
      for (let i = 0; i < 3; i += 1) await alarm();
      const sql = state.storage.sql as SqlStorage & { exec: SqlStorage["exec"] };
      const original = sql.exec;
      const written: Array<[string, number]> = [];
      sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
        const cursor = original.call(this, query, ...bindings);
        written.push([query.slice(0, 60), cursor.rowsWritten]);
        return cursor;
      } as SqlStorage["exec"];
      try {
        await alarm();
      } finally {
        sql.exec = original;
      }
      return written.filter(([, n]) => n > 0);
    });
    // insert into ticks: the row and its index (2); update ticks: the finish (1); counter_totals (1).
    expect(
      statements.reduce((n, [, w]) => n + w, 0),
      JSON.stringify(statements),
    ).toBe(4);
    expect(statements.map(([q]) => q.toLowerCase().match(/(?:into|update) "?(\w+)/)?.[1])).toEqual(["counter_totals", "ticks", "ticks"]);
  });

  it("counts what the steps after a tick counted exactly once, across an eviction before the next tick", async () => {
    const town = await createTown();
    const durations = async () => series(town.townId, "town_reconciler_tick_duration_seconds_count", 'town="');
    // A town with nothing to do sleeps: its alarm is run by hand.
    const alarm = () => runInDurableObject(town.stub, (instance) => (instance as unknown as { alarm(): Promise<void> }).alarm());
    await alarm();
    await alarm();
    // The newest tick's increments are held in its record: the metrics read them there.
    expect(await durations()).toBe(2);
    await evictDurableObject(town.stub);
    expect(await durations()).toBe(2);
    await alarm();
    await alarm();
    // The next ticks added them to the totals once, and held their own.
    expect(await durations()).toBe(4);
    expect(await series(town.townId, "town_reconciler_ticks_total", 'result="ok"')).toBe(4);
  });

  it("counts what a tick's record held exactly once when the next tick fails and its failure is recorded instead", async () => {
    const town = await createTown();
    const count = (name: string, label: string) => series(town.townId, name, label);
    const alarm = () => runInDurableObject(town.stub, (instance) => (instance as unknown as { alarm(): Promise<void> }).alarm());
    await alarm();
    await alarm();
    expect(await count("town_reconciler_tick_duration_seconds_count", 'town="')).toBe(2);
    // The third tick's transaction throws at its record: the failure's record becomes the newest, and its
    // transaction must carry what the second tick's record held (its duration was counted after it).
    await failNextStatement(town, 'insert into "ticks"');
    await alarm();
    expect(await count("town_reconciler_ticks_total", 'result="error"')).toBe(1);
    expect(await count("town_reconciler_ticks_total", 'result="ok"')).toBe(2);
    expect(await count("town_reconciler_tick_duration_seconds_count", 'town="')).toBe(2);
    await evictDurableObject(town.stub);
    await advance(town, 60_000);
    await alarm();
    expect(await count("town_reconciler_ticks_total", 'result="ok"')).toBe(3);
    expect(await count("town_reconciler_ticks_total", 'result="error"')).toBe(1);
    expect(await count("town_reconciler_tick_duration_seconds_count", 'town="')).toBe(3);
  });

  it("writes of a changed row only what changed: a bead's usage alone is its row, a status change its row and the indexes it moves in", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Work" });
    const written = await runInDurableObject(town.stub, async (instance) => {
      const { runtime } = instance as unknown as { runtime: TownRuntime };
      const { state, store } = runtime;
      const change = (edit: (bead: Bead) => Bead) => {
        state.putBead(edit(state.bead("b1" as BeadId)!));
        store.rows.take();
        inTransaction(runtime, () => persistChanges(runtime));
        return store.rows.take().written;
      };
      return {
        usage: change((b) => ({ ...b, usage: { containerMs: 5, dispatches: 1 } })),
        status: change((b) => ({ ...b, status: "in_progress", updatedAt: b.updatedAt + 1 })),
        nothing: change((b) => ({ ...b, usage: { ...b.usage! } })),
      };
    });
    expect(written.usage).toBe(1);
    // The row, and its entries in the indexes by status, by rig and by change time.
    expect(written.status).toBe(4);
    expect(written.nothing).toBe(0);
  });
});
