import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RegistryStore } from "../../src/fleet/registry-store";
import { fleetStatus, listTowns } from "../../src/fleet/reads";
import { registryOf, shardOf } from "../../src/fleet/shards";
import { SLOW_TICK_MS } from "../../src/fleet/fleet-alerts";
import { registrationSummary } from "../../src/fleet/town-summary";
import { isNews } from "../../src/fleet/fleet-report";
import { eventRow, seed } from "../support/seed";
import { deployShards, fleetRow, registry } from "../support/fleet";
import { advance, api, createTown, env, runUntil, sling, status, tick, TOKENS, uniqueTownId } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

/** Agents that work for a day and never report on their own. */
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

describe("fleet summaries", () => {
  it("arrive after ticks, at most once per interval while the town keeps ticking, and always when it goes quiet: no tick runs just to report", async () => {
    const town = await createTown({ ...SILENT, fleetSummaryIntervalMs: 10_000 });
    // Registered: due to tick at once, nothing known yet.
    const t0 = await town.stub.testNow();
    expect(await fleetRow(town, t0)).toMatchObject({ queueDepth: 0, summaryAgeSeconds: 0 });

    await tick(town);
    const t1 = await town.stub.testNow();
    expect(await fleetRow(town, t1)).toMatchObject({ lastTickAgeSeconds: 0, summaryAgeSeconds: 0 });

    // A second later a tick that changes nothing the registry reads says nothing: no call, though the town sleeps after it.
    await advance(town, 1_000);
    await town.stub.testWake();
    expect(await tick(town)).toBe(true);
    expect(await fleetRow(town, t1 + 1_000)).toMatchObject({ lastTickAgeSeconds: 1, summaryAgeSeconds: 1 });

    // A second later a bead is slung: the tick that dispatches it is followed at once by the tick
    // for the dispatch's result, inside the interval, so it holds its summary back…
    await advance(town, 1_000);
    await sling(town, { id: "b1", title: "Work" });
    await runUntil(town, (s) => s.lastTick.at > t1 && s.outbox.pending === 0 && s.queue.pending > 0, 5);
    const t2 = await town.stub.testNow();
    expect(await fleetRow(town, t2)).toMatchObject({ summaryAgeSeconds: 2 });
    // …and the tick after which the town waits (a day of silent work) reports at once, interval or not.
    await runUntil(town, (s) => s.queue.pending === 0 && s.agents.working === 1, 5);
    const t3 = await town.stub.testNow();
    expect(t3 - t1).toBeLessThan(10_000);
    expect(await fleetRow(town, t3)).toMatchObject({ summaryAgeSeconds: 0, lastTickAgeSeconds: 0 });
    const alarm = (await status(town)).alarm;
    expect(alarm.reason).not.toMatch(/summary/);
    expect(alarm.nextFireAt - t3).toBeGreaterThan(10_000);
  });

  it("are sent again when the registry could not take one, no sooner than the idle poll", async () => {
    const town = await createTown({ ...SILENT, idleAlarmMs: 60_000 });
    await tick(town);
    await registry.testFailReports(1);
    await advance(town, 30_000);
    await sling(town, { id: "b1", title: "Work", held: true });
    await tick(town);
    const failedAt = await town.stub.testNow();
    // The town owes nothing else: it wakes only to report again, a minute later.
    expect((await status(town)).alarm).toMatchObject({ nextFireAt: failedAt + 60_000, reason: "fleet summary retry" });
    expect((await fleetRow(town, failedAt)).summaryAgeSeconds).toBe(30);
    await town.stub.testSetTime(failedAt + 60_000);
    await tick(town);
    expect(await fleetRow(town, failedAt + 60_000)).toMatchObject({ summaryAgeSeconds: 0, overdueSeconds: 0 });
    expect((await status(town)).alarm.nextFireAt).toBeNull();
    logged.expect("fleet report failed");
  });

  it("carry the town's problems as numbers, one per alert condition, never null", async () => {
    const town = await createTown(SILENT);
    await seed(town, [eventRow("dead-1", { status: "dead" })]);
    await town.stub.testWake();
    await tick(town);
    const row = await fleetRow(town, await town.stub.testNow());
    expect(row).toMatchObject({ town: town.townId, deadLetters: 1, violationsOpen: 1, breakerOpen: 0, stuckWork: 0, silent: 0 });
    // Two conditions hold: dead letters, and the violation (invariant 9) they open.
    expect(row.problems).toBe(2);
    for (const [field, value] of Object.entries(row)) {
      if (field === "town") expect(value).toBe(town.townId);
      else expect(typeof value, field).toBe("number");
    }
  });

  it("carry whether the town is paused and its container time of the day, which are not problems", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    await advance(town, 100);
    await tick(town);
    // Ten minutes of a running container, then the operator pauses the town: its next summary says both.
    await advance(town, 600_000);
    expect((await api("POST", `/api/towns/${town.townId}/pause`, { token: TOKENS.admin, body: { reason: "looking" } })).status).toBe(202);
    await tick(town);
    const today = (await status(town)).usage.today.containerSeconds;
    const row = await fleetRow(town, await town.stub.testNow());
    expect(row).toMatchObject({ paused: 1, problems: 0 });
    expect(row.containerSecondsToday).toBeGreaterThanOrEqual(600);
    expect(row.containerSecondsToday).toBeLessThanOrEqual(Math.ceil(today));
  });

  it("lets the registry mark a town that stopped reporting, worst first, and not one that sleeps", async () => {
    const stopped = await createTown(SILENT);
    await sling(stopped, { id: "b1", title: "Work" });
    await tick(stopped);
    const promised = (await status(stopped)).alarm.nextFireAt as number;
    const sleeping = await createTown();
    await tick(sleeping);
    // Four minutes past its promised tick: late, not yet silent. Six: silent, and first in the list.
    expect(await fleetRow(stopped, promised + 4 * 60_000)).toMatchObject({ silent: 0, overdueSeconds: 240 });
    const late = await fleetRow(stopped, promised + 6 * 60_000);
    expect(late).toMatchObject({ silent: 1, overdueSeconds: 360 });
    expect(late.problems).toBeGreaterThanOrEqual(1);
    const rows = (await api("GET", "/api/fleet/status", { token: TOKENS.read })).body.towns;
    const problems = rows.map((r: any) => r.problems);
    expect(problems).toEqual([...problems].sort((a: number, b: number) => b - a));
    expect(await fleetRow(sleeping, promised + 365 * 86_400_000)).toMatchObject({ silent: 0, overdueSeconds: 0 });
  });

  it("drop a deleted town, and its late summary does not bring it back", async () => {
    const town = await createTown();
    await tick(town);
    const now = await town.stub.testNow();
    expect(await fleetRow(town, now)).toBeDefined();
    expect((await api("DELETE", `/api/towns/${town.townId}`, { token: TOKENS.admin })).status).toBe(200);
    expect(await fleetRow(town, now)).toBeUndefined();
    expect(await registry.report({ ...registrationSummary(town.townId, now), reportedAt: now + 1 })).toBe(false);
    expect(await fleetRow(town, now)).toBeUndefined();
  });

  it("never go backwards: an older summary arriving late is ignored", async () => {
    const town = await createTown();
    await tick(town);
    const now = await town.stub.testNow();
    expect(await registry.report({ ...registrationSummary(town.townId, now - 60_000), nextAlarmAt: null, queueDepth: 99 })).toBe(false);
    expect((await fleetRow(town, now)).queueDepth).toBe(0);
  });
});

