import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventSchema, parseLoggedEvent, type EventType, type LoggedEvent } from "../../src/domain/events";

/** What a value is, key order and undefined-valued keys included. */
const exactly = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (v === undefined ? "<undefined>" : v));

/** The schema alone on a logged row: what the drain read before its quick path, and must still read. */
function bySchema(row: LoggedEvent): { ok: true; event: unknown } | { ok: false } {
  const schema = eventSchema(row.type as EventType);
  if (!schema) return { ok: false };
  const parsed = schema.safeParse({ type: row.type, agentId: row.agentId, beadId: row.beadId, payload: JSON.parse(row.payload) });
  return parsed.success ? { ok: true, event: { ...parsed.data, seq: row.seq, eventId: row.eventId, createdAt: row.createdAt } } : { ok: false };
}

const generation = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: -3, max: -1 }),
  fc.constantFrom(0.5, -0, 2 ** 53 - 1, 2 ** 53, 1e300),
  fc.constantFrom("1", null, true, [1], {}),
);
const status = fc.oneof(fc.constantFrom("running", "starting", "exited", "not_found", "error", "completed", "failed", "merged", "Running", ""), fc.jsonValue());
const payload = fc.oneof(
  { weight: 6, arbitrary: fc.record({ generation, status }, { requiredKeys: ["status"] }) },
  { weight: 2, arbitrary: fc.record({ status, generation, reason: fc.oneof(fc.string(), fc.jsonValue()), extra: fc.jsonValue() }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const row = fc.record({
  seq: fc.nat(),
  eventId: fc.string({ minLength: 1, maxLength: 8 }),
  type: fc.constantFrom("container_status", "agent_completed", "agent_done", "dispatch_result", "bead_created", "no_such_type"),
  agentId: fc.constantFrom<string | null>("rig-0:polecat:0", "a", "A.b_c:d-9", "-dash", "has space", "x".repeat(128), "x".repeat(129), "", null),
  beadId: fc.constantFrom<string | null>(null, null, null, "bead-1", ""),
  payload: payload.map((value) => JSON.stringify(value) ?? "null"),
  createdAt: fc.nat(),
}) as fc.Arbitrary<LoggedEvent>;
/** Rows the quick path takes (so the run checks what it builds, not only what it refuses), in either key order. */
const reportRow = fc
  .record({
    seq: fc.nat(),
    eventId: fc.string({ minLength: 1, maxLength: 8 }),
    type: fc.constantFrom("container_status", "agent_completed"),
    agentId: fc.constantFrom("rig-0:polecat:0", "a", "A.b_c:d-9"),
    beadId: fc.constant(null),
    generation: fc.nat(),
    status: fc.constantFrom("running", "starting", "exited", "not_found", "error", "completed", "failed"),
    statusFirst: fc.boolean(),
    createdAt: fc.nat(),
  })
  .map(
    ({ generation, status, statusFirst, ...rest }): LoggedEvent => ({
      ...rest,
      payload: JSON.stringify(statusFirst ? { status, generation } : { generation, status }),
    }),
  );
const anyRow = fc.oneof(row, reportRow);

describe("the drain's quick path for agents' status reports", () => {
  it("reads every logged row exactly as the schema does: the same event, keys in the same order, or a refusal", () => {
    let quickShapes = 0;
    fc.assert(
      fc.property(anyRow, (logged) => {
        const expected = bySchema(logged);
        const actual = parseLoggedEvent(logged);
        expect(actual.ok, exactly(logged)).toBe(expected.ok);
        if (actual.ok && expected.ok) {
          expect(exactly(actual.event)).toBe(exactly(expected.event));
          expect(actual.event).toStrictEqual(expected.event);
          if (logged.type === "container_status" || logged.type === "agent_completed") quickShapes += 1;
        }
      }),
      { numRuns: 5_000 },
    );
    // The run reached the shapes the quick path takes, not only refusals.
    expect(quickShapes).toBeGreaterThan(1_000);
  });

  it("takes a container status and an older row without a generation alike", () => {
    const base = { seq: 7, eventId: "e-1", agentId: "rig-0:polecat:0", beadId: null, createdAt: 1 };
    const current = parseLoggedEvent({ ...base, type: "container_status", payload: '{"status":"running","generation":3}' });
    expect(current).toEqual({
      ok: true,
      event: {
        type: "container_status",
        agentId: "rig-0:polecat:0",
        beadId: null,
        payload: { generation: 3, status: "running" },
        seq: 7,
        eventId: "e-1",
        createdAt: 1,
      },
    });
    // Key order follows the schema, not the stored text (the quick path builds the payload in the schema's order).
    expect(Object.keys((current as { event: { payload: object } }).event.payload)).toEqual(["generation", "status"]);
    const older = parseLoggedEvent({ ...base, type: "container_status", payload: '{"status":"exited"}' });
    expect(older.ok).toBe(true);
    const wrong = parseLoggedEvent({ ...base, type: "container_status", payload: '{"status":"running","generation":-1}' });
    expect(wrong.ok).toBe(false);
  });
});
