import { describe, expect, it } from "vitest";
import { api, createTown, heartbeat, sendEvents, sling, status, tick, TOKENS, uniqueTownId } from "../support/town";

describe("health and request ids", () => {
  it("answers /health without a token and tags every response with a request id", async () => {
    const response = await api("GET", "/health");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "ok" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("echoes a caller's X-Request-ID, also on errors", async () => {
    const response = await api("GET", "/api/towns", { headers: { "x-request-id": "trace-42" } });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-request-id")).toBe("trace-42");
  });

  it("answers an unknown route with 404 and the error shape", async () => {
    const response = await api("GET", "/api/nowhere");
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("route_not_found");
  });
});

describe("tokens", () => {
  it("calls a missing Authorization header missing_token, and one that does not parse invalid_token", async () => {
    const missing = await api("GET", "/api/towns");
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe("missing_token");
    // The README's placeholder pasted unchanged: credentials were sent, they are just not a token.
    const placeholder = await api("GET", "/api/towns", { headers: { authorization: "Bearer <agentToken from step 1>" } });
    expect(placeholder.status).toBe(401);
    expect(placeholder.body.error).toEqual({ code: "invalid_token", message: expect.stringContaining("Bearer <token>") });
    // The same token, well formed, is accepted.
    expect((await api("GET", "/api/towns", { headers: { authorization: `Bearer ${TOKENS.read}` } })).status).toBe(200);
  });

  it("says which token a route needs, in plain English", async () => {
    const wrongScope = await api("PUT", `/api/towns/${uniqueTownId()}`, { token: TOKENS.read, body: {} });
    expect(wrongScope.status).toBe(403);
    expect(wrongScope.body.error.message).toBe("this route needs an admin token; the token sent is a read token");
    expect((await api("PUT", `/api/towns/${uniqueTownId()}`, { body: {} })).body.error.message).toContain("with an admin token");
  });
});

describe("towns", () => {
  it("creates a town once, returning its agent token only then, and reconfigures it after", async () => {
    const townId = uniqueTownId();
    const created = await api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: { config: { maxPolecatsPerRig: 2 } } });
    expect(created.status).toBe(201);
    expect(created.body.agentToken).toMatch(new RegExp(`^${townId}\\.[A-Za-z0-9_-]{43}$`));
    expect(created.body.town.config.maxPolecatsPerRig).toBe(2);

    const again = await api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: { config: { breaker: { cooldownMs: 5_000 } } } });
    expect(again.status).toBe(200);
    expect(again.body.agentToken).toBeUndefined();
    expect(again.body.town.overrides).toEqual({ maxPolecatsPerRig: 2, breaker: { cooldownMs: 5_000 } });
    expect(again.body.town.config.breaker).toEqual({ failureThreshold: 5, windowMs: 300_000, cooldownMs: 5_000 });

    const list = await api("GET", "/api/towns", { token: TOKENS.read });
    expect(list.body.towns).toContainEqual({ id: townId, createdAt: created.body.town.createdAt });
  });

  it("refuses a config it cannot take with 400 naming what is wrong, for a new town as for an existing one", async () => {
    const existing = await createTown();
    for (const townId of [uniqueTownId("new"), existing.townId]) {
      for (const [config, named] of [
        [{ nosuchkey: 1 }, "nosuchkey"],
        [{ maxPolecatsPerRig: 0 }, "maxPolecatsPerRig"],
      ] as const) {
        const refused = await api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: { config } });
        expect(refused.status, `${townId} ${named}`).toBe(400);
        expect(refused.body.error).toMatchObject({ code: "invalid_request", message: expect.stringContaining(named) });
      }
    }
    // The new town was not created by the refused requests.
    const list = (await api("GET", "/api/towns", { token: TOKENS.read })).body.towns.map((t: { id: string }) => t.id);
    expect(list.filter((id: string) => id.startsWith("new-"))).toEqual([]);
  });
});

