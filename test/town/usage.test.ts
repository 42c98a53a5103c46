/**
 * The usage meter and the budget (DESIGN §4.7), in the Workers runtime with real SQLite and alarms: container
 * time counted from a dispatch's success to the agent leaving working, exactly once across a crash and in
 * replay, cut at UTC midnight; the budget's verdicts, its pause, its next-day resume, and how it meets an
 * operator's pause and resume.
 */
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import {
  advance,
  api,
  bead,
  createTown,
  failNextStatement,
  sendEvents,
  sling,
  status,
  tick,
  TOKENS,
  type TestTown,
  expectFaithfulReplay,
} from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const sentryUrl = inject("sentryUrl");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Agents that report nothing for a day (the longest a simulated run may take): the tests say when they finish. */
const SILENT = { simulation: { workMs: DAY, heartbeatIntervalMs: DAY }, heartbeatTimeoutMs: DAY, coldStartGraceMs: DAY };

const admin = (town: TestTown, method: string, path: string, body: unknown = {}) =>
  api(method, `/api/towns/${town.townId}${path}`, { token: TOKENS.admin, body });

/** Slings `id` and ticks until its dispatch succeeded: returns its agent and when the meter started. */
async function running(town: TestTown, id: string) {
  await sling(town, { id, title: id });
  await advance(town, 1_000);
  await tick(town);
  const agent = (await bead(town, id)).agent;
  expect(agent, `${id} was dispatched`).not.toBeNull();
  // The dispatch's result comes back as an event: the tick that applies it starts the meter.
  await advance(town, 100);
  await tick(town);
  const since = (await bead(town, id)).agent.runningSince;
  expect(since, "the meter runs once the dispatch succeeded").toBe(await town.stub.testNow());
  return { agent, since: since as number };
}

/** The agent reports its branch: the issue goes to review and the agent idles, which ends the meter. */
async function done(town: TestTown, id: string, agent: { id: string; generation: number }) {
  await sendEvents(town, [{ eventId: `done-${id}`, type: "agent_done", agentId: agent.id, payload: { generation: agent.generation, branch: `b/${id}` } }]);
  await advance(town, 100);
}

async function usageRows(town: TestTown) {
  return runInDurableObject(town.stub, (_instance, state) =>
    state.storage.sql.exec("SELECT day, rig_id, role, container_ms, dispatches FROM usage ORDER BY day, rig_id, role").toArray(),
  );
}

async function metric(town: TestTown, name: string): Promise<string[]> {
  const text = (await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true })).body as string;
  return text.split("\n").filter((line) => line.startsWith(name));
}

describe("the usage meter", () => {
  it("counts container time from the dispatch's success to the agent leaving working, per bead, day, rig and role", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    const { agent, since } = await running(town, "b1");
    await advance(town, 10 * 60_000);
    // While it runs, today's figure includes it.
    const during = (await status(town)).usage;
    expect(during.today).toMatchObject({ containerSeconds: ((await town.stub.testNow()) - since) / 1000, dispatches: 1, running: 1 });
    await done(town, "b1", agent);
    await tick(town);
    const end = await town.stub.testNow();
    const ms = end - since;
    expect((await bead(town, "b1")).bead.usage).toEqual({ containerSeconds: ms / 1000, dispatches: 1 });
    expect((await status(town)).usage.today).toMatchObject({ containerSeconds: ms / 1000, dispatches: 1, running: 0 });
    const day = new Date(since).toISOString().slice(0, 10);
    expect(await usageRows(town)).toEqual([
      { day, rig_id: "web", role: "polecat", container_ms: ms, dispatches: 1 },
      { day: "total", rig_id: "web", role: "polecat", container_ms: ms, dispatches: 1 },
    ]);
    expect(await metric(town, "town_reconciler_container_seconds_total{")).toEqual([
      `town_reconciler_container_seconds_total{rig="web",role="polecat",town="${town.townId}"} ${ms / 1000}`,
    ]);
    await expectFaithfulReplay(town, from);
  });

  it("counts once when the tick that ends the interval crashes before it commits, and is retried", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    const { agent, since } = await running(town, "b1");
    await advance(town, 5 * 60_000);
    await done(town, "b1", agent);
    await failNextStatement(town, 'insert into "ticks"');
    await tick(town);
    expect((await bead(town, "b1")).bead.usage.containerSeconds, "the failed tick kept nothing").toBe(0);
    await advance(town, 2_000);
    await tick(town);
    const end = await town.stub.testNow();
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "in_review", usage: { containerSeconds: (end - since) / 1000, dispatches: 1 } });
    const rows = await usageRows(town);
    expect(rows.map((row) => row.container_ms)).toEqual([end - since, end - since]);
    // Reloaded from storage (an eviction), the town reads the same figures.
    await evictDurableObject(town.stub);
    expect((await status(town)).usage.today.containerSeconds).toBe((end - since) / 1000);
    await expectFaithfulReplay(town, from);
    logged.expect("tick failed");
  });

  it("cuts an interval that spans UTC midnight between the two days", async () => {
    const town = await createTown(SILENT);
    const now = await town.stub.testNow();
    const midnight = Math.ceil(now / DAY) * DAY + DAY;
    await town.stub.testSetTime(midnight - 30 * 60_000);
    const { agent, since } = await running(town, "b1");
    await town.stub.testSetTime(midnight + 15 * 60_000);
    await done(town, "b1", agent);
    await tick(town);
    const end = await town.stub.testNow();
    const rows = await usageRows(town);
    const day = (at: number) => new Date(at).toISOString().slice(0, 10);
    expect(rows).toEqual([
      { day: day(since), rig_id: "web", role: "polecat", container_ms: midnight - since, dispatches: 1 },
      { day: day(midnight), rig_id: "web", role: "polecat", container_ms: end - midnight, dispatches: 0 },
      { day: "total", rig_id: "web", role: "polecat", container_ms: end - since, dispatches: 1 },
    ]);
    expect((await status(town)).usage.today).toMatchObject({ containerSeconds: (end - midnight) / 1000, dispatches: 0 });
  });
});

