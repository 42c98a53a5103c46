import { describe, expect, it } from "vitest";
import { api, createTown, heartbeat, sendEvents, sling, tick, TOKENS } from "../support/town";

/** One town's tokens and ids can never read or change another town. */
describe("isolation between towns", () => {
  it("keeps each town's agent token, ids and data to itself", async () => {
    const a = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    const b = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    await sling(a, { id: "secret-a", title: "A's work", body: "A's private body" });
    await tick(a);
    await sling(b, { id: "work-b", title: "B's work" });
    await tick(b);
    const beforeB = await b.stub.testDump();

    // A's agent token is refused everywhere in B.
    expect(
      (
        await sendEvents({ ...b, agentToken: a.agentToken }, [
          { eventId: "x", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "x" } },
        ])
      ).status,
    ).toBe(403);
    expect((await heartbeat({ ...b, agentToken: a.agentToken }, "web:polecat:1", { generation: 1 })).status).toBe(403);
    // An agent token is not an operator token: the wrong scope for B's reads, and no door into B's data.
    for (const path of ["status", "ticks", "metrics", "beads/work-b"]) {
      const refused = await api("GET", `/api/towns/${b.townId}/${path}`, { token: a.agentToken });
      expect(refused.status, path).toBe(403);
      expect(JSON.stringify(refused.body)).not.toContain("work-b");
    }
    // A's ids mean nothing in B: not found, never A's data.
    const lookup = await api("GET", `/api/towns/${b.townId}/beads/secret-a`, { token: TOKENS.read });
    expect(lookup.status).toBe(404);
    expect(JSON.stringify(lookup.body)).not.toContain("private body");
    const cancel = await api("POST", `/api/towns/${b.townId}/beads/secret-a/cancel`, { token: TOKENS.admin, body: {} });
    expect(cancel.status).toBe(404);
    // B's own agent ids with A's token, and A's ids with B's token.
    expect((await sendEvents(a, [{ eventId: "y", type: "agent_done", agentId: "ghost-of-b", payload: { generation: 1, branch: "y" } }])).status).toBe(404);
    expect(await b.stub.testDump()).toBe(beforeB);

    // Each town's storage holds only its own rows, and its status only its own numbers.
    expect(await b.stub.testDump()).not.toContain("secret-a");
    expect(await a.stub.testDump()).not.toContain("work-b");
    const statusB = (await api("GET", `/api/towns/${b.townId}/status`, { token: TOKENS.read })).body;
    expect(statusB.townId).toBe(b.townId);
    expect(statusB.beadsByType.issue).toBe(1);
  });

  it("refuses a token shaped like another town's even if the secret part is right", async () => {
    const a = await createTown();
    const b = await createTown();
    const forged = `${b.townId}.${a.agentToken.split(".")[1]}`;
    expect(
      (
        await sendEvents({ ...b, agentToken: forged }, [
          { eventId: "z", type: "container_status", agentId: "nobody", payload: { generation: 1, status: "running" } },
        ])
      ).status,
    ).toBe(401);
  });
});
