import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { advance, api, bead, createTown, heartbeat, sling, status, tick, TOKENS, type TestTown } from "../support/town";

/**
 * Owed stops (DESIGN §4.4), against the fake agent service: a stop is owed until the service confirms
 * it; a dispatch that timed out may have started a container, so its generation is stopped before its
 * bead goes to another generation; a container that still reports for an idle agent or an old
 * generation is stopped.
 */
const agentService = inject("agentServiceUrl");
/** The agent service answers quickly in these tests; retries are a second apart. */
const TOWN = {
  effectTimeoutMs: 200,
  effectMaxAttempts: 1,
  stopRetryBaseMs: 1_000,
  heartbeatTimeoutMs: 30_000,
  coldStartGraceMs: 30_000,
  stallTimeoutMs: 60_000,
  dispatchBackoffBaseMs: 1_000,
  simulation: { workMs: 86_400_000 },
};

type Call = { path: string; agentId: string; generation: number; mode: string };
const calls = async (town: TestTown): Promise<Call[]> => (await fetch(`${agentService}/__calls?townId=${town.townId}`)).json();
const serviceMode = (town: TestTown, mode: "ok" | "fail" | "hang") =>
  fetch(`${agentService}/__control`, { method: "POST", body: JSON.stringify({ townId: town.townId, mode }) });

/** Runs the alarm `times` times, `ms` apart. */
async function ticks(town: TestTown, times: number, ms = 1_000) {
  for (let i = 0; i < times; i++) {
    await advance(town, ms);
    await tick(town);
  }
}

describe("owed stops", () => {
  it("keep asking the service to stop a stalled agent's container until it confirms, and show while owed", async () => {
    const town = await createTown(TOWN);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // The agent never heartbeats: it stalls, and is stopped — while the service refuses stops.
    await serviceMode(town, "fail");
    await ticks(town, 1, 31_000);
    await ticks(town, 1, 61_000);
    const owed = await status(town);
    expect(owed.owedStops).toMatchObject({ count: 1, list: [{ agentId: "web:polecat:1", generation: 1, beadId: "b1" }] });
    // Quick retries of one call do not end it: later ticks try again, with backoff.
    await ticks(town, 6, 30_000);
    const stops = (await calls(town)).filter((c) => c.path === "/stop");
    expect(stops.length).toBeGreaterThan(3);
    expect((await status(town)).owedStops.count).toBe(1);
    // The bead is not given to another generation while its old container may still run.
    expect((await bead(town, "b1")).bead.status).toBe("open");
    expect((await calls(town)).filter((c) => c.path === "/dispatch")).toHaveLength(1);
    const why = (await api("GET", `/api/towns/${town.townId}/beads/b1/explain`, { token: TOKENS.read })).body;
    expect(why.reasons.map((r: any) => r.code)).toContain("stop_owed");
    // The service is back: the stop goes through, and only then is the bead dispatched again.
    await serviceMode(town, "ok");
    await ticks(town, 4, 60_000);
    expect((await status(town)).owedStops.count).toBe(0);
    const after = await calls(town);
    const confirmed = after.findIndex((c) => c.path === "/stop" && c.mode === "ok");
    const redispatched = after.findIndex((c, i) => c.path === "/dispatch" && i > 0);
    expect(confirmed).toBeGreaterThan(0);
    expect(redispatched).toBeGreaterThan(confirmed);
  });

  it("stop a timed-out dispatch's generation before its bead goes to another generation", async () => {
    const town = await createTown(TOWN);
    await serviceMode(town, "hang");
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // The dispatch timed out: generation 1 may be running. Now the service answers again.
    await serviceMode(town, "ok");
    await ticks(town, 5, 2_000);
    const log = await calls(town);
    const firstStop = log.findIndex((c) => c.path === "/stop" && c.generation === 1 && c.mode === "ok");
    const secondDispatch = log.findIndex((c) => c.path === "/dispatch" && c.generation === 2);
    expect(firstStop, JSON.stringify(log)).toBeGreaterThanOrEqual(0);
    expect(secondDispatch, JSON.stringify(log)).toBeGreaterThan(firstStop);
  });

  it("stop a container that still reports for an idle agent or an old generation", async () => {
    const town = await createTown(TOWN);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // Generation 1 finishes; then a container of that generation (and one of a generation long gone) reports in.
    const done = await api("POST", `/api/towns/${town.townId}/events`, {
      token: town.agentToken,
      body: { events: [{ eventId: "done", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "b" } }] },
    });
    expect(done.status).toBe(202);
    await ticks(town, 1);
    expect((await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "running" })).status).toBe(409);
    await ticks(town, 2);
    const stops = (await calls(town)).filter((c) => c.path === "/stop" && c.agentId === "web:polecat:1");
    expect(stops.map((c) => c.generation)).toEqual([1]);
    expect((await status(town)).owedStops.count).toBe(0);
  });
});
