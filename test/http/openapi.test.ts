import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import oas31 from "@seriousme/openapi-schema-validator/schemas/v3.1/schema.json";
import { ROUTES } from "../../src/http/routes";
import { api } from "../support/town";

const getDocument = async () => {
  const response = await api("GET", "/api/openapi.json");
  expect(response.status).toBe(200);
  return response.body;
};

/** Valid and invalid bodies per route, checked against both the zod schema and the published JSON schema. */
const EXAMPLES: Record<string, { valid: unknown; invalid: unknown }> = {
  "PUT /api/towns/{townId}": { valid: { config: { maxPolecatsPerRig: 3 } }, invalid: { config: { maxPolecatsPerRig: "three" } } },
  "POST /api/towns/{townId}/rigs": { valid: { name: "web", gitUrl: "https://git.test/web.git" }, invalid: { name: "web" } },
  "POST /api/towns/{townId}/beads": { valid: { rigId: "web", title: "Fix it", priority: 1 }, invalid: { rigId: "web", title: "Fix it", priority: 9 } },
  "POST /api/towns/{townId}/convoys": { valid: { title: "Release", beadIds: ["a"] }, invalid: { title: "Release", beadIds: [] } },
  "POST /api/towns/{townId}/beads/{beadId}/cancel": { valid: { status: "closed" }, invalid: { status: "gone" } },
  "POST /api/towns/{townId}/events": {
    valid: { events: [{ eventId: "e1", type: "agent_done", agentId: "a1", payload: { generation: 1, branch: "b" } }] },
    invalid: { events: [{ eventId: "e1", type: "agent_exploded", agentId: "a1", payload: {} }] },
  },
  "POST /api/towns/{townId}/agents/{agentId}/heartbeat": { valid: { generation: 2, containerStatus: "running" }, invalid: { generation: -1 } },
  "POST /api/towns/{townId}/debug/reconcile-dry-run": { valid: {}, invalid: { extra: true } },
  "POST /api/towns/{townId}/agent-token": { valid: {}, invalid: { token: "mine" } },
  "POST /api/towns/{townId}/debug/events/{seq}/retry": { valid: {}, invalid: { now: true } },
  "POST /api/towns/{townId}/debug/events/{seq}/discard": { valid: {}, invalid: { reason: "x" } },
  "POST /api/towns/{townId}/beads/{beadId}/retry": { valid: {}, invalid: { attempts: 0 } },
  "POST /api/towns/{townId}/beads/{beadId}/hold": { valid: { reason: "waiting for a design" }, invalid: { reason: 7 } },
  "POST /api/towns/{townId}/beads/{beadId}/release": { valid: {}, invalid: { held: false } },
  "POST /api/towns/{townId}/beads/{beadId}/requeue": { valid: { reason: "its agent is wedged" }, invalid: { force: true } },
  "PATCH /api/towns/{townId}/beads/{beadId}": { valid: { priority: 0, blockedBy: ["b2"] }, invalid: { priority: 7 } },
  "POST /api/towns/{townId}/beads/bulk": {
    valid: { action: "retry", filter: { status: "failed" } },
    invalid: { action: "delete", filter: { status: "failed" } },
  },
  "POST /api/towns/{townId}/pause": { valid: { reason: "incident 42" }, invalid: {} },
  "POST /api/towns/{townId}/resume": { valid: {}, invalid: { reason: "over" } },
  "POST /api/towns/{townId}/debug/replay-events": {
    valid: { from: "2100-01-01T00:00:00Z", to: "2100-01-01T01:00:00Z" },
    invalid: { from: "2100-01-01T00:00:00Z" },
  },
};

describe("the OpenAPI description", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const document = await getDocument();
    const result = new Validator(oas31 as never, "2020-12", false).validate(document);
    expect(result.errors.slice(0, 3)).toEqual([]);
    expect(document.openapi).toBe("3.1.0");
  });

  it("describes every route the Worker serves, with its method, parameters and security", async () => {
    const document = await getDocument();
    const described = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods as object).map((m) => `${m.toUpperCase()} ${path}`));
    const served = ROUTES.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    expect(described.sort()).toEqual(served.sort());
    const explain = document.paths["/api/towns/{townId}/beads/{beadId}/explain"].get;
    expect(explain.parameters.map((p: any) => p.name)).toEqual(["townId", "beadId"]);
    expect(explain.security).toEqual([{ read: [] }, { debug: [] }, { admin: [] }]);
    expect(document.paths["/api/towns/{townId}/ticks"].get.parameters.map((p: any) => p.name)).toEqual(["townId", "from", "to", "limit", "format", "fields"]);
    const history = document.paths["/api/towns/{townId}/debug/history"].get;
    expect(history.parameters.map((p: any) => [p.name, p.required])).toEqual([
      ["townId", true],
      ["from", true],
      ["to", true],
      ["bodies", false],
    ]);
    expect(history.security).toEqual([{ debug: [] }, { admin: [] }]);
  });

  it("publishes, for each request body, the schema the route validates with", async () => {
    const document = await getDocument();
    for (const spec of ROUTES.filter((r) => r.body)) {
      const key = `${spec.method} ${spec.path.replace(/:(\w+)/g, "{$1}")}`;
      const example = EXAMPLES[key];
      expect(example, `an example for ${key}`).toBeDefined();
      const schema = document.paths[spec.path.replace(/:(\w+)/g, "{$1}")][spec.method.toLowerCase()].requestBody.content["application/json"].schema;
      const published = new Validator(schema, "2020-12", false);
      // The route's own zod schema and the published JSON schema agree on both examples.
      expect(spec.body!.schema.safeParse(example!.valid).success, `${key} valid (zod)`).toBe(true);
      expect(published.validate(example!.valid).valid, `${key} valid (published)`).toBe(true);
      expect(spec.body!.schema.safeParse(example!.invalid).success, `${key} invalid (zod)`).toBe(false);
      expect(published.validate(example!.invalid).valid, `${key} invalid (published)`).toBe(false);
    }
  });
});
