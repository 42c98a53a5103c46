import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import { advance, bead, createTown, heartbeat, runUntil, sling, status, tick } from "../support/town";

/** Simulated agents that never finish and never heartbeat on their own: the tests speak for them. */
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

describe("recovering lost work", () => {
  it("recovers a dead container and re-dispatches the bead once the backoff is over", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Fix the login page" });
    await tick(town);
    expect((await bead(town, "b1")).agent).toMatchObject({ id: "web:polecat:1", status: "working", generation: 1 });

    // The platform reports the container exited: an event, applied by the next tick.
    expect((await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "exited" })).status).toBe(204);
    await advance(town, 1_000);
    await tick(town);
    const released = await bead(town, "b1");
    expect(released.bead).toMatchObject({ status: "open", dispatchAttempts: 1, assignee: null });
    expect((await status(town)).breaker.recentFailures).toBe(1);

    // Not before the backoff…
    await advance(town, C.dispatchBackoffBaseMs - 2_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("open");
    // …and then dispatched again, under a new generation that fences the dead container's callbacks.
    await runUntil(town, (s) => s.beads.in_progress === 1, 5);
    const again = await bead(town, "b1");
    expect(again.bead).toMatchObject({ status: "in_progress", dispatchAttempts: 2 });
    expect(again.agent).toMatchObject({ status: "working", generation: 2 });
    expect((await heartbeat(town, "web:polecat:1", { generation: 1 })).status).toBe(409);
  });

  it("stalls a silent agent after the grace and timeout, stops it after the stall timeout, and re-dispatches", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "Silent work" });
    await tick(town);

    // Inside the cold-start grace nothing happens; one heartbeat keeps it alive a little longer.
    await advance(town, C.coldStartGraceMs - 1);
    await tick(town);
    expect((await status(town)).agents.working).toBe(1);
    expect((await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "running" })).status).toBe(204);

    await runUntil(town, (s) => s.agents.stalled === 1, 5);
    const stalledStatus = await status(town);
    expect(stalledStatus.lastTick.actionsByRule).toEqual({ "agents.detectStall": 1 });

    // A stalled agent is stopped at the stall timeout, its bead reopened, then dispatched again.
    await runUntil(town, (s) => s.beads.in_progress === 1 && s.lastTick.actionsByRule["beads.dispatch"] === 1, 10);
    expect((await bead(town, "b1")).bead.dispatchAttempts).toBe(2);
  });

  it("recovers a bead whose container vanished during the cold-start grace once the grace ends", async () => {
    const town = await createTown({ ...SILENT, idleAlarmMs: 600_000 });
    await sling(town, { id: "b1", title: "Vanishing container" });
    await tick(town);
    await advance(town, 10_000);
    await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "not_found" });
    await tick(town);
    // Still inside the grace: the agent keeps the bead, and the alarm is set for the end of the grace.
    const waiting = await status(town);
    expect(waiting.agents.working).toBe(1);
    expect(waiting.alarm.reason).toBe("cold-start grace of web:polecat:1 ends (container not found)");
    // At the end of the grace the agent is released, and the bead (its backoff long over) dispatched again.
    await runUntil(town, (s) => s.lastTick?.actionsByRule["agents.recoverLostContainer"] === 1, 3);
    const recovered = await status(town);
    expect(recovered.now).toBe(await town.stub.testNow());
    expect(recovered.lastTick.actionsByRule).toMatchObject({ "agents.recoverLostContainer": 1, "beads.reopenOrphaned": 1, "beads.dispatch": 1 });
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "in_progress", dispatchAttempts: 2 });
  });
});
