import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { fleetRow } from "../support/fleet";
import { api, bead, createTown, heartbeat, runUntil, sling, status, TOKENS, type TestTown } from "../support/town";

const sentryUrl = inject("sentryUrl");
const sentryEvents = async (town: TestTown): Promise<any[]> => (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json();
const reported = async (town: TestTown, alert: string, invariant: number) =>
  (await sentryEvents(town)).filter((e) => e.tags.alert === alert && e.tags.invariant === String(invariant));
const explain = async (town: TestTown, id: string) =>
  (await api("GET", `/api/towns/${town.townId}/beads/${id}/explain`, { token: TOKENS.read })).body.reasons.map((r: any) => r.code);

describe("invariant 11 in a town: work moves", () => {
  it("fires when a rig's only polecat holds on to work for longer than the window while more waits, and resolves when work moves", async () => {
    // One polecat, working for a day and heartbeating all along: nothing times out, nothing moves.
    const town = await createTown({ maxPolecatsPerRig: 1, progressWindowMs: 1_800_000, simulation: { workMs: 86_400_000, heartbeatIntervalMs: 50_000 } });
    await sling(town, { id: "busy", title: "Takes a day" });
    await sling(town, { id: "waiting", title: "Waits behind it" });
    await runUntil(town, (s) => s.agents.working === 1 && s.queue.pending === 0, 5);
    const stuck = await runUntil(town, (s) => s.violations.list.some((v: any) => v.invariant === 11), 100).then(() => status(town));
    expect(stuck.violations.list.find((v: any) => v.invariant === 11)).toMatchObject({
      beadIds: ["waiting"],
      message: expect.stringContaining("1 bead(s) wait"),
    });
    expect(await reported(town, "violation_started", 11)).toEqual([expect.objectContaining({ fingerprint: ["invariant:11", town.townId], level: "error" })]);
    expect(await explain(town, "waiting")).toContain("work_not_moving");
    // The fleet sees it as stuck work.
    expect(await fleetRow(town, await town.stub.testNow())).toMatchObject({ stuckWork: 1 });

    // The operator cancels the work that holds the polecat: the waiting bead is dispatched, work moves.
    expect((await api("POST", `/api/towns/${town.townId}/beads/busy/cancel`, { token: TOKENS.admin, body: {} })).status).toBe(202);
    // (Once the service confirms the stop of the old container, the polecat takes the waiting bead.)
    await runUntil(town, (s) => s.violations.list.every((v: any) => v.invariant !== 11) && s.agents.working === 1, 10);
    expect((await bead(town, "waiting")).bead.status).toBe("in_progress");
    expect(await reported(town, "violation_resolved", 11)).toHaveLength(1);
  });
});

describe("invariant 12 in a town: no flapping", () => {
  it("fires when a bead keeps going back to open as its containers keep dying, and resolves when it is cancelled", async () => {
    const town = await createTown({
      maxDispatchAttempts: 10,
      flapping: { maxReopens: 3, windowMs: 3_600_000 },
      simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 },
    });
    await sling(town, { id: "b1", title: "Keeps dying" });
    for (let round = 1; round <= 4; round++) {
      await runUntil(town, (s) => s.agents.working === 1, 20);
      const { agent } = await bead(town, "b1");
      // The container comes up, then the platform reports it gone: the agent is released and the bead goes back to open.
      expect((await heartbeat(town, agent.id, { generation: agent.generation, containerStatus: "running" })).status).toBe(204);
      expect((await heartbeat(town, agent.id, { generation: agent.generation, containerStatus: "exited" })).status).toBe(204);
      await runUntil(town, (s) => s.agents.working === 0 && s.beads.open === 1, 5);
    }
    const flapping = (await status(town)).violations.list.find((v: any) => v.invariant === 12);
    expect(flapping).toMatchObject({ beadIds: ["b1"], message: "bead b1 went back to open 4 times within 60 min (limit 3)" });
    expect(await reported(town, "violation_started", 12)).toEqual([expect.objectContaining({ fingerprint: ["invariant:12", town.townId] })]);
    expect(await explain(town, "b1")).toContain("flapping");
    expect((await bead(town, "b1")).bead.reopenedAt).toHaveLength(4);

    expect((await api("POST", `/api/towns/${town.townId}/beads/b1/cancel`, { token: TOKENS.admin, body: {} })).status).toBe(202);
    await runUntil(town, (s) => s.violations.list.every((v: any) => v.invariant !== 12), 5);
    expect(await reported(town, "violation_resolved", 12)).toHaveLength(1);
  });
});
