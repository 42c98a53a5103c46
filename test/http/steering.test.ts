/**
 * Steering a town (DESIGN §4.6): each command through HTTP — its happy path, the 409 of every status it
 * refuses, the scopes, unknown ids, bad bodies, Idempotency-Key — and what it does to the town over
 * ticks, replayed with zero divergence.
 */
import { describe, expect, it } from "vitest";
import { advance, api, bead, createTown, sendEvents, sling, status, TOKENS, type TestTown, tick, expectFaithfulReplay } from "../support/town";

/** Agents that never report on their own: the tests say what happens. */
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

const admin = (town: TestTown, method: string, path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  api(method, `/api/towns/${town.townId}${path}`, { token: TOKENS.admin, body, headers });
const read = (town: TestTown, path: string) => api("GET", `/api/towns/${town.townId}${path}`, { token: TOKENS.read });

/** Slings `id`, dispatches it, and has its agent report failure: a failed bead, archived. */
async function failedBead(town: TestTown, id: string, reason = "tests failed") {
  await sling(town, { id, title: id });
  await advance(town, 1_000);
  await tick(town);
  const agent = (await bead(town, id)).agent;
  expect(agent, `${id} was dispatched`).not.toBeNull();
  await sendEvents(town, [
    { eventId: `fail-${id}`, type: "agent_completed", agentId: agent.id, payload: { generation: agent.generation, status: "failed", reason } },
  ]);
  await advance(town, 1_000);
  await tick(town);
  expect((await bead(town, id)).bead.status).toBe("failed");
  return agent;
}

describe("retry", () => {
  it("takes a failed bead back to open with its attempts and backoff reset, and it is dispatched again", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await failedBead(town, "b1");
    const retried = await admin(town, "POST", "/beads/b1/retry");
    expect(retried.status).toBe(202);
    expect(retried.body.bead).toMatchObject({ id: "b1", status: "open", dispatchAttempts: 0, lastDispatchAt: null, lastFailure: { code: "agent_failed" } });
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "in_progress", dispatchAttempts: 1 });
    await expectFaithfulReplay(town, from);
  });

  it("answers 409 not_failed for an open, in-progress or closed bead, and changes nothing", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "open", title: "open", held: true });
    await sling(town, { id: "busy", title: "busy" });
    await sling(town, { id: "done", title: "done" });
    await advance(town, 1_000);
    await tick(town);
    await admin(town, "POST", "/beads/done/cancel", { status: "closed" });
    for (const [id, status] of [
      ["open", "open"],
      ["busy", "in_progress"],
      ["done", "closed"],
    ]) {
      const before = await town.stub.testDump();
      const refused = await admin(town, "POST", `/beads/${id}/retry`);
      expect(refused.status, id).toBe(409);
      expect(refused.body.error.code).toBe("not_failed");
      expect(refused.body.error.message).toContain(status);
      expect(await town.stub.testDump()).toBe(before);
    }
  });

  it("is done once per Idempotency-Key: a retried request gets the first answer, another request with the key a 409", async () => {
    const town = await createTown(SILENT);
    await failedBead(town, "b1");
    await failedBead(town, "b2");
    const key = { "idempotency-key": "retry-b1-once" };
    const first = await admin(town, "POST", "/beads/b1/retry", {}, key);
    const again = await admin(town, "POST", "/beads/b1/retry", {}, key);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    const other = await admin(town, "POST", "/beads/b2/retry", {}, key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("idempotency_key_reused");
    // Without the key the second retry is refused: the bead is not failed any more.
    expect((await admin(town, "POST", "/beads/b1/retry")).body.error.code).toBe("not_failed");
  });
});

describe("hold and release", () => {
  it("keep a bead from dispatch and let it go: a released bead is dispatched at the next tick", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await sling(town, { id: "b1", title: "b1" });
    const held = await admin(town, "POST", "/beads/b1/hold", { reason: "waiting for the design" });
    expect(held.status).toBe(202);
    expect(held.body.bead.held).toBe(true);
    // Holding a held bead answers the same.
    expect((await admin(town, "POST", "/beads/b1/hold")).body.bead.held).toBe(true);
    await advance(town, 60_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("open");
    const explained = (await read(town, "/beads/b1/explain")).body;
    expect(explained.reasons).toContainEqual(expect.objectContaining({ code: "held", command: `POST /api/towns/${town.townId}/beads/b1/release` }));

    const released = await admin(town, "POST", "/beads/b1/release");
    expect(released.status).toBe(202);
    expect(released.body.bead.held).toBe(false);
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    await expectFaithfulReplay(town, from);
  });

  it("refuse what they cannot do: 409 not_held, 409 bead_finished", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1" });
    await failedBead(town, "failed");
    expect((await admin(town, "POST", "/beads/b1/release")).body.error.code).toBe("not_held");
    expect((await admin(town, "POST", "/beads/failed/hold")).body.error.code).toBe("bead_finished");
    expect((await admin(town, "POST", "/beads/failed/release")).body.error.code).toBe("bead_finished");
  });
});