describe("rigs, beads and convoys", () => {
  it("treats a repeated create with the same content as a no-op (200) and different content as a conflict (409)", async () => {
    const town = await createTown({}, { rig: false });
    const rig = { id: "api", name: "api", gitUrl: "https://git.test/api.git" };
    expect((await api("POST", `/api/towns/${town.townId}/rigs`, { token: TOKENS.admin, body: rig })).status).toBe(201);
    expect((await api("POST", `/api/towns/${town.townId}/rigs`, { token: TOKENS.admin, body: rig })).status).toBe(200);
    const conflict = await api("POST", `/api/towns/${town.townId}/rigs`, { token: TOKENS.admin, body: { ...rig, gitUrl: "https://elsewhere" } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("rig_exists");

    const bead = { id: "b1", rigId: "api", title: "Task", body: "Details", priority: 1 };
    expect((await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: bead })).status).toBe(201);
    expect((await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: bead })).status).toBe(200);
    const beadConflict = await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { ...bead, body: "Other" } });
    expect(beadConflict.status).toBe(409);
  });

  it("reads a bead with its body, blockers and agent", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    await sling(town, { id: "first", title: "First", body: "Do the first thing" });
    await sling(town, { id: "second", title: "Second", blockedBy: ["first"] });
    await tick(town);
    const first = await api("GET", `/api/towns/${town.townId}/beads/first`, { token: TOKENS.read });
    expect(first.body.bead).toMatchObject({ id: "first", status: "in_progress", body: "Do the first thing", assignee: "web:polecat:1" });
    expect(first.body.agent).toMatchObject({ id: "web:polecat:1", status: "working" });
    const second = await api("GET", `/api/towns/${town.townId}/beads/second`, { token: TOKENS.read });
    expect(second.body.blockers).toEqual([{ id: "first", status: "in_progress" }]);
    expect(second.body.bead.status).toBe("open");
  });

  it("groups beads in a convoy that closes when they are done", async () => {
    const town = await createTown();
    await sling(town, { id: "a", title: "A" });
    const created = await api("POST", `/api/towns/${town.townId}/convoys`, { token: TOKENS.admin, body: { id: "release", title: "Release", beadIds: ["a"] } });
    expect(created.status).toBe(201);
    expect(created.body.convoy).toMatchObject({ id: "release", type: "convoy", status: "open", tracked: ["a"] });
    await api("POST", `/api/towns/${town.townId}/beads/a/cancel`, { token: TOKENS.admin, body: { status: "closed" } });
    await tick(town);
    const convoy = await api("GET", `/api/towns/${town.townId}/beads/release`, { token: TOKENS.read });
    expect(convoy.body.bead.status).toBe("closed");
    expect(convoy.body.tracked).toEqual([{ id: "a", status: "closed" }]);
  });

  it("cancels a bead (202), stops its agent on the next tick, and refuses to cancel it twice (409)", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Doomed" });
    await tick(town);
    const cancelled = await api("POST", `/api/towns/${town.townId}/beads/b1/cancel`, { token: TOKENS.admin, body: {} });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.bead.status).toBe("failed");
    await tick(town);
    expect((await status(town)).lastTick.actionsByRule).toMatchObject({ "agents.stopOrphaned": 1 });
    expect((await status(town)).agents.working).toBe(0);
    const again = await api("POST", `/api/towns/${town.townId}/beads/b1/cancel`, { token: TOKENS.admin, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("bead_finished");
  });

  it("answers a cancel with the bead's blockers, as GET shows them afterwards", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    await sling(town, { id: "first", title: "First" });
    await sling(town, { id: "later", title: "After first", blockedBy: ["first"] });
    const cancelled = await api("POST", `/api/towns/${town.townId}/beads/later/cancel`, { token: TOKENS.admin, body: { status: "closed" } });
    expect(cancelled.body.bead).toMatchObject({ status: "closed", blockedBy: ["first"] });
    const read = await api("GET", `/api/towns/${town.townId}/beads/later`, { token: TOKENS.read });
    expect(read.body.bead.blockedBy).toEqual(cancelled.body.bead.blockedBy);
  });
});

describe("agent callbacks", () => {
  it("acknowledges a repeated event as a duplicate and rejects an event id reused for different content", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const event = { eventId: "evt-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } };
    expect((await sendEvents(town, [event])).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await sendEvents(town, [event, event])).body).toEqual({ accepted: 0, duplicates: 2 });
    const before = await town.stub.testDump();
    const reused = await sendEvents(town, [
      { ...event, eventId: "evt-2" },
      { ...event, payload: { generation: 1, status: "exited" } },
    ]);
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe("event_conflict");
    expect(await town.stub.testDump()).toBe(before);
  });

  it("turns only meaningful container observations into events", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    await tick(town);
    const pending = async () => (await status(town)).queue.pending;
    expect(await pending()).toBe(0);
    // The first report is a change (nothing observed before); the next nine identical ones are not.
    for (let i = 0; i < 10; i++) expect((await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "running" })).status).toBe(204);
    expect(await pending()).toBe(1);
    // A failure status is always worth an event while the agent is live.
    await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "exited" });
    expect(await pending()).toBe(2);
  });

  it("rejects a heartbeat from a stale generation (409)", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const stale = await heartbeat(town, "web:polecat:1", { generation: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("stale_generation");
  });
});
