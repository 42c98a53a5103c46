import { TownStore } from "../../src/db/town-store";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import { shownEventId } from "../../src/db/event-rows";
import { advance, bead, createTown, failNextStatement, sendEvents, sling, status, tick, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

/** Rows of the town's event log, straight from SQLite (ids as their authors know them). */
async function eventRows(town: TestTown) {
  const rows = await runInDurableObject(town.stub, (_instance, state) =>
    state.storage.sql
      .exec<{ seq: number; event_id: string; status: string; attempts: number; last_error: string | null }>(
        "SELECT seq, event_id, status, attempts, last_error FROM town_events ORDER BY seq",
      )
      .toArray(),
  );
  return rows.map((row) => ({ ...row, event_id: shownEventId(row.event_id).eventId }));
}

describe("a tick that throws half-way", () => {
  it("loses no event and applies none twice", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const done = { eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } };
    const beat = { eventId: "status-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } };
    expect((await sendEvents(town, [done, beat])).status).toBe(202);
    const pendingBefore = (await status(town)).queue.pending;
    expect(pendingBefore).toBeGreaterThanOrEqual(2);

    // The tick applies both events, writes the state, then fails writing its tick record.
    await failNextStatement(town, 'insert into "ticks"');
    await advance(town, 1_000);
    await tick(town);

    // Nothing of that tick was kept: events still pending, the issue still in progress, no merge request.
    const afterFault = await status(town);
    expect(afterFault.lastTick).toMatchObject({ result: "error", error: expect.stringContaining("injected fault") });
    expect(afterFault.queue.pending).toBe(pendingBefore);
    expect(afterFault.beadsByType.merge_request).toBe(0);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");

    // The retry applies each event exactly once.
    await advance(town, 1_000);
    await tick(town);
    const details = await bead(town, "b1");
    expect(details.bead.status).toBe("in_review");
    expect(details.mergeRequests).toEqual([expect.objectContaining({ id: "b1:mr:1" })]);
    const rows = (await eventRows(town)).filter((row) => row.event_id === "done-1" || row.event_id === "status-1");
    expect(rows.map((row) => [row.event_id, row.status, row.attempts])).toEqual([
      ["done-1", "processed", 0],
      ["status-1", "processed", 0],
    ]);

    // Memory and storage agree: a fresh load shows the same town.
    const before = await status(town);
    await evictDurableObject(town.stub);
    const after = await status(town);
    expect({ ...after, now: 0, alarm: null }).toEqual({ ...before, now: 0, alarm: null });
    logged.expect("tick failed");
  });
});

describe("a streak of failed ticks", () => {
  it("outlives an eviction: the next failure backs off further and counts on from the streak", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);

    await failNextStatement(town, 'insert into "ticks"');
    await advance(town, 1_000);
    await tick(town);
    const first = (await status(town)).lastTick;
    expect(first).toMatchObject({ result: "error", nextAlarmReason: "retry after failed tick (1 in a row)" });

    // The object is evicted between two failures: the streak is read back from storage.
    await evictDurableObject(town.stub);
    await failNextStatement(town, 'insert into "ticks"');
    await advance(town, 1_000);
    await tick(town);
    const second = (await status(town)).lastTick;
    expect(second).toMatchObject({ result: "error", nextAlarmReason: "retry after failed tick (2 in a row)" });
    expect(second.nextAlarmAt - second.at).toBe(2 * (first.nextAlarmAt - first.at));

    // A tick that commits ends the streak: the next failure is the first of a new one.
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).lastTick.result).toBe("ok");
    await failNextStatement(town, 'insert into "ticks"');
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).lastTick.nextAlarmReason).toBe("retry after failed tick (1 in a row)");
    logged.expect("tick failed");
  });
});

