import { beforeAll, describe, expect, it } from "vitest";
import { api, createTown, sling, tick, TOKENS, townStub, uniqueTownId, type TestTown } from "../support/town";

/**
 * Every route, tried with what a careless or hostile client sends. Each answer is a clear 4xx with the
 * stable error shape, and nothing in the town changes (every table and the alarm are compared).
 */

type Scope = "admin" | "read" | "debug" | "agent";
interface Route {
  name: string;
  method: string;
  path: (t: TestTown) => string;
  scope: Scope;
  body?: unknown;
  /** A fleet route: about no town in particular, so there is no unknown town to ask it about. */
  fleet?: true;
}

const ROUTES: Route[] = [
  { name: "reconfigure a town", method: "PUT", path: (t) => `/api/towns/${t.townId}`, scope: "admin", body: { config: { soonMs: 10 } } },
  { name: "add a rig", method: "POST", path: (t) => `/api/towns/${t.townId}/rigs`, scope: "admin", body: { name: "api", gitUrl: "https://git.test/api.git" } },
  { name: "sling a bead", method: "POST", path: (t) => `/api/towns/${t.townId}/beads`, scope: "admin", body: { rigId: "web", title: "New work" } },
  { name: "create a convoy", method: "POST", path: (t) => `/api/towns/${t.townId}/convoys`, scope: "admin", body: { title: "Release", beadIds: ["b1"] } },
  { name: "cancel a bead", method: "POST", path: (t) => `/api/towns/${t.townId}/beads/b1/cancel`, scope: "admin", body: { status: "closed" } },
  { name: "read a bead", method: "GET", path: (t) => `/api/towns/${t.townId}/beads/b1`, scope: "read" },
  { name: "read the status", method: "GET", path: (t) => `/api/towns/${t.townId}/status`, scope: "read" },
  { name: "read the tick history", method: "GET", path: (t) => `/api/towns/${t.townId}/ticks`, scope: "read" },
  { name: "read the tick summary", method: "GET", path: (t) => `/api/towns/${t.townId}/ticks/summary`, scope: "read" },
  { name: "read the metrics", method: "GET", path: (t) => `/api/towns/${t.townId}/metrics`, scope: "read" },
  { name: "explain a bead", method: "GET", path: (t) => `/api/towns/${t.townId}/beads/b1/explain`, scope: "read" },
  { name: "dry-run a tick", method: "POST", path: (t) => `/api/towns/${t.townId}/debug/reconcile-dry-run`, scope: "debug", body: {} },
  {
    name: "replay events",
    method: "POST",
    path: (t) => `/api/towns/${t.townId}/debug/replay-events`,
    scope: "debug",
    body: { from: "2100-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" },
  },
  { name: "list dead letters", method: "GET", path: (t) => `/api/towns/${t.townId}/debug/events?status=dead`, scope: "debug" },
  {
    name: "export the history",
    method: "GET",
    path: (t) => `/api/towns/${t.townId}/debug/history?from=2100-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`,
    scope: "debug",
  },
  {
    name: "ingest events",
    method: "POST",
    path: (t) => `/api/towns/${t.townId}/events`,
    scope: "agent",
    body: { events: [{ eventId: "e-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } }] },
  },
  { name: "send a heartbeat", method: "POST", path: (t) => `/api/towns/${t.townId}/agents/web:polecat:1/heartbeat`, scope: "agent", body: { generation: 1 } },
  { name: "rotate the agent token", method: "POST", path: (t) => `/api/towns/${t.townId}/agent-token`, scope: "admin", body: {} },
  { name: "retry a dead letter", method: "POST", path: (t) => `/api/towns/${t.townId}/debug/events/1/retry`, scope: "admin", body: {} },
  { name: "discard a dead letter", method: "POST", path: (t) => `/api/towns/${t.townId}/debug/events/1/discard`, scope: "admin", body: {} },
  { name: "delete a town", method: "DELETE", path: (t) => `/api/towns/${t.townId}`, scope: "admin" },
  { name: "discover the fleet's scrape targets", method: "GET", path: () => "/api/fleet/targets", scope: "read", fleet: true },
  { name: "read the fleet status", method: "GET", path: () => "/api/fleet/status", scope: "read", fleet: true },
];

let town: TestTown;
let other: TestTown;
const tokenFor = (scope: Scope, t: TestTown) => (scope === "agent" ? t.agentToken : TOKENS[scope]);

beforeAll(async () => {
  town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
  other = await createTown();
  await sling(town, { id: "b1", title: "Existing work" });
  await tick(town);
});

/** Runs a request and checks it changed nothing in the town. */
async function unchanged(request: () => Promise<{ status: number; body: any }>) {
  const before = await town.stub.testDump();
  const response = await request();
  expect(await town.stub.testDump()).toBe(before);
  return response;
}

const expectError = (response: { status: number; body: any; headers?: Headers }, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
  expect(response.body.error.message.length).toBeGreaterThan(10);
};

describe.each(ROUTES)("$method $name", (route) => {
  it("rejects a request without a token (401)", async () => {
    const response = await unchanged(() => api(route.method, route.path(town), { body: route.body }));
    expectError(response, 401, "missing_token");
  });

  it("rejects a wrong token (401)", async () => {
    const response = await unchanged(() => api(route.method, route.path(town), { token: "not-a-token", body: route.body }));
    expectError(response, 401, route.scope === "agent" ? "invalid_token" : "invalid_token");
  });

  it("rejects a malformed Authorization header as a bad token (401 invalid_token), not a missing one", async () => {
    // A placeholder pasted as is, another scheme, the scheme alone: each sent credentials, none of them parse.
    for (const header of ["Bearer <agentToken from step 1>", `Basic ${btoa("user:secret")}`, "Bearer", "test-admin"]) {
      const response = await unchanged(() => api(route.method, route.path(town), { headers: { authorization: header }, body: route.body }));
      expectError(response, 401, "invalid_token");
    }
  });

  it("rejects a token of the wrong scope (403)", async () => {
    const wrong = route.scope === "admin" || route.scope === "debug" ? TOKENS.read : route.scope === "agent" ? TOKENS.admin : null;
    if (wrong === null) {
      // Read routes accept every operator token; an agent token is a valid token of another scope.
      expectError(await unchanged(() => api(route.method, route.path(town), { token: town.agentToken, body: route.body })), 403, "insufficient_scope");
      return;
    }
    expectError(await unchanged(() => api(route.method, route.path(town), { token: wrong, body: route.body })), 403, "insufficient_scope");
  });

  if (route.scope === "agent") {
    it("rejects another town's agent token (403)", async () => {
      const response = await unchanged(() => api(route.method, route.path(town), { token: other.agentToken, body: route.body }));
      expectError(response, 403, "wrong_town");
    });
  }

  if (!route.fleet) {
    it("answers 404 for a town that does not exist", async () => {
      const missing = uniqueTownId("missing");
      const path = route.path(town).replace(town.townId, missing);
      const response = await api(route.method, path, { token: tokenFor(route.scope, town), body: route.body });
      if (route.method === "PUT") return expect(response.status).toBe(201); // PUT creates it
      // An agent token is one town's: on any other town, existing or not, it is the wrong town (403).
      if (route.scope === "agent") return expectError(response, 403, "wrong_town");
      expectError(response, 404, "town_not_found");
      // Asking about a town that does not exist creates nothing: no tables, no alarm.
      expect(await townStub(missing).testDump()).toBe(JSON.stringify({ alarm: null }));
    });
  }

  if (route.body !== undefined) {
    it("rejects malformed JSON (400)", async () => {
      const response = await unchanged(() => api(route.method, route.path(town), { token: tokenFor(route.scope, town), body: '{"oops": [' }));
      expectError(response, 400, "invalid_json");
    });

    it("rejects fields of the wrong type (400)", async () => {
      const keys = Object.keys(route.body as object);
      // Every field of the wrong type; a body with no fields is sent as an array instead of an object.
      const wrongTypes = keys.length === 0 ? [1, 2] : Object.fromEntries(keys.map((key) => [key, { nested: 12 }]));
      const response = await unchanged(() => api(route.method, route.path(town), { token: tokenFor(route.scope, town), body: wrongTypes }));
      expectError(response, 400, "invalid_request");
    });

    it("rejects unknown fields (400)", async () => {
      const response = await unchanged(() =>
        api(route.method, route.path(town), { token: tokenFor(route.scope, town), body: { ...(route.body as object), surprise: true } }),
      );
      expectError(response, 400, "invalid_request");
    });

    it("rejects an oversized body (413)", async () => {
      const huge = JSON.stringify({ padding: "x".repeat(1_100_000) });
      const response = await unchanged(() => api(route.method, route.path(town), { token: tokenFor(route.scope, town), body: huge }));
      expectError(response, 413, "payload_too_large");
    });
  }
});

describe("unknown entities and event types", () => {
  it("answers 404 for an unknown bead, and changes nothing", async () => {
    expectError(await unchanged(() => api("GET", `/api/towns/${town.townId}/beads/nope`, { token: TOKENS.read })), 404, "bead_not_found");
    expectError(await unchanged(() => api("POST", `/api/towns/${town.townId}/beads/nope/cancel`, { token: TOKENS.admin, body: {} })), 404, "bead_not_found");
  });

  it("answers 404 for a bead slung into an unknown rig or blocked by an unknown bead", async () => {
    const path = `/api/towns/${town.townId}/beads`;
    expectError(await unchanged(() => api("POST", path, { token: TOKENS.admin, body: { rigId: "nope", title: "x" } })), 404, "rig_not_found");
    expectError(
      await unchanged(() => api("POST", path, { token: TOKENS.admin, body: { rigId: "web", title: "x", blockedBy: ["ghost"] } })),
      404,
      "bead_not_found",
    );
  });

  it("answers 404 for events and heartbeats of an unknown agent", async () => {
    const events = [{ eventId: "ghost-1", type: "agent_done", agentId: "ghost", payload: { generation: 1, branch: "x" } }];
    expectError(await unchanged(() => api("POST", `/api/towns/${town.townId}/events`, { token: town.agentToken, body: { events } })), 404, "agent_not_found");
    const beat = () => api("POST", `/api/towns/${town.townId}/agents/ghost/heartbeat`, { token: town.agentToken, body: { generation: 1 } });
    expectError(await unchanged(beat), 404, "agent_not_found");
  });

  it("rejects an unknown event type, and a command type sent as a callback (400)", async () => {
    for (const type of ["agent_exploded", "bead_created", "dispatch_result"]) {
      const events = [{ eventId: `x-${type}`, type, agentId: "web:polecat:1", payload: {} }];
      const response = await unchanged(() => api("POST", `/api/towns/${town.townId}/events`, { token: town.agentToken, body: { events } }));
      expectError(response, 400, "invalid_request");
    }
  });

  it("rejects an invalid payload inside an otherwise valid batch, storing none of the batch", async () => {
    const events = [
      { eventId: "ok-1", type: "container_status", agentId: "web:polecat:1", payload: { generation: 1, status: "running" } },
      { eventId: "bad-1", type: "agent_completed", agentId: "web:polecat:1", payload: { generation: 1, status: "exploded" } },
    ];
    const response = await unchanged(() => api("POST", `/api/towns/${town.townId}/events`, { token: town.agentToken, body: { events } }));
    expectError(response, 400, "invalid_request");
    expect(response.body.error.message).toContain("events.1.payload.status");
  });

  it("rejects ids that are not URL-safe, and towns ids with capitals", async () => {
    expectError(await api("GET", `/api/towns/${town.townId}/beads/${encodeURIComponent("a b")}`, { token: TOKENS.read }), 400, "invalid_request");
    expectError(await api("PUT", `/api/towns/Capital`, { token: TOKENS.admin, body: {} }), 400, "invalid_request");
  });

  it("rejects config overrides out of bounds (400) and leaves the town as it was", async () => {
    const response = await unchanged(() => api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { heartbeatTimeoutMs: -5 } } }));
    expectError(response, 400, "invalid_request");
  });
});