/** A town with a budget of a quarter of a container hour a day, warning at half of it. */
const LIMIT = HOUR / 4;
const BUDGETED = { ...SILENT, budget: { containerHoursPerDay: 0.25, warnAt: 0.5 } };

/** Sets the clock to noon of a UTC day, so a test's minutes stay within it (and its containers run into the next). */
async function noon(town: TestTown): Promise<number> {
  const midnight = Math.ceil((await town.stub.testNow()) / DAY) * DAY + DAY;
  await town.stub.testSetTime(midnight + DAY / 2);
  return midnight;
}

/** Runs the alarm at its time until the status says `done`, at most `max` times. */
async function alarmsUntil(town: TestTown, done: (status: any) => boolean, max = 10) {
  for (let i = 0; i < max && !done(await status(town)); i++) await alarms(town);
  expect(done(await status(town)), "the condition holds").toBe(true);
}

/** Runs the alarm at its time, `n` times (the budget's deadlines wake the town at its thresholds). */
async function alarms(town: TestTown, n = 1) {
  for (let i = 0; i < n; i++) {
    const at = await town.stub.testAlarmAt();
    expect(at, "an alarm is set").not.toBeNull();
    if (at! > (await town.stub.testNow())) await town.stub.testSetTime(at!);
    await tick(town);
  }
}

