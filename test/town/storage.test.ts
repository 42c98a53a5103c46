import { runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { advance, api, bead, createTown, fillStorage, once, roomAgain, sendEvents, sling, status, tick, TOKENS, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const sentryUrl = inject("sentryUrl");
const storageAlerts = async (town: TestTown) =>
  ((await (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json()) as any[]).filter((e) => e.tags.alert === "storage_high");
/** Agents that never report and a town that wakes hourly: ticks happen when a test runs them. */
const tickNow = async (town: TestTown) => {
  // A town that owes nothing sleeps: woken as a command would wake it.
  await town.stub.testWake();
  await tick(town);
};
const QUIET = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, idleAlarmMs: 3_600_000 };

const metrics = async (town: TestTown) => (await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true })).body as string;
const databaseSize = (town: TestTown) => runInDurableObject(town.stub, (_instance, state) => state.storage.sql.databaseSize);
const gauge = (text: string, name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);

describe("a town's storage", () => {
  it("shows the database's size in status and metrics, as the object measures it", async () => {
    const town = await createTown();
    const before = await status(town);
    expect(before.storage).toEqual({ databaseBytes: await databaseSize(town), limitBytes: 10_000_000_000, alertAtBytes: 8_000_000_000, full: null });
    // A bead with a 100 KB body takes room: both readings grow with it.
    await sling(town, { id: "big", title: "big", body: "x".repeat(100_000) });
    const after = await status(town);
    expect(after.storage.databaseBytes).toBeGreaterThan(before.storage.databaseBytes + 90_000);
    expect(after.storage.databaseBytes).toBe(await databaseSize(town));
    expect(gauge(await metrics(town), "town_reconciler_storage_database_bytes")).toBe(await databaseSize(town));
  });
});

describe("the storage alert", () => {
  it("warns Sentry when the database reaches the town's share of the limit, then again once per cooldown", async () => {
    // 0.00002 of 10 GB is 200 KB: a new town's database is larger.
    const town = await createTown({ ...QUIET, storageAlertShare: 0.00002 });
    expect((await status(town)).storage.alertAtBytes).toBe(200_000);
    await advance(town, 1_000);
    await tickNow(town);
    const [first, ...rest] = await storageAlerts(town);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ level: "warning", fingerprint: ["storage_high", town.townId], message: expect.stringContaining("storage-full.md") });
    expect(first.contexts.town).toMatchObject({ limitBytes: 10_000_000_000, alertShare: 0.00002, databaseBytes: expect.any(Number) });
    // Not on every tick: again only once the cooldown (an hour by default) has passed.
    await advance(town, 60_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toHaveLength(1);
    await advance(town, 3_600_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toHaveLength(2);
  });

  it("stays quiet below the share", async () => {
    const town = await createTown({ ...QUIET, storageAlertShare: 0.5 });
    await advance(town, 1_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toEqual([]);
    // The default share alerts at 8 GB; a share out of 0 – 1 is refused.
    const refused = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { storageAlertShare: 1.5 } } });
    expect(refused.status).toBe(400);
  });
});

describe("a town whose storage is full", () => {
  it("answers new work with 507 storage_full, keeps draining, stopping and answering reads, and loses nothing", async () => {
    const town = await createTown(QUIET);
    await sling(town, { id: "b1", title: "one" });
    await sling(town, { id: "b2", title: "two" });
    await tickNow(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    // Work the town holds when it fills: a report to apply, and a cancelled bead whose container it must stop.
    const done = { eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } };
    expect((await sendEvents(town, [done])).status).toBe(202);
    expect((await api("POST", `/api/towns/${town.townId}/beads/b2/cancel`, { token: TOKENS.admin, body: {} })).status).toBe(202);

    // The next row written to the log finds the database full; what room the object has left (pages
    // retention freed, rows updated in place) then goes to the work the town already holds.
    await fillStorage(
      town,
      once((query) => query.startsWith("insert into town_events")),
    );
    const refused = await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { id: "b3", rigId: "web", title: "three" } });
    expect(refused.status).toBe(507);
    expect(refused.body.error).toMatchObject({ code: "storage_full", message: expect.stringContaining("no new work") });
    // From then on new work is refused before it is tried: agent events and commands alike.
    const more = { eventId: "status-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } };
    expect((await sendEvents(town, [more])).status).toBe(507);
    expect((await api("POST", `/api/towns/${town.townId}/beads/b1/hold`, { token: TOKENS.admin, body: {} })).status).toBe(507);

    // Reads go on, and say why.
    const whileFull = await status(town);
    expect(whileFull.storage.full).toEqual({ since: expect.any(Number) });
    expect(gauge(await metrics(town), "town_reconciler_storage_full")).toBe(1);
    expect((await api("GET", `/api/towns/${town.townId}/beads/b3`, { token: TOKENS.read })).status).toBe(404);
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "in_progress", held: false });

    // Draining and stopping go on: the report is applied, the cancelled bead's container stopped (the
    // service's answer is logged, and the next tick settles the stop).
    await advance(town, 1_000);
    await tickNow(town);
    expect((await status(town)).storage.full).toBeNull();
    await advance(town, 1_000);
    await tickNow(town);
    const drained = await status(town);
    expect(drained.owedStops.count).toBe(0);
    expect((await bead(town, "b1")).bead.status).toBe("in_review");
    expect((await bead(town, "b2")).bead.status).toBe("failed");

    // The tick committed: there is room, and new work is taken again; nothing was lost or doubled.
    await roomAgain(town);
    expect(drained.storage.full).toBeNull();
    expect((await sling(town, { id: "b3", title: "three" })).id).toBe("b3");
    const log = await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql
        .exec<{ event_id: string; status: string }>("SELECT event_id, status FROM town_events WHERE event_id LIKE '%done-1' OR event_id LIKE '%status-1'")
        .toArray(),
    );
    expect(log).toEqual([expect.objectContaining({ status: "processed" })]);
    logged.expect("request failed");
    logged.expect("storage full: new work refused");
  });

  it("refuses new work after a tick finds it full, until a tick commits", async () => {
    const town = await createTown(QUIET);
    await sling(town, { id: "b1", title: "one" });
    await fillStorage(
      town,
      once((query) => query.startsWith('insert into "ticks"')),
    );
    await tickNow(town);
    expect((await status(town)).storage.full).toEqual({ since: expect.any(Number) });
    expect((await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { id: "b2", rigId: "web", title: "two" } })).status).toBe(507);
    // Reconfiguring is taken (shorter retention is how room is made).
    expect((await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { tickRetentionMs: 86_400_000 } } })).status).toBe(200);
    await advance(town, 1_000);
    await tickNow(town);
    expect((await status(town)).storage.full).toBeNull();
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    expect((await sling(town, { id: "b2", title: "two" })).id).toBe("b2");
    await roomAgain(town);
    logged.expect("request failed");
    logged.expect("tick failed");
  });
});
