import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import type { DispatchRequest } from "../../src/effects/container-port";
import { httpContainerPort } from "../../src/effects/http-container";
import type { AgentId, BeadId, RigId, TownId } from "../../src/domain/ids";
import { advance, api, bead, createTown, runUntil, sling, status, tick, uniqueTownId, type TestTown } from "../support/town";

/**
 * The fake agent service started by globalSetup on loopback (test/support/node/fake-agent-service.ts).
 * The towns reach it through their CONTAINER_SERVICE binding (see vitest.config.ts); their CONTAINER_URL
 * does not resolve, so every call below that arrives came through the binding.
 */
const serviceUrl = inject("agentServiceUrl");

async function setMode(town: TestTown, mode: "ok" | "fail" | "hang" | "down" | "reject") {
  const response = await fetch(`${serviceUrl}/__control`, { method: "POST", body: JSON.stringify({ townId: town.townId, mode }) });
  expect(response.status).toBe(204);
}

async function calls(
  town: TestTown,
): Promise<Array<{ path: string; agentId: string; generation: number; credential: string | null; idempotencyKey: string; mode: string }>> {
  return (await fetch(`${serviceUrl}/__calls?townId=${town.townId}`)).json();
}

const QUICK = { effectBackoffBaseMs: 1_000, effectTimeoutMs: 300 };

describe("the http container adapter", () => {
  it("dispatches over HTTP with an idempotency key and feeds the outcome back as an event", async () => {
    const town = await createTown(QUICK);
    await setMode(town, "ok");
    await sling(town, { id: "b1", title: "Real work" });
    await tick(town);
    expect(await calls(town)).toEqual([
      expect.objectContaining({ path: "/dispatch", agentId: "web:polecat:1", generation: 1, idempotencyKey: "web:polecat:1@1:dispatch" }),
    ]);
    // The dispatch_result event is applied by the next tick: a success for the breaker.
    await advance(town, 100);
    await tick(town);
    const after = await status(town);
    expect(after.breaker.lastSuccessAt).not.toBeNull();
    expect(after.lastTick.eventsApplied).toBe(1);
    expect((await bead(town, "b1")).agent).toMatchObject({ status: "working", generation: 1 });
  });

  it("hands the container a dispatch credential in the dispatch body, which speaks for that agent and generation", async () => {
    const town = await createTown(QUICK);
    await setMode(town, "ok");
    await sling(town, { id: "b1", title: "Real work" });
    await tick(town);
    const [dispatch] = await calls(town);
    const credential = dispatch!.credential!;
    expect(credential).toMatch(/^dc1\./);
    expect(credential).not.toContain(town.agentToken);
    const as = (path: string, body: unknown) => api("POST", `/api/towns/${town.townId}${path}`, { token: credential, body });
    expect((await as("/agents/web:polecat:1/heartbeat", { generation: 1 })).status).toBe(204);
    const done = await as("/events", {
      events: [{ eventId: "done", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } }],
    });
    expect(done.status, JSON.stringify(done.body)).toBe(202);
    await advance(town, 100);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_review");
  });

  it("treats a 4xx answer as final: the bead goes back to open without retrying the call", async () => {
    const town = await createTown(QUICK);
    await setMode(town, "reject");
    await sling(town, { id: "b1", title: "Rejected" });
    await tick(town);
    await advance(town, 100);
    await tick(town);
    expect((await calls(town)).length).toBe(1);
    expect((await bead(town, "b1")).bead).toMatchObject({ status: "open", dispatchAttempts: 1 });
    expect((await status(town)).breaker.recentFailures).toBe(1);
  });

  it("times out a service that never answers, retries with backoff, then reports the timeout", async () => {
    const town = await createTown(QUICK);
    await setMode(town, "hang");
    await sling(town, { id: "b1", title: "Hanging" });
    await tick(town);
    expect((await status(town)).lastTick).toMatchObject({ effectsAttempted: 1, effectsFailed: 1 });
    // Retries at +1 s and +2 s (effectMaxAttempts 3), then the final timeout reaches the town.
    await runUntil(town, (s) => s.breaker.recentFailures === 1, 10);
    expect((await calls(town)).filter((c) => c.path === "/dispatch")).toHaveLength(3);
    expect((await bead(town, "b1")).bead.status).toBe("open");
  });

  it("treats a dropped connection as retryable, and reports the failure after the last attempt", async () => {
    const town = await createTown(QUICK);
    await setMode(town, "down");
    await sling(town, { id: "b1", title: "Unreachable" });
    await tick(town);
    await runUntil(town, (s) => s.breaker.recentFailures === 1, 10);
    expect((await calls(town)).filter((c) => c.path === "/dispatch")).toHaveLength(3);
    expect((await bead(town, "b1")).bead.status).toBe("open");
  });

  it("keeps dispatch attempts bounded while the service is down for an hour, with the breaker open and visible", async () => {
    const town = await createTown({ ...QUICK, maxDispatchAttempts: 100 });
    // Down behind its load balancer: every call answers 503.
    await setMode(town, "fail");
    for (let i = 1; i <= 5; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });

    // One hour of simulated time, letting each alarm fire when it asks to.
    const start = await town.stub.testNow();
    let breakerSeenOpen = false;
    let ticks = 0;
    while ((await town.stub.testNow()) < start + 3_600_000 && ticks < 500) {
      const alarmAt = (await town.stub.testAlarmAt())!;
      await town.stub.testSetTime(Math.max(alarmAt, await town.stub.testNow()));
      await tick(town);
      ticks += 1;
      if ((await status(town)).breaker.open) breakerSeenOpen = true;
    }

    const dispatches = (await calls(town)).filter((c) => c.path === "/dispatch").length;
    const final = await status(town);
    expect(breakerSeenOpen).toBe(true);
    expect(final.breaker.status).not.toBe("closed");
    // Five initial dispatches, then one probe per 5-minute cool-down (12 in an hour), each tried 3 times.
    expect(dispatches).toBeLessThanOrEqual((5 + 12) * 3);
    expect(dispatches).toBeGreaterThanOrEqual(5 * 3);
    expect(final.beads.open + final.beads.in_progress).toBe(5);
    console.log(`service down for 1 h: ${dispatches} dispatch calls over ${ticks} ticks, breaker ${final.breaker.status}`);
  });

  it("calls CONTAINER_URL with the global fetch when no service is bound", async () => {
    const townId = uniqueTownId() as TownId;
    const port = httpContainerPort({ CONTAINER_URL: serviceUrl });
    const request: DispatchRequest = {
      effectId: "web:polecat:1@1:dispatch",
      townId,
      agentId: "web:polecat:1" as AgentId,
      role: "polecat",
      generation: 1,
      credential: "dc1.made-up-for-the-call",
      rig: { id: "web" as RigId, name: "web", gitUrl: "https://git.test/web.git", defaultBranch: "main" },
      bead: { id: "b1" as BeadId, type: "issue", title: "Work", body: null, branch: null, prUrl: null },
    };
    expect(await port.dispatch(request, new AbortController().signal)).toEqual({ outcome: "ok" });
    const received = await (await fetch(`${serviceUrl}/__calls?townId=${townId}`)).json();
    expect(received).toEqual([expect.objectContaining({ path: "/dispatch", agentId: "web:polecat:1", idempotencyKey: "web:polecat:1@1:dispatch" })]);
  });

  it("says what to set when CONTAINER_ADAPTER=http has neither CONTAINER_URL nor a CONTAINER_SERVICE binding", () => {
    expect(() => httpContainerPort({})).toThrow(/CONTAINER_URL .* CONTAINER_SERVICE/);
  });
});
