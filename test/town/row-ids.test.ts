import { runInDurableObject } from "cloudflare:test";
import { drizzle } from "drizzle-orm/durable-sqlite";
import { describe, expect, it } from "vitest";
import bundle from "../../migrations/migrations.js";
import { EventStore } from "../../src/db/event-store";
import { migrate } from "../../src/db/migrate";
import * as schema from "../../src/db/schema";
import { TickStore } from "../../src/db/tick-store";
import { townStub } from "../support/town";

/**
 * Event seqs and tick ids are never given twice (snapshots, replay windows and cursors name them), now
 * that neither table has AUTOINCREMENT's counter: retention keeps each table's newest row, and a table
 * retention had emptied before migration 0016 continues above the highest id it had given.
 */

const event = (id: string) => ({ eventId: id, type: "rig_added", agentId: null, beadId: null, payload: "{}", createdAt: 0 });
const tick = (store: TickStore, at: number) => store.insertFailed(at, "probe", 0, "closed", at + 1, "probe", { pending: 0, oldestPendingAt: null, dead: 0 });

/** An event as a version before 0016 wrote it (the stores here read id_floors, which it did not have). */
const OLD_EVENT = "INSERT INTO town_events (event_id, type, payload, created_at, status, attempts) VALUES (?, 'rig_added', '{}', 0, 'processed', 0)";

const stores = (state: DurableObjectState) => ({
  events: new EventStore(state.storage.sql),
  ticks: new TickStore(state.storage.sql, drizzle(state.storage, { schema })),
});

describe("row ids", () => {
  it("retention that prunes every old row keeps the newest, so the next id comes after it", async () => {
    const found = await runInDurableObject(townStub("row-ids-retention"), (_i, state) => {
      migrate(state.storage, bundle);
      const { events, ticks } = stores(state);
      const seqs = events.append([event("a"), event("b"), event("c")], 1);
      for (const at of [1, 2, 3]) tick(ticks, at);
      // Everything is past retention: all but the newest of each table go.
      events.prune(Number.MAX_SAFE_INTEGER, 0, 0, 1_000);
      ticks.prune(Number.MAX_SAFE_INTEGER, 0, 1_000);
      const left = state.storage.sql.exec<{ seq: number }>("SELECT seq FROM town_events").toArray();
      const nextTick = ticks.nextId();
      tick(ticks, 4);
      return { seqs: seqs.map((s) => s.seq), left, next: events.append([event("d")], 1)[0]!.seq, nextTick, tickIds: ticks.nextId() };
    });
    expect(found.seqs).toEqual([1, 2, 3]);
    expect(found.left).toEqual([{ seq: 3 }]);
    expect(found.next).toBe(4);
    expect(found.nextTick).toBe(4);
    expect(found.tickIds).toBe(5);
  });

  it("a table emptied before migration 0016 continues above the highest id it had given", async () => {
    const found = await runInDurableObject(townStub("row-ids-migration"), (_i, state) => {
      const sql = state.storage.sql;
      migrate(state.storage, { journal: { entries: bundle.journal.entries.filter((e) => e.tag < "0016") }, migrations: bundle.migrations });
      // As an older version left a town retention had emptied: the counter at 40 and 7, no rows.
      for (let i = 0; i < 40; i++) sql.exec(OLD_EVENT, `old-${i}`);
      for (let at = 1; at <= 7; at++)
        sql.exec(
          "INSERT INTO ticks (at, result, duration_ms, passes, events_drained, events_applied, events_ignored, events_failed, events_dead_lettered, actions_emitted, actions_refused, effects_enqueued, effects_attempted, effects_succeeded, effects_failed, queue_depth, dead_letters, actions_by_type, actions_by_rule, breaker_status) VALUES (?, 'ok', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}', '{}', 'closed')",
          at,
        );
      sql.exec("DELETE FROM town_events");
      sql.exec("DELETE FROM ticks");
      migrate(state.storage, bundle);
      const autoincrement = sql
        .exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('ticks', 'town_events') AND sql LIKE '%AUTOINCREMENT%'")
        .one().n;
      const { events, ticks } = stores(state);
      const maxBefore = events.maxSeq();
      const seqs = events.append([event("new-1"), event("new-2")], 1).map((s) => s.seq);
      const rows = sql.exec<{ seq: number; event_id: string }>("SELECT seq, event_id FROM town_events ORDER BY seq").toArray();
      const nextTick = ticks.nextId();
      tick(ticks, 8);
      const tickIds = sql.exec<{ id: number }>("SELECT id FROM ticks").toArray();
      return { autoincrement, maxBefore, seqs, rows, nextTick, tickIds };
    });
    expect(found.autoincrement).toBe(0);
    expect(found.maxBefore).toBe(40);
    expect(found.seqs).toEqual([41, 42]);
    // The row that bridged the gap is gone again.
    expect(found.rows).toEqual([
      { seq: 41, event_id: "new-1" },
      { seq: 42, event_id: "new-2" },
    ]);
    expect(found.nextTick).toBe(8);
    expect(found.tickIds).toEqual([{ id: 8 }]);
  });

  it("a table with rows keeps them and their ids through migration 0016", async () => {
    const found = await runInDurableObject(townStub("row-ids-kept"), (_i, state) => {
      const sql = state.storage.sql;
      migrate(state.storage, { journal: { entries: bundle.journal.entries.filter((e) => e.tag < "0016") }, migrations: bundle.migrations });
      for (let i = 0; i < 5; i++) sql.exec(OLD_EVENT, `old-${i}`);
      sql.exec("DELETE FROM town_events WHERE seq < 4");
      migrate(state.storage, bundle);
      const { events } = stores(state);
      const next = events.append([event("new")], null)[0]!.seq;
      return {
        next,
        seqs: sql
          .exec<{ seq: number }>("SELECT seq FROM town_events ORDER BY seq")
          .toArray()
          .map((r) => r.seq),
      };
    });
    expect(found.seqs).toEqual([4, 5, 6]);
    expect(found.next).toBe(6);
  });
});