describe("requeue", () => {
  it("takes a bead in progress back to open with its attempts unchanged, and stops its container first", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await sling(town, { id: "b1", title: "b1" });
    await advance(town, 1_000);
    await tick(town);
    const agent = (await bead(town, "b1")).agent;
    const requeued = await admin(town, "POST", "/beads/b1/requeue", { reason: "its agent is wedged" });
    expect(requeued.status).toBe(202);
    expect(requeued.body.bead).toMatchObject({ status: "open", dispatchAttempts: 1, assignee: null });
    expect((await status(town)).owedStops.list).toEqual([expect.objectContaining({ agentId: agent.id, generation: agent.generation, beadId: "b1" })]);
    // The stop is asked for and confirmed (simulated service); then the bead goes out again.
    for (let i = 0; i < 5; i++) {
      await advance(town, 15_000);
      await tick(town);
    }
    expect((await status(town)).owedStops.count).toBe(0);
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "in_progress", dispatchAttempts: 2 });
    await expectFaithfulReplay(town, from);
  });

  it("answers 409 not_in_progress for a bead that is not in progress", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1", held: true });
    const refused = await admin(town, "POST", "/beads/b1/requeue");
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("not_in_progress");
  });
});

describe("edit", () => {
  it("changes the title, body, priority and blockers of an unfinished bead; the next dispatch takes them", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await sling(town, { id: "first", title: "first", held: true });
    await sling(town, { id: "b1", title: "old title", priority: 3 });
    const edited = await admin(town, "PATCH", "/beads/b1", { title: "new title", body: "the new body", priority: 0, blockedBy: ["first"] });
    expect(edited.status).toBe(200);
    expect(edited.body.bead).toMatchObject({ title: "new title", priority: 0, blockedBy: ["first"] });
    const shown = await bead(town, "b1");
    expect(shown.bead.body).toBe("the new body");
    expect(shown.blockers).toEqual([{ id: "first", status: "open" }]);
    await advance(town, 1_000);
    await tick(town);
    // Blocked now: not dispatched.
    expect((await bead(town, "b1")).bead.status).toBe("open");
    await admin(town, "PATCH", "/beads/b1", { blockedBy: [] });
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    await expectFaithfulReplay(town, from);
  });

  it("refuses a cycle (400 dependency_cycle), an unknown blocker (400), an empty edit (400) and a finished bead (409)", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "a", title: "a", held: true });
    await sling(town, { id: "b", title: "b", blockedBy: ["a"] });
    await failedBead(town, "gone");
    const before = await town.stub.testDump();
    const cycle = await admin(town, "PATCH", "/beads/a", { blockedBy: ["b"] });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error).toMatchObject({ code: "dependency_cycle", message: expect.stringContaining("a → b → a") });
    expect((await admin(town, "PATCH", "/beads/a", { blockedBy: ["a"] })).body.error.code).toBe("dependency_cycle");
    expect((await admin(town, "PATCH", "/beads/a", { blockedBy: ["nope"] })).status).toBe(400);
    expect((await admin(town, "PATCH", "/beads/a", {})).status).toBe(400);
    expect((await admin(town, "PATCH", "/beads/a", { priority: 9 })).status).toBe(400);
    expect((await admin(town, "PATCH", "/beads/gone", { title: "x" })).body.error.code).toBe("bead_finished");
    expect(await town.stub.testDump()).toBe(before);
  });
});

describe("a failed bead says why", () => {
  it("for each way a bead fails: attempts exhausted, its agent reported failure, cancelled", async () => {
    const town = await createTown({ ...SILENT, maxDispatchAttempts: 1 });
    const agent = await failedBead(town, "reported", "the build broke");
    expect((await bead(town, "reported")).bead.lastFailure).toMatchObject({
      code: "agent_failed",
      message: "the build broke",
      agentId: agent.id,
      generation: agent.generation,
      rule: null,
      at: expect.any(Number),
    });

    await sling(town, { id: "cancelled", title: "cancelled" });
    await admin(town, "POST", "/beads/cancelled/cancel", { status: "failed", reason: "not wanted" });
    expect((await bead(town, "cancelled")).bead.lastFailure).toMatchObject({ code: "cancelled", message: "not wanted" });

    // One attempt allowed: requeued after its first, it is out of attempts and the next tick fails it.
    await sling(town, { id: "exhausted", title: "exhausted" });
    await advance(town, 1_000);
    await tick(town);
    await admin(town, "POST", "/beads/exhausted/requeue");
    await advance(town, 1_000);
    await tick(town);
    const exhausted = (await bead(town, "exhausted")).bead;
    expect(exhausted.status).toBe("failed");
    expect(exhausted.lastFailure).toMatchObject({ code: "attempts_exhausted", rule: "beads.exhaustAttempts" });

    // Explain and the status page's failed list say it too.
    expect((await read(town, "/beads/reported/explain")).body.reasons[0]).toMatchObject({
      code: "failed",
      message: expect.stringContaining("the build broke"),
      command: `POST /api/towns/${town.townId}/beads/reported/retry`,
    });
  });
});

