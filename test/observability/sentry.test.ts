import { runInDurableObject } from "cloudflare:test";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/log";
import { createAlertSink } from "../../src/observability/sentry";
import { agentRow, beadRow, eventRow, seed } from "../support/seed";
import { advance, createTown, status, tick, tickUntilFound, type TestTown } from "../support/town";
import { SWEEP_BUCKETS } from "../../src/domain/work-index";

const sentryUrl = inject("sentryUrl");
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, idleAlarmMs: 3_600_000 };

async function sentryEvents(town: TestTown): Promise<any[]> {
  return (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json();
}
async function sentryMode(town: TestTown, mode: "ok" | "fail" | "hang") {
  await fetch(`${sentryUrl}/__control`, { method: "POST", body: JSON.stringify({ townId: town.townId, mode }) });
}
const ofKind = (events: any[], alert: string) => events.filter((e) => e.tags.alert === alert);

describe("reporting to Sentry", () => {
  it("reports a violation when it starts, not on every tick, and again once the cooldown has passed", async () => {
    const town = await createTown(SILENT);
    await seed(town, [eventRow("dead-1", { status: "dead" })]);
    for (let i = 0; i < 10; i++) {
      await advance(town, 5_000);
      await tick(town);
    }
    let events = await sentryEvents(town);
    expect(ofKind(events, "violation_started")).toHaveLength(1);
    expect(ofKind(events, "violation_open")).toHaveLength(0);
    expect((await status(town)).violations.list).toEqual([expect.objectContaining({ invariant: 9 })]);

    // An hour later (the default cooldown) it is still open: one reminder, then quiet again.
    await advance(town, 3_600_000);
    await tick(town);
    await advance(town, 5_000);
    await tick(town);
    events = await sentryEvents(town);
    expect(ofKind(events, "violation_started")).toHaveLength(1);
    expect(ofKind(events, "violation_open")).toEqual([expect.objectContaining({ level: "warning", fingerprint: ["invariant:9", town.townId] })]);
  });

  it("sends the entity ids of a violation", async () => {
    const town = await createTown(SILENT);
    await seed(town, [beadRow("b1", { status: "in_progress", assignee: "a1" }), agentRow("a1", { hook: "b1" }), agentRow("a2", { hook: "b1", dispatchedAt: "4102444900000" })]);
    await tickUntilFound(town, (s) => s.lastTick.repairs > 0, SWEEP_BUCKETS);
    const six = ofKind(await sentryEvents(town), "violation_started").find((e) => e.tags.invariant === "6");
    expect(six.contexts.town).toMatchObject({ invariant: 6, key: "6:b1", beadIds: ["b1"], agentIds: ["a1", "a2"] });
  });

  it("reports dead-lettered events and a breaker that opens", async () => {
    const town = await createTown({ ...SILENT, maxEventAttempts: 1 });
    const recent = JSON.stringify({ status: "closed", since: 0, failures: [4102444799000, 4102444799100, 4102444799200, 4102444799300, 4102444799400], lastFailureAt: 4102444799400, lastSuccessAt: null, probeAt: null });
    await seed(town, [eventRow("poison"), `UPDATE towns SET breaker = '${recent}'`]);
    await advance(town, 1_000);
    await tick(town);
    const events = await sentryEvents(town);
    expect(ofKind(events, "event_dead_lettered")).toEqual([
      expect.objectContaining({ fingerprint: ["event_dead_lettered", town.townId], message: expect.stringContaining("Event poison (container_status") }),
    ]);
    expect(ofKind(events, "breaker_opened")).toEqual([expect.objectContaining({ message: expect.stringContaining("5 dispatch failures") })]);
    expect((await status(town)).breaker.status).toBe("open");
  });

  it("reports a tick that throws, with the exception", async () => {
    const town = await createTown(SILENT);
    await runInDurableObject(town.stub, (_instance, state) => {
      const sql = state.storage.sql;
      const original = sql.exec;
      (sql as { exec: typeof original }).exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
        if (query.startsWith('insert into "ticks"')) {
          (sql as { exec: typeof original }).exec = original;
          throw new Error("injected: storage unavailable");
        }
        return original.call(this, query, ...bindings);
      } as typeof original;
    });
    await advance(town, 1_000);
    await tick(town);
    const failed = ofKind(await sentryEvents(town), "tick_failed");
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(failed[0].exception)).toContain("injected: storage unavailable");
  });

  it.each(["fail", "hang"] as const)("never fails or holds up a tick when Sentry %s", async (mode) => {
    const town = await createTown(SILENT);
    await sentryMode(town, mode);
    await seed(town, [eventRow("dead-1", { status: "dead" })]);
    await advance(town, 1_000);
    // The alarm returns (a hanging Sentry is cut off after a short bound) and the tick is recorded.
    await tick(town);
    const after = await status(town);
    expect(after.lastTick).toMatchObject({ result: "ok", violationsNew: 1 });
    expect(ofKind(await sentryEvents(town), "violation_started")).toEqual([expect.objectContaining({ mode })]);
    expect(after.alarm.nextFireAt).not.toBeNull();
  });

  it("logs alerts instead when no DSN is configured", async () => {
    const lines: string[] = [];
    const sink = createAlertSink(undefined, createLogger("info", {}, (line) => lines.push(line)));
    await sink.send([{ kind: "breaker_opened", reason: "5 dispatch failures", recentFailures: 5 }], { townId: "t1", tickId: 7 });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: "info", message: expect.stringContaining("SENTRY_DSN is not set") }),
      expect.objectContaining({ level: "warn", message: "alert: Circuit breaker opened: 5 dispatch failures", townId: "t1", tickId: 7 }),
    ]);
  });
});