describe("a poison event", () => {
  it("is retried, then dead-lettered with its error, and never blocks the events behind it", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // A row an older version wrote, whose payload no longer parses.
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts) VALUES ('poison', 'agent_done', 'web:polecat:1', '{not json', 0, 'pending', 0)",
      );
      new TownStore(state.storage).events.recountTotals();
    });
    const done = { eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } };
    expect((await sendEvents(town, [done])).status).toBe(202);

    await advance(town, 1_000);
    await tick(town);
    // The event behind the poison one applied on the first tick.
    expect((await bead(town, "b1")).bead.status).toBe("in_review");
    for (let i = 1; i < C.maxEventAttempts; i++) {
      await advance(town, 1_000);
      await tick(town);
    }
    const poison = (await eventRows(town)).find((row) => row.event_id === "poison");
    expect(poison).toMatchObject({ status: "dead", attempts: C.maxEventAttempts, last_error: expect.stringContaining("payload is not JSON") });
    const final = await status(town);
    expect(final.queue).toMatchObject({ pending: 0, dead: 1 });
    expect(final.lastTick.eventsDeadLettered).toBe(1);
    logged.expect("event dead-lettered");
  });
});

describe("eviction", () => {
  it("keeps the state, the last tick's metrics and the alarm across an eviction", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const before = await status(town);
    expect(before.lastTick.actionsByType).toMatchObject({ create_agent: 1, dispatch_agent: 1, stop_agent: 0 });
    await evictDurableObject(town.stub);
    const after = await status(town);
    expect(after.lastTick).toEqual(before.lastTick);
    expect(after.agents).toEqual(before.agents);
    expect(after.alarm.nextFireAt).toBe(before.alarm.nextFireAt);
  });
});

describe("retention", () => {
  it("prunes processed events older than the retention window", async () => {
    const town = await createTown({ ...SILENT, eventRetentionMs: 3_600_000 });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const early = (await eventRows(town)).length;
    expect(early).toBeGreaterThan(0);
    // Two hours later (pruning runs at most hourly), everything processed before is past retention.
    await advance(town, 2 * 3_600_000);
    await tick(town);
    const late = await eventRows(town);
    expect(late.filter((row) => row.status === "processed").every((row) => row.seq > 0)).toBe(true);
    expect(late.length).toBeLessThan(early);
    expect(late.find((row) => row.event_id === "bead:b1")).toBeUndefined();
  });
});

describe("draining a backlog", () => {
  it("applies at most drainBatchSize events per tick, in seq order, and asks to be woken soon for the rest", async () => {
    const town = await createTown({ ...SILENT, drainBatchSize: 10 });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    await tick(town); // the dispatch result
    const events = Array.from({ length: 25 }, (_, i) => ({
      eventId: `s-${i}`,
      type: "container_status",
      agentId: "web:polecat:1",
      payload: { generation: 1, status: i % 2 === 0 ? "running" : "starting" },
    }));
    expect((await sendEvents(town, events)).body).toEqual({ accepted: 25, duplicates: 0 });

    await advance(town, 1_000);
    await tick(town);
    const first = await status(town);
    expect(first.lastTick).toMatchObject({ eventsDrained: 10, queueDepth: 15 });
    expect(first.alarm.reason).toBe("15 event(s) pending");

    const rows = (await eventRows(town)).filter((row) => row.event_id.startsWith("s-"));
    expect(rows.filter((row) => row.status === "processed").map((row) => row.event_id)).toEqual(Array.from({ length: 10 }, (_, i) => `s-${i}`));
    await advance(town, 1_000);
    await tick(town);
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).queue.pending).toBe(0);
  });
});

describe("migrations", () => {
  it("reports the real SQL error of a failing migration, and applies none of it", async () => {
    const { migrate } = await import("../../src/db/migrate");
    const stub = (await import("../support/town")).townStub("migration-probe");
    const outcome = await runInDurableObject(stub, (_instance, state) => {
      const broken = {
        journal: { entries: [{ idx: 0, when: 1, tag: "0000_broken" }] },
        migrations: { m0000: "CREATE TABLE fine (id TEXT);\n--> statement-breakpoint\nCREATE TABLE broken (id TEXT,, name TEXT);" },
      };
      try {
        migrate(state.storage, broken);
        return { error: null, tables: [] };
      } catch (error) {
        const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name IN ('fine', 'broken')").toArray();
        return { error: String(error), tables };
      }
    });
    expect(outcome.error).toContain("migration 0000_broken, statement 2 of 2 failed");
    expect(outcome.error).toMatch(/syntax error/i);
    expect(outcome.tables).toEqual([]);
  });
});