describe("bulk", () => {
  it("retries 2,500 failed beads in three calls of at most 1,000, saying each time whether more match", async () => {
    const town = await createTown(SILENT);
    // 2,500 beads cancelled as failed, a thousand to a call.
    for (let i = 0; i < 2_500; i++)
      await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { id: `f${i}`, rigId: "web", title: `f${i}`, held: true } });
    for (let call = 0; call < 3; call++) {
      const cancelled = await admin(town, "POST", "/beads/bulk", { action: "cancel", filter: { rig: "web" } });
      expect(cancelled.status).toBe(202);
    }
    expect((await status(town)).beads.failed).toBe(2_500);

    const calls = [];
    for (let call = 0; call < 3; call++) calls.push((await admin(town, "POST", "/beads/bulk", { action: "retry", filter: { status: "failed" } })).body);
    expect(calls.map((c) => [c.matched, c.applied, c.skipped.length, c.more])).toEqual([
      [1_000, 1_000, 0, true],
      [1_000, 1_000, 0, true],
      [500, 500, 0, false],
    ]);
    const counts = await status(town);
    expect(counts.beads.failed).toBe(0);
    expect(counts.beads.open).toBe(2_500);
  });

  it("skips what does not fit with the code its own route would answer, and applies the rest", async () => {
    const town = await createTown(SILENT);
    await failedBead(town, "failed");
    await sling(town, { id: "open", title: "open" });
    const result = await admin(town, "POST", "/beads/bulk", { action: "retry", filter: { ids: ["failed", "open", "missing"] } });
    expect(result.status).toBe(202);
    expect(result.body).toEqual({
      matched: 2,
      applied: 1,
      skipped: expect.arrayContaining([
        { id: "missing", code: "bead_not_found" },
        { id: "open", code: "not_failed" },
      ]),
      more: false,
    });
    expect((await bead(town, "failed")).bead.status).toBe("open");
  });

  it("refuses an empty filter, an unknown action and too many ids (400), and changes nothing", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1" });
    const before = await town.stub.testDump();
    for (const body of [
      { action: "retry", filter: {} },
      { action: "explode", filter: { status: "failed" } },
      { action: "hold", filter: { ids: Array.from({ length: 1_001 }, (_, i) => `b${i}`) } },
      { action: "hold", filter: { status: "sideways" } },
    ]) {
      const refused = await admin(town, "POST", "/beads/bulk", body);
      expect(refused.status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
    expect(await town.stub.testDump()).toBe(before);
  });
});

describe("deleting a rig", () => {
  it("is refused while the rig has unfinished work (409 rig_has_live_work), and with cancel=true cancels it and stops its agents", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await sling(town, { id: "b1", title: "b1" });
    await advance(town, 1_000);
    await tick(town);
    const refused = await api("DELETE", `/api/towns/${town.townId}/rigs/web`, { token: TOKENS.admin });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("rig_has_live_work");
    const deleted = await api("DELETE", `/api/towns/${town.townId}/rigs/web?cancel=true`, { token: TOKENS.admin });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: "web", cancelled: ["b1"] });
    expect((await read(town, "/rigs")).body.rigs).toEqual([]);
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "failed", lastFailure: { code: "cancelled" } });
    expect((await status(town)).owedStops.count).toBe(1);
    // Added again, the rig counts its agents on: no agent id is reused.
    await api("POST", `/api/towns/${town.townId}/rigs`, { token: TOKENS.admin, body: { id: "web", name: "web", gitUrl: "https://git.test/web.git" } });
    await sling(town, { id: "b2", title: "b2" });
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b2")).bead.assignee).toBe("web:polecat:2");
    await expectFaithfulReplay(town, from);
  });

  it("answers 404 for an unknown rig", async () => {
    const town = await createTown(SILENT);
    const missing = await api("DELETE", `/api/towns/${town.townId}/rigs/nope`, { token: TOKENS.admin });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("rig_not_found");
  });
});

