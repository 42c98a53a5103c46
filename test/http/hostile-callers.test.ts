import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { advance, api, bead, createTown, sendEvents, sling, status, tick, TOKENS } from "../support/town";

/** Agents that do not finish on their own: the tests send every callback. */
const MANUAL = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

const expectError = (response: { status: number; body: any }, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
};

describe("event ids a client sends", () => {
  it("cannot block an admin command: an agent's event named like the town's own cancel", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const sent = await sendEvents(town, [
      { eventId: "cancel:b1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } },
    ]);
    expect(sent.status).toBe(202);
    const cancelled = await api("POST", `/api/towns/${town.townId}/beads/b1/cancel`, { token: TOKENS.admin, body: { status: "failed" } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(202);
    expect(cancelled.body.bead.status).toBe("failed");
  });

  it("cannot swallow a dispatch result: an agent's event named like the town's own result", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // The agent gives the bead back; it is dispatched again (generation 2) once the backoff is over.
    await sendEvents(town, [{ eventId: "back", type: "agent_completed", agentId: "web:polecat:1", payload: { generation: 1, status: "completed" } }]);
    await advance(town, 1_000);
    await tick(town);
    // A client uses the id the town will give generation 2's dispatch result.
    const hostile = await sendEvents(town, [
      { eventId: "result:web:polecat:1@2:dispatch", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "exited" } },
    ]);
    expect(hostile.status).toBe(202);
    await advance(town, 60_000);
    await tick(town);
    expect((await bead(town, "b1")).agent).toMatchObject({ generation: 2 });
    const results = await runInDurableObject(
      town.stub,
      (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE type = 'dispatch_result'").one().n,
    );
    expect(results).toBe(2);
  });

  it("stays idempotent within the client's own ids: a repeat is a duplicate, a reuse with other content a conflict", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const event = { eventId: "e-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "starting" } };
    expect((await sendEvents(town, [event])).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await sendEvents(town, [event])).body).toEqual({ accepted: 0, duplicates: 1 });
    expectError(await sendEvents(town, [{ ...event, payload: { generation: 1, status: "exited" } }]), 409, "event_conflict");
    // The log shows the id as the client sent it.
    const listed = await api("GET", `/api/towns/${town.townId}/debug/events?status=pending`, { token: TOKENS.debug });
    expect(listed.body.events.map((e: any) => e.eventId)).toContain("e-1");
  });
});

describe("agent callbacks", () => {
  it("must name their generation (400 without it), for every callback type", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    for (const event of [
      { eventId: "d", type: "agent_done", agentId: "web:polecat:1", payload: { branch: "feat/x" } },
      { eventId: "c", type: "agent_completed", agentId: "web:polecat:1", payload: { status: "failed" } },
      { eventId: "s", type: "container_status", agentId: "web:polecat:1", payload: { status: "exited" } },
    ]) {
      const response = await sendEvents(town, [event]);
      expectError(response, 400, "invalid_request");
      expect(response.body.error.message).toContain("generation");
    }
    // Nothing was applied: the bead is still in progress with its agent.
    await advance(town, 1_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_progress");
    expect((await status(town)).queue.pending).toBe(0);
  });
});
