import type { EventBody } from "../domain/events";
import type { NewEvent } from "../db/event-store";

/** A validated event as a row to append to the log. */
export function toNewEvent(
  eventId: string,
  body: { readonly type: EventBody["type"]; readonly agentId?: string | null; readonly beadId?: string | null; readonly payload: unknown },
  createdAt: number,
): NewEvent {
  return {
    eventId,
    type: body.type,
    agentId: body.agentId ?? null,
    beadId: body.beadId ?? null,
    payload: JSON.stringify(body.payload),
    createdAt,
  };
}

/** Whether a stored event carries the same content as a new one (same id reused → duplicate, not conflict). */
export function sameContent(a: NewEvent, b: NewEvent): boolean {
  return a.type === b.type && a.agentId === b.agentId && a.beadId === b.beadId && a.payload === b.payload;
}
