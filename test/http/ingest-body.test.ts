import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIngestBody } from "../../src/api/ingest-body";
import { IngestBody } from "../../src/api/schemas";

/** What a value is, key order and undefined-valued keys included (the log stores the payload's JSON in the order built). */
const exactly = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (v === undefined ? "<undefined>" : v));

/** The quick path either gives exactly what the schema gives, or leaves the body to the schema; true: it took it. */
function agrees(value: unknown): boolean {
  const quick = parseIngestBody(value);
  const schema = IngestBody.safeParse(value);
  if (quick === undefined) return false;
  expect(schema.success, `the schema refuses what the quick path took: ${exactly(value).slice(0, 400)}`).toBe(true);
  expect(exactly(quick)).toBe(exactly(schema.data));
  expect(quick).toStrictEqual(schema.data);
  return true;
}

const AGENTS = ["rig-0:polecat:0", "a", "A.b_c:d-9", "-starts-with-dash", "has space", "x".repeat(128), "x".repeat(129), ""];
const STATUSES = ["running", "starting", "exited", "not_found", "error", "completed", "failed", "merged", "closed", "Running", ""];
const TYPES = ["container_status", "agent_completed", "agent_done", "pr_status_changed", "bead_created", "dispatch_result", "town_paused", ""];

const generation = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: -3, max: -1 }),
  fc.constantFrom(0.5, -0, 2 ** 53 - 1, 2 ** 53, 1e300, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom("1", null, true, [1], {}),
);
const payload = fc.oneof(
  { weight: 6, arbitrary: fc.record({ generation, status: fc.constantFrom(...STATUSES) }) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        generation,
        status: fc.oneof(fc.constantFrom(...STATUSES), fc.jsonValue()),
        reason: fc.oneof(fc.string(), fc.string({ minLength: 10_001, maxLength: 10_002 }), fc.jsonValue()),
        branch: fc.oneof(fc.string(), fc.constant("  feature  ")),
        prUrl: fc.constantFrom("https://example.com/pr/1", "javascript:alert(1)", 7),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const eventId = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom("", "e".repeat(200), "e".repeat(201), "ü".repeat(200)), fc.integer());
/** Valid events of every type the route takes, in any key order. */
const validEvent = fc
  .oneof(
    fc.record(
      {
        eventId: fc.string({ minLength: 1, maxLength: 12 }),
        type: fc.constant("container_status"),
        agentId: fc.constantFrom("rig-0:polecat:0", "a", "A.b_c:d-9"),
        beadId: fc.constant(null),
        payload: fc.record({ generation: fc.nat(), status: fc.constantFrom("running", "starting", "exited", "not_found", "error") }),
      },
      { requiredKeys: ["eventId", "type", "agentId", "payload"] },
    ),
    fc.record(
      {
        eventId: fc.string({ minLength: 1, maxLength: 12 }),
        type: fc.constant("agent_completed"),
        agentId: fc.constantFrom("rig-0:polecat:0", "x".repeat(128)),
        beadId: fc.constant(null),
        payload: fc.record(
          { generation: fc.nat(), status: fc.constantFrom("completed", "failed"), reason: fc.string() },
          { requiredKeys: ["generation", "status"] },
        ),
      },
      { requiredKeys: ["eventId", "type", "agentId", "payload"] },
    ),
    fc.record({
      eventId: fc.string({ minLength: 1, maxLength: 12 }),
      type: fc.constant("agent_done"),
      agentId: fc.constant("rig-0:polecat:0"),
      payload: fc.record({ generation: fc.nat(), branch: fc.constantFrom("main", "  feature  ") }),
    }),
    fc.record({
      eventId: fc.string({ minLength: 1, maxLength: 12 }),
      type: fc.constant("pr_status_changed"),
      beadId: fc.constant("b-1"),
      payload: fc.record({ status: fc.constantFrom("merged", "closed") }),
    }),
  )
  .chain((e) =>
    fc
      .shuffledSubarray(Object.keys(e), { minLength: Object.keys(e).length })
      .map((keys) => Object.fromEntries(keys.map((k) => [k, (e as Record<string, unknown>)[k]]))),
  );
const event = fc.oneof(
  { weight: 12, arbitrary: validEvent },
  {
    weight: 2,
    arbitrary: fc.record(
      { eventId, type: fc.constantFrom("container_status", "agent_completed"), agentId: fc.constantFrom(...AGENTS), payload },
      { requiredKeys: ["eventId", "type", "agentId", "payload"] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        eventId,
        type: fc.oneof(fc.constantFrom(...TYPES), fc.jsonValue()),
        agentId: fc.oneof(fc.constantFrom(...AGENTS), fc.constant(null), fc.jsonValue()),
        beadId: fc.oneof(fc.constant(null), fc.constantFrom("b-1", "bad id"), fc.jsonValue()),
        payload,
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const body = fc.oneof(
  { weight: 8, arbitrary: fc.record({ events: fc.array(event, { minLength: 0, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ events: fc.array(event, { maxLength: 3 }), other: fc.jsonValue() }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);

describe("the events route's quick validation", () => {
  it("gives exactly what IngestBody gives, or leaves the body to it (JSON bodies, valid and not)", () => {
    // Through JSON, as the route has them: no undefined, no -0 kept apart from JSON's own.
    let taken = 0;
    let valid = 0;
    fc.assert(
      fc.property(body, (value) => {
        const json: unknown = JSON.parse(JSON.stringify(value));
        if (agrees(json)) taken += 1;
        if (IngestBody.safeParse(json).success) valid += 1;
      }),
      { numRuns: 3_000 },
    );
    // Not vacuous: many bodies are valid, and the quick path takes most of them.
    expect(valid).toBeGreaterThan(300);
    expect(taken).toBeGreaterThan(valid / 2);
  });

  it("takes a flood's batch itself: container statuses and completions, payload keys in the schema's order", () => {
    const events = Array.from({ length: 1_000 }, (_, i) =>
      i % 3 === 2
        ? { payload: { status: "completed", generation: 2 }, agentId: `rig-0:polecat:${i % 7}`, type: "agent_completed", eventId: `e-${i}` }
        : {
            eventId: `e-${i}`,
            type: "container_status",
            agentId: `rig-0:polecat:${i % 7}`,
            beadId: null,
            payload: { status: i % 2 ? "running" : "starting", generation: 1 },
          },
    );
    const value = JSON.parse(JSON.stringify({ events }));
    expect(parseIngestBody(value)).toBeDefined();
    agrees(value);
    expect(JSON.stringify(parseIngestBody(value)!.events[0]!.payload)).toBe('{"generation":1,"status":"starting"}');
  });

  it("leaves to the schema what it does not know, and a body the schema refuses", () => {
    const done = { eventId: "d", type: "agent_done", agentId: "rig-0:polecat:0", payload: { generation: 1, branch: "  feature  " } };
    const status = { eventId: "s", type: "container_status", agentId: "rig-0:polecat:0", payload: { generation: 1, status: "running" } };
    // Mixed: the agent_done through the schema (its branch trimmed), the rest quick.
    agrees({ events: [status, done, status] });
    expect(parseIngestBody({ events: [status, done] })!.events[1]!.payload).toStrictEqual({ generation: 1, branch: "feature" });
    for (const refused of [
      {},
      { events: [] },
      { events: Array.from({ length: 1_001 }, () => status) },
      { events: [status], more: 1 },
      { events: [{ ...status, payload: { generation: 1, status: "running", extra: 1 } }] },
      { events: [{ ...status, payload: { generation: -1, status: "running" } }] },
      { events: [{ ...status, agentId: "not an id" }] },
      { events: [{ ...status, beadId: "b-1" }] },
      { events: [{ ...status, eventId: "" }] },
      { events: [status, { ...done, payload: { branch: "x" } }] },
    ]) {
      expect(parseIngestBody(refused), exactly(refused).slice(0, 200)).toBeUndefined();
      expect(IngestBody.safeParse(refused).success).toBe(false);
    }
  });
});
