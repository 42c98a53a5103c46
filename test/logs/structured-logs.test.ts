import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sweep } from "../support/fleet";
import { advance, api, createTown, runUntil, sling, status, tick, TOKENS } from "../support/town";

/** Log lines written while `work` runs, parsed (this project runs with LOG_LEVEL=debug). */
async function linesDuring(work: () => Promise<unknown>): Promise<any[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return lines.map((line) => JSON.parse(line));
}

afterEach(() => vi.restoreAllMocks());

describe("structured logs", () => {
  it("writes one JSON line per request with level, request id, town and status", async () => {
    const town = await createTown();
    const lines = await linesDuring(() => api("GET", `/api/towns/${town.townId}/beads/nope`, { token: TOKENS.read, headers: { "x-request-id": "req-123" } }));
    expect(lines).toEqual([
      expect.objectContaining({
        level: "info",
        message: "request refused",
        requestId: "req-123",
        townId: town.townId,
        status: 404,
        path: `/api/towns/${town.townId}/beads/nope`,
        time: expect.any(String),
      }),
    ]);
  });

  it("logs a failing request as an error with its request id", async () => {
    const town = await createTown();
    // Storage that fails every read: the town cannot answer.
    await runInDurableObject(town.stub, (_instance, state) => {
      const sql = state.storage.sql;
      (sql as { exec: unknown }).exec = () => {
        throw new Error("storage offline");
      };
    });
    let response: { status: number; body: any } | undefined;
    const lines = await linesDuring(
      async () => (response = await api("GET", `/api/towns/${town.townId}/status`, { token: TOKENS.read, headers: { "x-request-id": "req-500" } })),
    );
    expect(response!.status).toBe(500);
    expect(response!.body.error.message).toContain("req-500");
    expect(lines).toContainEqual(expect.objectContaining({ level: "error", requestId: "req-500", status: 500, townId: town.townId }));
  });

  it("logs nothing per event or per tick in steady state", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    for (let i = 0; i < 5; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
    await tick(town);
    await tick(town);
    // Twenty ticks, each applying a burst of container status changes.
    const lines = await linesDuring(async () => {
      for (let round = 0; round < 20; round++) {
        for (let i = 1; i <= 5; i++)
          await town.stub.heartbeat(town.agentToken, `web:polecat:${i}` as never, { generation: 1, containerStatus: round % 2 ? "running" : "starting" });
        await town.stub.testAdvance(5_000);
        await tick(town);
      }
    });
    expect((await status(town)).totals.eventsDrained).toBeGreaterThanOrEqual(100);
    expect(lines).toEqual([]);
  });

  it("logs each alarm the watchdog re-arms, with the town and what it owed, and one line per sweep with its counts", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 30_000 } });
    await sling(town, { id: "b1", title: "Long work" });
    await runUntil(town, (s) => s.agents.working === 1, 5);
    await runInDurableObject(town.stub, (_instance, state) => state.storage.deleteAlarm());
    await advance(town, 10 * 60_000);
    const now = await town.stub.testNow();
    const lines = await linesDuring(() => sweep(now));
    // (The town logs it too, from inside its object, where this spy does not reach.)
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: "watchdog re-armed a town's alarm",
        component: "watchdog",
        townId: town.townId,
        owed: expect.any(String),
        at: expect.any(Number),
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        message: "watchdog sweep",
        component: "watchdog",
        cron: "* * * * *",
        rearmed: expect.any(Number),
        checked: expect.any(Number),
      }),
    );
  });
});