describe("what a summary reports", () => {
  const last = { ...registrationSummary("t", 0), reportedAt: 0, lastTickAt: 0, nextAlarmAt: 60_000 };
  const interval = 10_000;

  it("is news when a count or state changes, or the town falls asleep or wakes", () => {
    expect(isNews(last, { ...last, queueDepth: 1 }, interval)).toBe(true);
    expect(isNews(last, { ...last, oldestPendingAt: 5 }, interval)).toBe(true);
    expect(isNews(last, { ...last, violationsOpen: 2 }, interval)).toBe(true);
    expect(isNews(last, { ...last, nextAlarmAt: null }, interval)).toBe(true);
    expect(isNews({ ...last, nextAlarmAt: null }, last, interval)).toBe(true);
  });

  it("is not news when only the tick's own timing moves, unless the tick crosses the slow-tick alert or the next alarm moves by an interval", () => {
    const later = { ...last, reportedAt: 3_000, lastTickAt: 3_000, tickWallClockMs: 40, nextAlarmAt: 63_000 };
    expect(isNews(last, later, interval)).toBe(false);
    expect(isNews(last, { ...later, tickWallClockMs: SLOW_TICK_MS + 1 }, interval)).toBe(true);
    expect(isNews(last, { ...later, nextAlarmAt: 60_000 + interval }, interval)).toBe(true);
    expect(isNews(last, { ...later, nextAlarmAt: 60_000 - interval }, interval)).toBe(true);
  });
});

describe("fleet routes", () => {
  it("serve Prometheus service discovery: one target group per town, at the request's host", async () => {
    const town = await createTown();
    const response = await api("GET", "/api/fleet/targets", { token: TOKENS.read });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.body).toContainEqual({ targets: ["town.test"], labels: { __metrics_path__: `/api/towns/${town.townId}/metrics`, town: town.townId } });
    const listed = (await api("GET", "/api/towns", { token: TOKENS.read })).body.towns.map((t: any) => t.id);
    expect(response.body.map((group: any) => group.labels.town)).toEqual(listed);
  });
});

describe("the registry's storage", () => {
  it("gives towns listed before summaries existed a summary that makes them due at once, when the summaries table is created", async () => {
    const stub = env.REGISTRY.getByName("registry-before-summaries");
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE summaries");
      sql.exec("INSERT INTO towns (id, created_at) VALUES ('old-town', 1000)");
      new RegistryStore(sql);
      expect(sql.exec("SELECT town_id, next_alarm_at FROM summaries").toArray()).toEqual([{ town_id: "old-town", next_alarm_at: 1000 }]);
      // Started again, with the table there: the towns are not scanned again (a summary removed by hand stays removed).
      sql.exec("DELETE FROM summaries");
      new RegistryStore(sql);
      expect(sql.exec("SELECT count(*) AS n FROM summaries").one().n).toBe(0);
    });
  });
});

describe("registry shards", () => {
  it("spread towns by a stable hash of their id, and fleet reads merge every shard", async () => {
    const ids = Array.from({ length: 12 }, () => uniqueTownId("sharded"));
    const shards = new Set(ids.map((id) => shardOf(id, 3)));
    expect(shards.size).toBeGreaterThan(1);
    expect(ids.map((id) => shardOf(id, 3))).toEqual(ids.map((id) => shardOf(id, 3)));
    const now = Date.UTC(2100, 0, 1);
    deployShards(3);
    try {
      for (const id of ids) await registryOf(env, id, 3).register(id, now, 3);
      const listed = (await listTowns(env)).map((t) => t.id);
      expect(listed.filter((id) => id.startsWith("sharded"))).toEqual([...ids].sort());
      const rows = (await fleetStatus(env)).towns;
      expect(
        rows
          .filter((row) => row.town.startsWith("sharded"))
          .map((row) => row.town)
          .sort(),
      ).toEqual([...ids].sort());
    } finally {
      deployShards(undefined);
    }
  });
});
