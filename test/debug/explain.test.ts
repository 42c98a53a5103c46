import { describe, expect, it } from "vitest";
import { api, createTown, sendEvents, sling, tick, TOKENS, type TestTown } from "../support/town";

const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };
const explain = async (town: TestTown, beadId: string) => {
  const response = await api("GET", `/api/towns/${town.townId}/beads/${beadId}/explain`, { token: TOKENS.read });
  expect(response.status).toBe(200);
  return response.body;
};
const codes = (explanation: any) => explanation.reasons.map((r: any) => r.code);

describe("explain", () => {
  it("names the blockers, the hold and the agent capacity that keep an open bead waiting", async () => {
    const town = await createTown({ ...SILENT, maxPolecatsPerRig: 1 });
    await sling(town, { id: "first", title: "First", priority: 0 });
    await sling(town, { id: "blocked", title: "Blocked", blockedBy: ["first"] });
    await sling(town, { id: "held", title: "Held", held: true });
    await sling(town, { id: "waiting", title: "Waiting" });
    await tick(town);

    expect((await explain(town, "blocked")).reasons).toContainEqual({
      code: "blocked",
      message: "blocked by first (in_progress) (edit its blockers to change that)",
      command: `PATCH /api/towns/${town.townId}/beads/blocked`,
    });
    expect(codes(await explain(town, "held"))).toContain("held");
    const waiting = await explain(town, "waiting");
    expect(waiting.reasons).toContainEqual(expect.objectContaining({ code: "no_agent", message: expect.stringContaining("at its cap of 1") }));
    expect(codes(await explain(town, "first"))).toContain("working");
  });

  it("says until when a bead backs off, and when its attempts are used up", async () => {
    const town = await createTown({ ...SILENT, maxDispatchAttempts: 2 });
    await sling(town, { id: "b1", title: "Flaky" });
    await tick(town);
    await sendEvents(town, [{ eventId: "c1", type: "agent_completed", agentId: "web:polecat:1", payload: { generation: 1, status: "completed" } }]);
    await town.stub.testAdvance(1_000);
    await tick(town);
    const backoff = (await explain(town, "b1")).reasons.find((r: any) => r.code === "backoff");
    expect(backoff).toMatchObject({ message: expect.stringContaining("backing off after attempt 1 until"), until: expect.any(Number) });
  });

  it("shows a merge request waiting behind the one its rig is reviewing", async () => {
    const town = await createTown(SILENT);
    for (const id of ["a", "b"]) await sling(town, { id, title: id });
    await tick(town);
    await sendEvents(town, [
      { eventId: "done-a", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "a" } },
      { eventId: "done-b", type: "agent_done", agentId: "web:polecat:2", payload: { generation: 1, branch: "b" } },
    ]);
    await town.stub.testAdvance(1_000);
    await tick(town);
    const second = await explain(town, "b:mr:1");
    expect(second.reasons).toContainEqual(
      expect.objectContaining({ code: "review_busy", message: "rig web is reviewing merge request a:mr:1; one at a time" }),
    );
    expect((await explain(town, "b")).reasons).toContainEqual(
      expect.objectContaining({ code: "waiting_for_review", message: "waiting for merge request b:mr:1 (open)" }),
    );
  });

  it("mentions an open breaker", async () => {
    const town = await createTown({ ...SILENT, breaker: { failureThreshold: 1 } });
    await sling(town, { id: "b1", title: "x" });
    await sling(town, { id: "b2", title: "y", held: true });
    await tick(town);
    await town.stub.heartbeat(town.agentToken, "web:polecat:1" as never, { generation: 1, containerStatus: "exited" });
    await town.stub.testAdvance(1_000);
    await tick(town);
    await town.stub.testAdvance(1_000);
    await tick(town);
    expect(codes(await explain(town, "b1"))).toContain("breaker_open");
  });

  it("answers 404 for an unknown bead", async () => {
    const town = await createTown();
    expect((await api("GET", `/api/towns/${town.townId}/beads/ghost/explain`, { token: TOKENS.read })).status).toBe(404);
  });
});
