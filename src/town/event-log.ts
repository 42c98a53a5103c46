import { EventBodySchema, type EventBody, type TownEvent } from "../domain/events";
import type { NewEvent, StoredEvent } from "../db/event-store";

/** Each type's schema, looked up directly (the drain parses a thousand rows a tick). */
const SCHEMA_BY_TYPE = new Map(EventBodySchema.options.map((option) => [option.shape.type.value as string, option]));

/** A stored row back into a typed event, validated again: the log may hold rows older code wrote. */
export function parseStoredEvent(row: StoredEvent): { ok: true; event: TownEvent } | { ok: false; error: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch (error) {
    return { ok: false, error: `payload is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const schema = SCHEMA_BY_TYPE.get(row.type);
  if (!schema) return { ok: false, error: `unknown event type ${row.type}` };
  const parsed = schema.safeParse({ type: row.type, agentId: row.agentId, beadId: row.beadId, payload });
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, error: `invalid ${row.type} event: ${first ? `${first.path.join(".") || "event"}: ${first.message}` : "schema mismatch"}` };
  }
  return { ok: true, event: { ...(parsed.data as EventBody), seq: row.seq, eventId: row.eventId, createdAt: row.createdAt } };
}

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
