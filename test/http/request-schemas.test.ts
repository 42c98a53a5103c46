import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { AddRigBody, CancelBeadBody, CreateConvoyBody, HeartbeatBody, IngestEvent, SlingBeadBody } from "../../src/api/schemas";
import {
  BeadCancelledPayload,
  BeadCreatedPayload,
  type COMMAND_EVENT_TYPES,
  ContainerStatusPayload,
  ConvoyCreatedPayload,
  eventSchema,
  RigAddedPayload,
  type EventType,
} from "../../src/domain/events";

/** Each field of an object schema as published in JSON Schema (what OpenAPI shows and both sides check). */
const fields = (schema: z.ZodType): Record<string, unknown> => (z.toJSONSchema(schema, { io: "input" }) as { properties: Record<string, unknown> }).properties;

describe("the request bodies", () => {
  it.each([
    ["POST /api/towns/:townId/rigs", AddRigBody, RigAddedPayload],
    ["POST /api/towns/:townId/beads", SlingBeadBody, BeadCreatedPayload],
    ["POST /api/towns/:townId/convoys", CreateConvoyBody, ConvoyCreatedPayload],
    ["POST /api/towns/:townId/beads/:beadId/cancel", CancelBeadBody, BeadCancelledPayload],
  ] as const)("%s takes each field of the event it is logged as, within the event's own limits", (_route, body, payload) => {
    const taken = fields(body);
    for (const [name, schema] of Object.entries(fields(payload))) {
      if (name in taken) expect(taken[name], name).toEqual(schema);
    }
  });

  it("takes a heartbeat's container status as container_status logs it", () => {
    expect(fields(HeartbeatBody).containerStatus).toEqual(fields(ContainerStatusPayload).status);
  });

  it("takes each agent callback with the log's own ids and payload, the generation required", () => {
    for (const option of IngestEvent.options) {
      const logged = eventSchema(option.shape.type.value);
      const type = option.shape.type.value;
      const { eventId: _eventId, payload, ...ids } = fields(option);
      const { payload: loggedPayload, ...loggedIds } = fields(logged);
      expect(ids, type).toEqual(loggedIds);
      expect(fields(option.shape.payload), type).toEqual(fields(logged.shape.payload));
      // Optional in the log (older versions stored callbacks without it), required from agents.
      const required = (payload as { required: string[] }).required;
      expect(required.includes("generation"), type).toBe("generation" in (loggedPayload as { properties: object }).properties);
    }
  });

  it("takes from agents every event type the log knows, but the admin commands and the town's own side-effect results", () => {
    type FromAgents = Exclude<EventType, (typeof COMMAND_EVENT_TYPES)[number] | "dispatch_result">;
    // A new event type fails the type check here until it is either an agent callback or left out above.
    expectTypeOf<z.output<typeof IngestEvent>["type"]>().toEqualTypeOf<FromAgents>();
    expect(IngestEvent.options.map((option) => option.shape.type.value).sort()).toEqual([
      "agent_completed",
      "agent_done",
      "container_status",
      "pr_status_changed",
    ]);
  });
});