async function sentryAlerts(town: TestTown): Promise<string[]> {
  const events: any[] = await (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json();
  return events.map((e) => e.tags.alert).filter((kind: string) => kind.startsWith("budget"));
}

describe("the budget", () => {
  it("warns at warnAt, pauses the town at the budget with the figures, and resumes it the next UTC day", async () => {
    const town = await createTown(BUDGETED);
    const midnight = await noon(town);
    const { since } = await running(town, "b1");
    expect((await status(town)).usage).toMatchObject({ verdict: "continue", budget: { containerHoursPerDay: 0.25, warnAt: 0.5, onExceeded: "pause" } });
    // The town wakes when the running container reaches half the budget: warn, once.
    await alarms(town);
    expect(await town.stub.testNow()).toBe(since + LIMIT / 2);
    expect((await status(town)).usage.verdict).toBe("warn");
    // And again at the budget: stop, which pauses the town.
    await alarms(town);
    expect(await town.stub.testNow()).toBe(since + LIMIT);
    const stopped = await status(town);
    expect(stopped.usage.verdict).toBe("stop");
    expect(stopped.paused).toMatchObject({ by: "budget" });
    expect(stopped.paused.reason).toContain("0.25 of 0.25 container hours");
    expect(await metric(town, 'town_reconciler_paused{by="budget"')).toEqual([`town_reconciler_paused{by="budget",town="${town.townId}"} 1`]);
    expect(await sentryAlerts(town)).toEqual(["budget_warning", "budget_exhausted"]);

    // Nothing more is dispatched, and explain says why, with the figures and when it lapses.
    await sling(town, { id: "b2", title: "b2" });
    await advance(town, 1_000);
    await tick(town);
    const b2 = await api("GET", `/api/towns/${town.townId}/beads/b2/explain`, { token: TOKENS.read });
    expect(b2.body.status).toBe("open");
    const reason = b2.body.reasons.find((r: any) => r.code === "budget_exhausted");
    expect(reason).toMatchObject({ until: midnight + DAY, command: `POST /api/towns/${town.townId}/resume` });
    expect(reason.message).toMatch(/container hours used on \d{4}-\d\d-\d\d/);

    // The next UTC day the budget's pause lifts on its own (its deadline wakes the town) and b2 goes.
    await alarms(town, 2);
    expect(await town.stub.testNow()).toBeGreaterThanOrEqual(midnight + DAY);
    const next = await status(town);
    expect(next.paused).toBeNull();
    expect(next.usage.day).toBe(new Date(midnight + DAY).toISOString().slice(0, 10));
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b2")).bead.status).toBe("in_progress");
    expect(await sentryAlerts(town), "one warning and one stop that day").toEqual(["budget_warning", "budget_exhausted"]);
  });

  it("with onExceeded warn, only warns at the budget", async () => {
    const town = await createTown({ ...SILENT, budget: { containerHoursPerDay: 0.25, onExceeded: "warn" } });
    await noon(town);
    await running(town, "b1");
    await alarms(town, 2);
    const at = await status(town);
    expect(at.usage).toMatchObject({ verdict: "stop", budget: { warnAt: 0.8, onExceeded: "warn" } });
    expect(at.paused).toBeNull();
    expect(await sentryAlerts(town)).toEqual(["budget_warning", "budget_exhausted"]);
  });

  it("does not lift an operator's pause, neither when it is exhausted nor the next day", async () => {
    const town = await createTown(BUDGETED);
    const midnight = await noon(town);
    await running(town, "b1");
    expect((await admin(town, "POST", "/pause", { reason: "maintenance" })).status).toBe(202);
    await alarmsUntil(town, (s) => s.usage.verdict === "stop");
    expect((await status(town)).paused).toMatchObject({ by: "operator", reason: "maintenance" });
    await town.stub.testSetTime(midnight + DAY + 60_000);
    await town.stub.testWake();
    await tick(town);
    expect((await status(town)).paused).toMatchObject({ by: "operator" });
    expect((await status(town)).usage.verdict).toBe("continue");
  });

  it("lets an operator's resume dispatch for the rest of the day, and holds the next day's budget again", async () => {
    const town = await createTown(BUDGETED);
    const midnight = await noon(town);
    const from = await town.stub.testNow();
    await running(town, "b1");
    await alarms(town, 2);
    expect((await status(town)).paused).toMatchObject({ by: "budget" });
    expect((await admin(town, "POST", "/resume")).status).toBe(202);
    const resumed = await status(town);
    expect(resumed.paused).toBeNull();
    expect(resumed.usage).toMatchObject({ verdict: "stop", waived: true });
    // Today it dispatches past its budget.
    await sling(town, { id: "b2", title: "b2" });
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b2")).bead.status).toBe("in_progress");
    // The next day both containers still run: at the budget (half of it each), the budget pauses it again.
    await town.stub.testSetTime(midnight + DAY);
    await town.stub.testWake();
    await tick(town);
    expect((await status(town)).usage).toMatchObject({ verdict: "continue", waived: false });
    await alarms(town, 2);
    expect((await status(town)).paused).toMatchObject({ by: "budget" });
    expect(await town.stub.testNow()).toBe(midnight + DAY + LIMIT / 2);
    await expectFaithfulReplay(town, from);
  });

  it("is validated: a budget is given whole, in bounds, and null removes it", async () => {
    const town = await createTown(SILENT);
    for (const budget of [
      { containerHoursPerDay: 0 },
      { containerHoursPerDay: 2, warnAt: 2 },
      { warnAt: 0.5 },
      { containerHoursPerDay: 1, onExceeded: "stop" },
    ]) {
      const refused = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { budget } } });
      expect(refused.status, JSON.stringify(budget)).toBe(400);
      expect(refused.body.error.message).toContain("budget");
    }
    const set = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { budget: { containerHoursPerDay: 8 } } } });
    expect(set.status).toBe(200);
    expect(set.body.town.config.budget).toEqual({ containerHoursPerDay: 8, warnAt: 0.8, onExceeded: "pause" });
    const removed = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { budget: null } } });
    expect(removed.body.town.config.budget).toBeNull();
    expect((await status(town)).usage.budget).toBeNull();
  });
});