describe("pause and resume", () => {
  it("stop every dispatch for an hour while callbacks still apply; resumed, the town dispatches within one tick", async () => {
    const town = await createTown(SILENT);
    const from = await town.stub.testNow();
    await sling(town, { id: "working", title: "working" });
    await advance(town, 1_000);
    await tick(town);
    const agent = (await bead(town, "working")).agent;
    const paused = await admin(town, "POST", "/pause", { reason: "incident 42" });
    expect(paused.status).toBe(202);
    expect(paused.body.paused).toEqual({ at: expect.any(Number), by: "operator", reason: "incident 42" });
    // Pausing a paused town answers the same pause.
    expect((await admin(town, "POST", "/pause", { reason: "again" })).body).toEqual(paused.body);
    await sling(town, { id: "waiting", title: "waiting" });

    // An hour of ticks: the running agent's report is applied, nothing new is dispatched, invariant 11 stays quiet.
    await sendEvents(town, [{ eventId: "done", type: "agent_done", agentId: agent.id, payload: { generation: agent.generation, branch: "feat/working" } }]);
    for (let minute = 0; minute < 60; minute += 5) {
      await advance(town, 5 * 60_000);
      await town.stub.testWake();
      await tick(town);
    }
    const during = await status(town);
    expect(during.paused).toMatchObject({ by: "operator", reason: "incident 42" });
    expect(during.beads.in_progress).toBe(0);
    expect((await bead(town, "working")).bead.status).toBe("in_review");
    expect((await bead(town, "waiting")).bead.status).toBe("open");
    expect(during.violations.list.map((v: any) => v.invariant)).not.toContain(11);
    const metrics = (await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true })).body;
    expect(metrics).toContain(`town_reconciler_paused{by="operator",town="${town.townId}"} 1`);
    expect((await read(town, "/beads/waiting/explain")).body.reasons).toContainEqual(
      expect.objectContaining({ code: "town_paused", command: `POST /api/towns/${town.townId}/resume` }),
    );

    const resumed = await admin(town, "POST", "/resume");
    expect(resumed.status).toBe(202);
    expect(resumed.body).toEqual({ paused: null });
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "waiting")).bead.status).toBe("in_progress");
    expect((await status(town)).paused).toBeNull();
    await expectFaithfulReplay(town, from);
  });
});

describe("scopes and bad input on every steering route", () => {
  const routes: Array<[string, string, unknown]> = [
    ["POST", "/beads/b1/retry", {}],
    ["POST", "/beads/b1/hold", {}],
    ["POST", "/beads/b1/release", {}],
    ["POST", "/beads/b1/requeue", {}],
    ["PATCH", "/beads/b1", { title: "t" }],
    ["POST", "/beads/bulk", { action: "hold", filter: { status: "open" } }],
    ["DELETE", "/rigs/web", undefined],
    ["POST", "/pause", { reason: "r" }],
    ["POST", "/resume", {}],
  ];

  it("refuse the read, debug and agent tokens (403) and no token (401), changing nothing", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1" });
    const before = await town.stub.testDump();
    for (const [method, path, body] of routes) {
      for (const token of [TOKENS.read, TOKENS.debug, town.agentToken]) {
        const refused = await api(method, `/api/towns/${town.townId}${path}`, { token, body });
        expect(refused.status, `${method} ${path}`).toBe(403);
      }
      expect((await api(method, `/api/towns/${town.townId}${path}`, { body })).status).toBe(401);
    }
    expect(await town.stub.testDump()).toBe(before);
  });

  it("answer 404 for an unknown bead or town before a bad body, and 400 for malformed JSON", async () => {
    const town = await createTown(SILENT);
    for (const path of ["/beads/nope/retry", "/beads/nope/hold", "/beads/nope/release", "/beads/nope/requeue"]) {
      const missing = await admin(town, "POST", path, "{not json");
      expect(missing.status, path).toBe(404);
      expect(missing.body.error.code).toBe("bead_not_found");
    }
    expect((await admin(town, "PATCH", "/beads/nope", { title: 5 })).status).toBe(404);
    expect((await api("POST", "/api/towns/no-such-town/pause", { token: TOKENS.admin, body: { reason: "r" } })).status).toBe(404);
    await sling(town, { id: "b1", title: "b1" });
    expect((await admin(town, "POST", "/beads/b1/hold", "{not json")).status).toBe(400);
    expect((await admin(town, "POST", "/pause", {})).status).toBe(400);
    expect((await admin(town, "POST", "/beads/b1/hold", { reason: "x".repeat(3_000) })).status).toBe(400);
  });
});
