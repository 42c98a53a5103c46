import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { eventRow, seed } from "../support/seed";
import type { TownRegistry as TestTownRegistry } from "../support/test-worker";
import { advance, api, createTown, sendEvents, sling, status, tick, TOKENS, uniqueTownId, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const errorLogs = captureErrorLogs();

const expectError = (response: { status: number; body: any }, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
};
const townsListed = async () => ((await api("GET", "/api/towns", { token: TOKENS.read })).body.towns as Array<{ id: string }>).map((t) => t.id);
const bindings = env as unknown as { REGISTRY: DurableObjectNamespace; TOWN: DurableObjectNamespace };
const registry = () => bindings.REGISTRY.getByName("registry") as unknown as DurableObjectStub<TestTownRegistry>;

/** A town with one dead-lettered event (an unparsable row, one attempt allowed). */
async function townWithDeadLetter(): Promise<{ town: TestTown; seq: number }> {
  const town = await createTown({ maxEventAttempts: 1, simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
  await seed(town, [eventRow("poison")]);
  await advance(town, 1_000);
  await tick(town);
  const dead = await api("GET", `/api/towns/${town.townId}/debug/events?status=dead`, { token: TOKENS.debug });
  expect(dead.body.count).toBe(1);
  return { town, seq: dead.body.events[0].seq };
}

describe("DELETE /api/towns/:townId", () => {
  it("deletes the town: every route answers 404, it leaves the town list, and the id makes a new, empty town", async () => {
    const town = await createTown();
    await sling(town, { id: "b1", title: "Work" });
    expect(await townsListed()).toContain(town.townId);

    const deleted = await api("DELETE", `/api/towns/${town.townId}`, { token: TOKENS.admin });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: town.townId });
    expect(await townsListed()).not.toContain(town.townId);
    expect(await town.stub.testAlarmAt()).toBeNull();
    for (const [method, path, token] of [
      ["GET", "/status", TOKENS.read],
      ["GET", "/beads/b1", TOKENS.read],
      ["GET", "/metrics", TOKENS.read],
      ["GET", "/ticks", TOKENS.read],
      ["POST", "/debug/reconcile-dry-run", TOKENS.debug],
      ["DELETE", "", TOKENS.admin],
    ] as const) {
      expectError(await api(method, `/api/towns/${town.townId}${path}`, { token, ...(method === "POST" ? { body: {} } : {}) }), 404, "town_not_found");
    }
    // Its agent token is now just not valid: refused as any made-up token is, saying nothing of the town.
    expectError(
      await sendEvents(town, [{ eventId: "e1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } }]),
      401,
      "invalid_token",
    );

    const again = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: {} });
    expect(again.status).toBe(201);
    expect(again.body.agentToken).not.toBe(town.agentToken);
    expect((await status(town)).beads).toMatchObject({ open: 0, closed: 0 });
    expect((await api("GET", `/api/towns/${town.townId}/beads/b1`, { token: TOKENS.read })).status).toBe(404);
    expect(await townsListed()).toContain(town.townId);
  });

  it("needs the admin token (403 for read and debug tokens) and answers 404 for an unknown town", async () => {
    const town = await createTown();
    expectError(await api("DELETE", `/api/towns/${town.townId}`, { token: TOKENS.read }), 403, "insufficient_scope");
    expectError(await api("DELETE", `/api/towns/${town.townId}`, { token: TOKENS.debug }), 403, "insufficient_scope");
    expectError(await api("DELETE", `/api/towns/${town.townId}`, { token: town.agentToken }), 403, "insufficient_scope");
    expectError(await api("DELETE", `/api/towns/${uniqueTownId("missing")}`, { token: TOKENS.admin }), 404, "town_not_found");
    expect((await status(town)).townId).toBe(town.townId);
  });
});

describe("POST /api/towns/:townId/agent-token", () => {
  it("returns a new agent token once; the old one is refused from then on", async () => {
    const town = await createTown();
    const event = (id: string) => [{ eventId: id, type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } }];
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const rotated = await api("POST", `/api/towns/${town.townId}/agent-token`, { token: TOKENS.admin, body: {} });
    expect(rotated.status).toBe(201);
    expect(rotated.body.agentToken).toMatch(new RegExp(`^${town.townId}\\.`));
    expectError(await sendEvents(town, event("old")), 401, "invalid_token");
    const fresh = await api("POST", `/api/towns/${town.townId}/events`, { token: rotated.body.agentToken, body: { events: event("new") } });
    expect(fresh.status).toBe(202);
  });

  it("needs the admin token and answers 404 for an unknown town", async () => {
    const town = await createTown();
    expectError(await api("POST", `/api/towns/${town.townId}/agent-token`, { token: TOKENS.debug, body: {} }), 403, "insufficient_scope");
    expectError(await api("POST", `/api/towns/${town.townId}/agent-token`, { token: town.agentToken, body: {} }), 403, "insufficient_scope");
    expectError(await api("POST", `/api/towns/${uniqueTownId("missing")}/agent-token`, { token: TOKENS.admin, body: {} }), 404, "town_not_found");
    // The token in use still works: nothing was rotated.
    expect(
      (await sendEvents(town, [{ eventId: "e", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } }])).status,
    ).not.toBe(401);
  });
});

