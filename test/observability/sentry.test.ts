import { runInDurableObject } from "cloudflare:test";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/log";
import { createAlertSink } from "../../src/observability/sentry";
import { agentRow, beadRow, eventRow, seed } from "../support/seed";
import { advance, createTown, status, tick, tickUntilFound, type TestTown } from "../support/town";
import { SWEEP_BUCKETS } from "../../src/domain/work-index";
import { DEFAULT_TOWN_CONFIG } from "../../src/domain/config";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

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
    await seed(town, [
      beadRow("b1", { status: "in_progress", assignee: "a1" }),
      agentRow("a1", { hook: "b1" }),
      agentRow("a2", { hook: "b1", dispatchedAt: "4102444900000" }),
    ]);
    await tickUntilFound(town, (s) => s.lastTick.repairs > 0, SWEEP_BUCKETS);
    const six = ofKind(await sentryEvents(town), "violation_started").find((e) => e.tags.invariant === "6");
    expect(six.contexts.town).toMatchObject({ invariant: 6, key: "6:b1", beadIds: ["b1"], agentIds: ["a1", "a2"] });
  });

  it("reports dead-lettered events and a breaker that opens", async () => {
    const town = await createTown({ ...SILENT, maxEventAttempts: 1 });
    const recent = JSON.stringify({
      status: "closed",
      since: 0,
      failures: [4102444799000, 4102444799100, 4102444799200, 4102444799300, 4102444799400],
      lastFailureAt: 4102444799400,
      lastSuccessAt: null,
      probeAt: null,
    });
    await seed(town, [eventRow("poison"), `UPDATE towns SET breaker = '${recent}'`]);
    await advance(town, 1_000);
    await tick(town);
    const events = await sentryEvents(town);
    expect(ofKind(events, "event_dead_lettered")).toEqual([
      expect.objectContaining({ fingerprint: ["event_dead_lettered", town.townId], message: expect.stringContaining("Event poison (container_status") }),
    ]);
    expect(ofKind(events, "breaker_opened")).toEqual([expect.objectContaining({ message: expect.stringContaining("5 dispatch failures") })]);
    expect((await status(town)).breaker.status).toBe("open");
    logged.expect("event dead-lettered");
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
    logged.expect("tick failed");
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
    const sink = createAlertSink(
      undefined,
      createLogger("info", {}, (line) => lines.push(line)),
    );
    expect(
      await sink.deliver([{ alert: { kind: "breaker_opened", reason: "5 dispatch failures", recentFailures: 5 }, context: { townId: "t1", tickId: 7 } }]),
    ).toEqual([true]);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: "info", message: expect.stringContaining("SENTRY_DSN is not set") }),
      expect.objectContaining({ level: "warn", message: "alert: Circuit breaker opened: 5 dispatch failures", townId: "t1", tickId: 7 }),
    ]);
  });
});

describe("alerts Sentry did not accept", () => {
  it("are kept and sent again on later ticks until Sentry accepts them: a violation that started, a dead letter, a breaker that opened", async () => {
    const town = await createTown({ ...SILENT, maxEventAttempts: 1 });
    await sentryMode(town, "fail");
    const recent = JSON.stringify({
      status: "closed",
      since: 0,
      failures: [4102444799000, 4102444799100, 4102444799200, 4102444799300, 4102444799400],
      lastFailureAt: 4102444799400,
      lastSuccessAt: null,
      probeAt: null,
    });
    await seed(town, [eventRow("poison"), `UPDATE towns SET breaker = '${recent}'`]);
    await advance(town, 1_000);
    await tick(town);
    const refused = await sentryEvents(town);
    expect(
      refused
        .filter((e) => e.mode === "fail")
        .map((e) => e.tags.alert)
        .sort(),
    ).toEqual(["breaker_opened", "event_dead_lettered", "violation_started"]);
    expect((await status(town)).alerts).toMatchObject({ pending: 3 });

    // Sentry is back: a later tick delivers all three, once.
    await sentryMode(town, "ok");
    for (let i = 0; i < 3; i++) {
      await advance(town, 60_000);
      await tick(town);
    }
    const accepted = (await sentryEvents(town)).filter((e) => e.mode === "ok").map((e) => e.tags.alert);
    expect(accepted.sort()).toEqual(["breaker_opened", "event_dead_lettered", "violation_started"]);
    expect((await status(town)).alerts).toMatchObject({ pending: 0 });
    logged.expect("event dead-lettered");
  });

  it("are tried a bounded number of times, then dropped with a log line and a count", async () => {
    const town = await createTown({ ...SILENT, maxEventAttempts: 1 });
    await sentryMode(town, "fail");
    await seed(town, [eventRow("poison")]);
    for (let i = 0; i < 40; i++) {
      await advance(town, 3_600_000);
      await tick(town);
    }
    // One try per tick while it waits (the backoff stays under an hour), then no more.
    const tries = (await sentryEvents(town)).filter((e) => e.tags.alert === "event_dead_lettered").length;
    expect(tries).toBe(DEFAULT_TOWN_CONFIG.alertRetry.maxAttempts);
    expect((await status(town)).totals.alertsDropped).toBeGreaterThanOrEqual(1);
    logged.expect("alert dropped");
    logged.expect("event dead-lettered");
  });
});