describe("the client event id migration", () => {
  it("moves ids clients sent into their own namespace and leaves the town's own", async () => {
    const { migrate } = await import("../../src/db/migrate");
    const { default: bundle } = await import("../../migrations/migrations.js");
    const stub = (await import("../support/town")).townStub("migration-ids");
    const ids = await runInDurableObject(stub, (_instance, state) => {
      // The schema as it was before, with events logged by an older version.
      const before = { journal: { entries: bundle.journal.entries.filter((e) => e.idx < 4) }, migrations: bundle.migrations };
      migrate(state.storage, before);
      const insert = "INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts) VALUES (?, ?, 'a', '{}', 0, 'processed', 0)";
      for (const [id, type] of [
        ["e-1", "agent_done"],
        ["cancel:b1", "container_status"],
        ["observed:a@1:exited:5", "container_status"],
        ["cancel:b2", "bead_cancelled"],
        ["result:a@1:dispatch", "dispatch_result"],
        ["pr-9", "pr_status_changed"],
      ]) {
        state.storage.sql.exec(insert, id, type);
      }
      migrate(state.storage, bundle);
      return state.storage.sql
        .exec<{ event_id: string }>("SELECT event_id FROM town_events ORDER BY seq")
        .toArray()
        .map((r) => r.event_id);
    });
    expect(ids).toEqual(["agent:e-1", "agent:cancel:b1", "observed:a@1:exited:5", "cancel:b2", "result:a@1:dispatch", "agent:pr-9"]);
  });
});

describe("the town overrides migration", () => {
  it("keeps a town's overrides when their column is renamed", async () => {
    const { migrate } = await import("../../src/db/migrate");
    const { default: bundle } = await import("../../migrations/migrations.js");
    const stub = (await import("../support/town")).townStub("migration-overrides");
    const overrides = await runInDurableObject(stub, (_instance, state) => {
      const before = { journal: { entries: bundle.journal.entries.filter((e) => e.tag < "0009") }, migrations: bundle.migrations };
      migrate(state.storage, before);
      state.storage.sql.exec(
        "INSERT INTO towns (id, config, agent_token_hash, breaker, created_at, updated_at) VALUES ('t', '{\"maxPolecatsPerRig\":2}', 'h', '{}', 0, 0)",
      );
      migrate(state.storage, bundle);
      return state.storage.sql.exec<{ overrides: string }>("SELECT overrides FROM towns").one().overrides;
    });
    expect(JSON.parse(overrides)).toEqual({ maxPolecatsPerRig: 2 });
  });
});

describe("large batches", () => {
  it("ingests a batch of 1,000 events and drains it in one tick", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    await tick(town);
    const events = Array.from({ length: 1_000 }, (_, i) => ({
      eventId: `bulk-${i}`,
      type: "container_status",
      agentId: "web:polecat:1",
      payload: { generation: 1, status: i % 2 === 0 ? "starting" : "running" },
    }));
    expect((await sendEvents(town, events)).body).toEqual({ accepted: 1_000, duplicates: 0 });
    expect((await sendEvents(town, events)).body).toEqual({ accepted: 0, duplicates: 1_000 });
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).lastTick).toMatchObject({ eventsDrained: 1_000, eventsApplied: 1_000, queueDepth: 0 });
    const rows = (await eventRows(town)).filter((row) => row.event_id.startsWith("bulk-"));
    expect(rows.every((row) => row.status === "processed")).toBe(true);
    expect(rows).toHaveLength(1_000);
  });
});
