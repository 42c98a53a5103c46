import { describe, expect, it } from "vitest";
import { eventRow, seed } from "../support/seed";
import { createTown, runUntil, sling, status, tick, type TestTown } from "../support/town";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Lets `ms` of time pass as the alarm schedules it (each alarm run at its time) and counts the alarms.
 * A town that sets none is simply left alone until the end.
 */
async function alarmsDuring(town: TestTown, ms: number): Promise<number> {
  const end = (await town.stub.testNow()) + ms;
  let alarms = 0;
  for (;;) {
    const at = await town.stub.testAlarmAt();
    if (at === null || at > end) break;
    await town.stub.testSetTime(Math.max(at, await town.stub.testNow()));
    await tick(town);
    alarms += 1;
  }
  await town.stub.testSetTime(end);
  return alarms;
}

describe("an idle town", () => {
  it("sets no alarm once it owes nothing, and sleeps: 0 alarms an hour (the idle poll made 60)", async () => {
    const town = await createTown();
    expect(await tick(town)).toBe(true);
    const after = await status(town);
    expect(after.alarm).toMatchObject({ nextFireAt: null, reason: "no alarm scheduled" });
    expect(after.lastTick.nextAlarmReason).toBe("none: the town owes nothing and sleeps");
    expect(after.liveness).toMatchObject({ owesWork: false, overdueMs: 0 });
    const alarms = await alarmsDuring(town, DAY);
    console.log(`idle town: ${alarms} alarms in 24 h (${alarms / 24} an hour)`);
    expect(alarms).toBe(0);
    // Asleep is not stuck: its liveness says nothing is overdue, however long it sleeps.
    expect((await status(town)).liveness).toMatchObject({ owesWork: false, overdueMs: 0, lastTickAgeMs: DAY });
  });

  it("after its work is done, wakes only when its idle agents are due for collection and their tombstones for purging", async () => {
    const town = await createTown({ simulation: { workMs: 2_000 } });
    await sling(town, { id: "b1", title: "Some work" });
    await runUntil(town, (s) => s.beads.closed === 2 && s.agents.working === 0, 30);
    // Both agents idle, the next alarm is their collection, a day away (idleAgentGcMs), not a poll
    // (and no alarm just to report to the fleet: the last busy tick did).
    expect(await alarmsDuring(town, 10_000)).toBe(0);
    const idle = await status(town);
    expect(idle.alarm.reason).toMatch(/idle agent .* is due for collection/);
    expect(idle.alarm.inMs).toBeGreaterThan(DAY - HOUR);
    // Over the next eight days: the two collections, the two purges a week later, and then nothing at all.
    const alarms = await alarmsDuring(town, 8 * DAY);
    console.log(`town after its work: ${alarms} alarms in 8 days`);
    expect(alarms).toBeLessThanOrEqual(4);
    const after = await status(town);
    expect(after.agents).toMatchObject({ idle: 0, working: 0, stalled: 0, dead: 0 });
    expect(after.alarm.nextFireAt).toBeNull();
  });

  it("wakes for a command and goes back to sleep when the work is done", async () => {
    const town = await createTown({ simulation: { workMs: 2_000 } });
    await tick(town);
    expect((await status(town)).alarm.nextFireAt).toBeNull();
    await sling(town, { id: "b1", title: "Wake up" });
    expect((await status(town)).alarm).toMatchObject({ reason: "bead slung", inMs: 50 });
    await runUntil(town, (s) => s.beads.closed === 2, 30);
  });

  it("keeps looking while a violation is open, every idleAlarmMs, and not otherwise", async () => {
    const town = await createTown({ idleAlarmMs: 600_000 });
    await tick(town);
    await seed(town, [eventRow("dead-1", { status: "dead" })]);
    await town.stub.testWake();
    await tick(town);
    const open = await status(town);
    expect(open.violations.open).toBe(1);
    expect(open.alarm).toMatchObject({ inMs: 600_000, reason: "1 invariant violation(s) open: looking again" });
    expect(await alarmsDuring(town, HOUR)).toBe(6);
  });
});