describe("dead letters: retry and discard", () => {
  it("retries a dead letter (back in the queue, attempts reset) and discards one for good; invariant 9 resolves", async () => {
    const { town, seq } = await townWithDeadLetter();
    expect((await status(town)).violations.list.map((v: any) => v.invariant)).toContain(9);

    const retried = await api("POST", `/api/towns/${town.townId}/debug/events/${seq}/retry`, { token: TOKENS.admin, body: {} });
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ seq, status: "pending" });
    expect((await status(town)).queue).toMatchObject({ pending: 1, dead: 0 });
    // Still unparsable: the next tick dead-letters it again.
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).queue).toMatchObject({ pending: 0, dead: 1 });

    const discarded = await api("POST", `/api/towns/${town.townId}/debug/events/${seq}/discard`, { token: TOKENS.admin, body: {} });
    expect(discarded.status).toBe(200);
    expect(discarded.body).toEqual({ seq, status: "discarded" });
    await advance(town, 1_000);
    await tick(town);
    const after = await status(town);
    expect(after.queue).toMatchObject({ pending: 0, dead: 0 });
    expect(after.violations.list.map((v: any) => v.invariant)).not.toContain(9);
    // Both acts are in the event log, where replay finds them.
    const logged = await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql
        .exec<{ type: string }>("SELECT type FROM town_events WHERE type LIKE 'dead_letter_%' ORDER BY seq")
        .toArray()
        .map((r) => r.type),
    );
    expect(logged).toEqual(["dead_letter_retried", "dead_letter_discarded"]);
    errorLogs.expect("event dead-lettered");
  });

  it("answers 404 for an unknown seq, 409 for an event that is not dead, 403 for a debug token, 404 for an unknown town", async () => {
    const { town, seq } = await townWithDeadLetter();
    for (const act of ["retry", "discard"]) {
      const path = (s: number | string) => `/api/towns/${town.townId}/debug/events/${s}/${act}`;
      expectError(await api("POST", path(999_999), { token: TOKENS.admin, body: {} }), 404, "event_not_found");
      expectError(await api("POST", path(1), { token: TOKENS.admin, body: {} }), 409, "event_not_dead");
      expectError(await api("POST", path(seq), { token: TOKENS.debug, body: {} }), 403, "insufficient_scope");
      expectError(await api("POST", path("0"), { token: TOKENS.admin, body: {} }), 400, "invalid_request");
      expectError(await api("POST", path("x"), { token: TOKENS.admin, body: {} }), 400, "invalid_request");
      expectError(
        await api("POST", `/api/towns/${uniqueTownId("missing")}/debug/events/${seq}/${act}`, { token: TOKENS.admin, body: {} }),
        404,
        "town_not_found",
      );
    }
    // None of that touched the dead letter.
    expect((await status(town)).queue.dead).toBe(1);
    errorLogs.expect("event dead-lettered");
  });
});

describe("creating a town", () => {
  it("never loses the agent token: if the town list cannot be reached, the town answers 201 and registers later", async () => {
    await registry().testFailRegistrations(1);
    const townId = uniqueTownId();
    const created = await api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: {} });
    expect(created.status).toBe(201);
    expect(created.body.agentToken).toMatch(new RegExp(`^${townId}\\.`));
    expect(await townsListed()).not.toContain(townId);
    // The town's alarm tries again.
    const town = { townId, agentToken: created.body.agentToken, stub: bindings.TOWN.getByName(townId) } as unknown as TestTown;
    await advance(town, 1_000);
    await tick(town);
    expect(await townsListed()).toContain(townId);
    errorLogs.expect("could not register the town");
  });
});
