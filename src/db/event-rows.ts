import type { EventBody } from "../domain/events";
import type { NewEvent } from "./event-store";

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

/**
 * Event ids a client sends live in their own namespace: stored under this prefix, so nothing a client
 * sends can collide with an id the town writes for its own commands and side-effect results (which
 * would let a careless or hostile id block a command or swallow a result). Idempotency holds within it.
 */
const CLIENT_PREFIX = "agent:";

export const clientEventId = (eventId: string): string => `${CLIENT_PREFIX}${eventId}`;

/** An id as its author knows it: a client's own id, or one the town wrote. */
export function shownEventId(stored: string): { eventId: string; source: "agent" | "town" } {
  return stored.startsWith(CLIENT_PREFIX) ? { eventId: stored.slice(CLIENT_PREFIX.length), source: "agent" } : { eventId: stored, source: "town" };
}
