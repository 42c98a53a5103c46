import { describe, expect, it } from "vitest";
import { api, createTown, sling, tick, TOKENS, uniqueTownId } from "../support/town";

/**
 * DESIGN §6: the token is valid at all (401), its scope and town fit (403), the path's entities exist
 * (404), then the body (400). A caller without a valid token learns nothing, not even whether a town
 * exists.
 */

const MADE_UP_SECRET = "A".repeat(43);
const beat = (townId: string, token: string, body: unknown = { generation: 1 }, agentId = "web:polecat:1") =>
  api("POST", `/api/towns/${townId}/agents/${agentId}/heartbeat`, {
    token,
    body,
    headers: { "cf-connecting-ip": `198.51.100.${Math.floor(Math.random() * 250)}` },
  });
const events = (townId: string, token: string, body: unknown) => api("POST", `/api/towns/${townId}/events`, { token, body });

describe("a caller without a valid token", () => {
  it("gets the same 401 whether the town exists or not", async () => {
    const town = await createTown();
    const missing = uniqueTownId("missing");
    for (const [existing, absent] of [
      [`${town.townId}.${MADE_UP_SECRET}`, `${missing}.${MADE_UP_SECRET}`],
      ["garbage", "garbage"],
    ] as const) {
      const a = await beat(town.townId, existing);
      const b = await beat(missing, absent);
      expect(a.status).toBe(401);
      expect(b.status).toBe(401);
      expect(a.body.error.code).toBe("invalid_token");
      // Word for word the same, bar the town's name.
      expect(b.body.error.message.replaceAll(missing, "T")).toBe(a.body.error.message.replaceAll(town.townId, "T"));
    }
  });

  it("is refused before its body is read: 401 for a made-up token with a broken body", async () => {
    const town = await createTown();
    expect((await events(town.townId, `${town.townId}.${MADE_UP_SECRET}`, { events: "nope" })).status).toBe(401);
    expect((await events(uniqueTownId("missing"), `x.${MADE_UP_SECRET}`, { events: "nope" })).status).toBe(401);
  });
});

describe("another town's agent token", () => {
  it("is refused (403) before the body is looked at", async () => {
    const a = await createTown();
    const b = await createTown();
    const response = await events(b.townId, a.agentToken, { events: "not a list" });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("wrong_town");
    // A token that only claims to be another town's is not valid at all.
    expect((await events(b.townId, `${a.townId}.${MADE_UP_SECRET}`, { events: "not a list" })).status).toBe(401);
  });
});

describe("entities before the body", () => {
  it("answers 404 for an unknown agent, bead or town even when the body is invalid", async () => {
    const town = await createTown();
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const ghost = await beat(town.townId, town.agentToken, { generation: "one" }, "ghost");
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe("agent_not_found");
    const cancel = await api("POST", `/api/towns/${town.townId}/beads/nope/cancel`, { token: TOKENS.admin, body: { status: "gone" } });
    expect(cancel.status).toBe(404);
    expect(cancel.body.error.code).toBe("bead_not_found");
    const rig = await api("POST", `/api/towns/${uniqueTownId("missing")}/rigs`, { token: TOKENS.admin, body: { name: 5 } });
    expect(rig.status).toBe(404);
    expect(rig.body.error.code).toBe("town_not_found");
    const retry = await api("POST", `/api/towns/${town.townId}/debug/events/999999/retry`, { token: TOKENS.admin, body: { bogus: true } });
    expect(retry.status).toBe(404);
    // Known entities, invalid body: 400.
    expect((await beat(town.townId, town.agentToken, { generation: "one" })).status).toBe(400);
  });
});

describe("requests without a valid token", () => {
  it("are rate-limited per client address (429 with Retry-After), whatever town they name", async () => {
    const town = await createTown();
    const address = { "cf-connecting-ip": "203.0.113.7" };
    const bad = () => api("POST", `/api/towns/${town.townId}/events`, { token: `${town.townId}.${MADE_UP_SECRET}`, body: { events: [] }, headers: address });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await bad()).status);
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
    const limited = await bad();
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited.body.error.code).toBe("rate_limited");
    // Another town from the same address is the same address.
    const other = await createTown();
    expect((await api("GET", `/api/towns/${other.townId}/status`, { token: "wrong", headers: address })).status).toBe(429);
    // Another address is not limited.
    expect((await api("GET", `/api/towns/${other.townId}/status`, { token: "wrong" })).status).toBe(401);
  });
});
