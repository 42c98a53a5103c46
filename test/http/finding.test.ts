/**
 * Finding and understanding work (DESIGN §4.6): beads listed newest change first with filters and a
 * cursor — finished ones, out of memory in the archive, included — rigs and agents listed, and a bead's
 * history from what the town records.
 */
import { describe, expect, it } from "vitest";
import { advance, api, bead, createTown, sendEvents, sling, TOKENS, type TestTown, tick } from "../support/town";

const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };
const read = (town: TestTown, path: string) => api("GET", `/api/towns/${town.townId}${path}`, { token: TOKENS.read });

/** Every page of a listing, following the cursors. */
async function allPages(town: TestTown, query: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await read(town, `/beads?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    ids.push(...page.body.beads.map((b: { id: string }) => b.id));
    cursor = page.body.nextCursor;
    pages += 1;
  } while (cursor !== null && pages < 100);
  return { ids, pages };
}

describe("listing beads", () => {
  it("pages every filter newest change first, finished beads in the archive included", async () => {
    const town = await createTown(SILENT);
    await api("POST", `/api/towns/${town.townId}/rigs`, { token: TOKENS.admin, body: { id: "api", name: "api", gitUrl: "https://git.test/api.git" } });
    // Twelve beads over two rigs, a second apart: held, open, cancelled (closed and failed, so archived).
    for (let i = 0; i < 12; i++) {
      await sling(town, { id: `b${String(i).padStart(2, "0")}`, rigId: i % 2 === 0 ? "web" : "api", title: `b${i}`, held: i % 3 === 0 });
      await advance(town, 1_000);
    }
    for (const id of ["b01", "b04", "b07"])
      await api("POST", `/api/towns/${town.townId}/beads/${id}/cancel`, { token: TOKENS.admin, body: { status: "failed" } });
    await advance(town, 1_000);
    await api("POST", `/api/towns/${town.townId}/beads/b10/cancel`, { token: TOKENS.admin, body: { status: "closed" } });
    // Finished and held by nothing, they left memory for the archive when their command committed.
    expect(await town.stub.testInMemory("b04")).toBe(false);

    const all = await allPages(town, "limit=5");
    expect(all.pages).toBe(3);
    // Newest change first: the closed one, the failed ones (latest first among equal times by id), then by slinging.
    expect(all.ids).toEqual(["b10", "b07", "b04", "b01", "b11", "b09", "b08", "b06", "b05", "b03", "b02", "b00"]);
    expect((await allPages(town, "status=failed&limit=2")).ids).toEqual(["b07", "b04", "b01"]);
    expect((await allPages(town, "rig=api&limit=2")).ids).toEqual(["b07", "b01", "b11", "b09", "b05", "b03"]);
    expect((await allPages(town, "held=true&limit=2")).ids).toEqual(["b09", "b06", "b03", "b00"]);
    expect((await allPages(town, "type=issue&status=open&rig=web&limit=1")).ids).toEqual(["b08", "b06", "b02", "b00"]);
    expect((await allPages(town, "type=convoy")).ids).toEqual([]);
    const failed = (await read(town, "/beads?status=failed&limit=1")).body.beads[0];
    expect(failed).toMatchObject({ id: "b07", status: "failed", lastFailure: { code: "cancelled" } });
  });

  it("refuses an unknown filter value, a bad limit and a cursor it did not give (400)", async () => {
    const town = await createTown(SILENT);
    for (const query of [
      "status=sideways",
      "type=task",
      "held=maybe",
      "limit=0",
      "limit=1001",
      "limit=ten",
      "cursor=bm90LWEtY3Vyc29y",
      "cursor=!!!",
      "colour=red",
    ]) {
      const refused = await read(town, `/beads?${query}`);
      expect(refused.status, query).toBe(400);
      expect(refused.body.error.code).toBe("invalid_request");
    }
  });
});

describe("listing rigs and agents", () => {
  it("lists the rigs in use and the agents, filtered by status, rig and role", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1" });
    await sling(town, { id: "b2", title: "b2" });
    await advance(town, 1_000);
    await tick(town);
    expect((await read(town, "/rigs")).body.rigs).toEqual([expect.objectContaining({ id: "web", name: "web", gitUrl: "https://git.test/web.git" })]);
    const agents = (await read(town, "/agents")).body.agents;
    expect(agents.map((a: any) => [a.id, a.role, a.status, a.hook])).toEqual([
      ["web:polecat:1", "polecat", "working", "b1"],
      ["web:polecat:2", "polecat", "working", "b2"],
    ]);
    expect(agents[0]).toMatchObject({ rigId: "web", generation: 1, lastHeartbeatAt: null });
    expect((await read(town, "/agents?status=idle")).body.agents).toEqual([]);
    expect((await read(town, "/agents?role=polecat&rig=web")).body.agents).toHaveLength(2);
    expect((await read(town, "/agents?status=asleep")).status).toBe(400);
  });
});

describe("a bead's history", () => {
  it("tells, oldest first, the commands, the rules' actions with their reasons, the agent's reports and the calls' outcomes", async () => {
    const town = await createTown(SILENT);
    await sling(town, { id: "b1", title: "b1" });
    await advance(town, 1_000);
    await tick(town);
    const agent = (await bead(town, "b1")).agent;
    await sendEvents(town, [
      { eventId: "fail-1", type: "agent_completed", agentId: agent.id, payload: { generation: 1, status: "failed", reason: "tests failed" } },
    ]);
    await advance(town, 1_000);
    await tick(town);
    await api("POST", `/api/towns/${town.townId}/beads/b1/retry`, { token: TOKENS.admin, body: {} });
    await advance(town, 1_000);
    await tick(town);

    const history = (await read(town, "/beads/b1/history")).body;
    expect(history.beadId).toBe("b1");
    expect(history.truncated).toBe(false);
    const line = (e: any) => [e.kind, e.type, e.rule ?? e.outcome ?? e.agentId ?? null];
    expect(history.entries.map(line)).toEqual([
      ["command", "bead_created", null],
      ["action", "dispatch_agent", "beads.dispatch"],
      ["effect", "dispatch", "ok"],
      ["event", "agent_completed", agent.id],
      ["command", "bead_retried", null],
      ["action", "dispatch_agent", "beads.dispatch"],
      ["effect", "dispatch", "ok"],
    ]);
    const dispatch = history.entries[1];
    expect(dispatch.reason).toMatch(/^open, unblocked, unheld; attempt 1 of/);
    expect(history.entries[3].details).toMatchObject({ status: "failed", reason: "tests failed", generation: 1 });
    // The oldest entries make way when there are more than the limit.
    const short = (await read(town, "/beads/b1/history?limit=2")).body;
    expect(short.truncated).toBe(true);
    expect(short.entries.map(line)).toEqual(history.entries.slice(-2).map(line));
  });

  it("answers 404 for an unknown bead and 400 for a bad limit", async () => {
    const town = await createTown(SILENT);
    expect((await read(town, "/beads/nope/history")).status).toBe(404);
    await sling(town, { id: "b1", title: "b1" });
    expect((await read(town, "/beads/b1/history?limit=0")).status).toBe(400);
  });
});
