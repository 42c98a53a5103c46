import { runInDurableObject } from "cloudflare:test";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { WATCHDOG_MONITOR } from "../../src/observability/sentry";
import { fleetRow, registry, sweep, WATCHDOG_CRON } from "../support/fleet";
import { advance, api, bead, createTown, runUntil, sling, status, tick, TOKENS, type TestTown } from "../support/town";

const sentryUrl = inject("sentryUrl");
/** Agents that work for a day and heartbeat every 30 s: the town always owes its next look. */
const BUSY = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 30_000 } };

const rearms = async (town: TestTown) =>
  Number(/town_reconciler_alarm_rearmed_total\{[^}]*\} (\d+)/.exec((await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read })).body)![1]);
const checkIns = async (): Promise<any[]> => (await fetch(`${sentryUrl}/__check-ins?monitor=${WATCHDOG_MONITOR}`)).json();

/** A town with an agent at work: dispatched, reporting, its alarm set for the next report. */
async function busyTown(): Promise<TestTown> {
  const town = await createTown(BUSY);
  await sling(town, { id: "b1", title: "Long work" });
  await runUntil(town, (s) => s.agents.working === 1, 5);
  return town;
}

describe("the watchdog", () => {
  it("re-arms a town whose alarm was lost while it owed work, on its next sweep, and the town goes on", async () => {
    const town = await busyTown();
    // The alarm is lost (dropped by the platform after its retries, say) while the agent works.
    await runInDurableObject(town.stub, (_instance, state) => state.storage.deleteAlarm());
    await advance(town, 10 * 60_000);
    const lost = await status(town);
    expect(lost.alarm.nextFireAt).toBeNull();
    expect(lost.liveness).toMatchObject({ owesWork: true, alarmRearms: 0 });
    expect(lost.liveness.overdueMs).toBeGreaterThan(9 * 60_000);
    // Nothing else wakes it: heartbeats are observations (the simulated agent only reports when its town ticks).
    expect(await tick(town)).toBe(false);

    const now = await town.stub.testNow();
    expect((await fleetRow(town, now)).overdueSeconds).toBeGreaterThan(9 * 60);
    await sweep(now);

    const mended = await status(town);
    expect(mended.alarm).toMatchObject({ reason: expect.stringMatching(/^re-armed by the watchdog: /) });
    expect(mended.alarm.nextFireAt).toBeLessThanOrEqual(now + 1_000);
    expect(mended.liveness).toMatchObject({ alarmRearms: 1, overdueMs: 0 });
    expect(await rearms(town)).toBe(1);
    // The town reported afresh: the registry no longer holds it overdue.
    expect((await fleetRow(town, now)).overdueSeconds).toBe(0);
    // And it ticks again: the stalled-looking agent's report arrives, work goes on.
    await runUntil(town, (s) => s.lastTick.at >= now, 3);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    expect((await status(town)).alarm.nextFireAt).not.toBeNull();
  });

  it("leaves a town alone whose alarm is armed, and never asks one that sleeps", async () => {
    const healthy = await busyTown();
    const sleeping = await createTown();
    await tick(sleeping);
    expect((await status(sleeping)).alarm.nextFireAt).toBeNull();
    const now = (await healthy.stub.testNow()) + 10 * 60_000;
    // The healthy town's summary looks overdue to the registry (its alarm was not run): it is asked, and is fine.
    await sweep(now);
    expect(await rearms(healthy)).toBe(0);
    expect((await status(healthy)).liveness.alarmRearms).toBe(0);
    // The sleeping town promised no tick: never overdue, whatever the time.
    expect(await fleetRow(sleeping, now + 86_400_000)).toMatchObject({ overdueSeconds: 0, silent: 0 });
    expect(await rearms(sleeping)).toBe(0);
  });

  it("checks in with Sentry Crons: in progress, then ok, with the monitor's schedule", async () => {
    const before = (await checkIns()).length;
    await sweep(Date.UTC(2100, 0, 2));
    const mine = (await checkIns()).slice(before);
    expect(mine.map((c) => c.status)).toEqual(["in_progress", "ok"]);
    const [started, finished] = mine;
    expect(finished.check_in_id).toBe(started.check_in_id);
    expect(started.check_in_id).toMatch(/^[0-9a-f]{32}$/);
    expect(finished.duration).toBeGreaterThanOrEqual(0);
    for (const checkIn of mine) {
      expect(checkIn.monitor_config).toMatchObject({
        schedule: { type: "crontab", value: WATCHDOG_CRON },
        checkin_margin: 2,
        max_runtime: 10,
        timezone: "Etc/UTC",
      });
      expect(checkIn.envelope).toMatchObject({ sdk: { name: "toucan-js" }, sent_at: expect.any(String) });
    }
  });

  it("checks in an error when the sweep cannot read the registry, and fails the invocation", async () => {
    const before = (await checkIns()).length;
    await registry.testFailSweeps(1);
    await expect(sweep(Date.UTC(2100, 0, 2))).rejects.toThrow("injected: the town list is unreachable");
    const mine = (await checkIns()).slice(before);
    expect(mine.map((c) => c.status)).toEqual(["in_progress", "error"]);
    expect(mine[1].check_in_id).toBe(mine[0].check_in_id);
  });
});
