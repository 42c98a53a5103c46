import { isId } from "../domain/ids";
import { quickStatusPayload } from "../domain/events";
import { IngestEvent, MAX_INGEST_BATCH, type IngestInput } from "./schemas";

/**
 * The events route's body, validated the way `IngestBody` validates it, for the cost of a few checks
 * an event on the shapes a flood is made of: a `container_status`, and an `agent_completed` without a
 * reason. Zod walks 1,000 events in 1.3 to 4 ms in the Worker (it may not compile its parsers there:
 * no eval), a large share of what the Worker does for a batch; these checks take a fraction of that.
 *
 * Exactly what `IngestBody.safeParse(value).data` would be, or undefined: the checks here only ever
 * accept what the schema accepts, and build what it builds (the same keys in the same order, `beadId`
 * null, the payload's keys in the schema's order — the log stores the payload's JSON, and a resent
 * event is told a duplicate by it). An event of any other shape is given to the schema itself, and
 * undefined means the body needs the schema: the caller validates it whole with `IngestBody`, so an
 * invalid body is refused in the same words as before (test/http/ingest-body.test.ts holds both to it).
 */
export function parseIngestBody(value: unknown): IngestInput | undefined {
  if (!isRecord(value)) return undefined;
  const events = value.events;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_INGEST_BATCH || !onlyKeys(value, TOP_KEYS)) return undefined;
  const out: IngestInput["events"] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event: unknown = events[i];
    const quick = quickEvent(event);
    if (quick) {
      out[i] = quick;
      continue;
    }
    const parsed = IngestEvent.safeParse(event);
    if (!parsed.success) return undefined;
    out[i] = parsed.data;
  }
  return { events: out };
}

type Event = IngestInput["events"][number];

const TOP_KEYS: ReadonlySet<string> = new Set(["events"]);
const EVENT_KEYS: ReadonlySet<string> = new Set(["eventId", "type", "agentId", "beadId", "payload"]);
/** The client's event id (schemas.ts): 1 to 200 characters. */
const MAX_EVENT_ID = 200;

/** One event on a quick shape, as the schema would give it back; null: let the schema decide. */
function quickEvent(event: unknown): Event | null {
  if (!isRecord(event) || !onlyKeys(event, EVENT_KEYS)) return null;
  const { eventId, type, agentId, beadId, payload } = event;
  if (typeof eventId !== "string" || eventId.length < 1 || eventId.length > MAX_EVENT_ID) return null;
  if ((beadId !== undefined && beadId !== null) || !isId(agentId)) return null;
  const quick = quickStatusPayload(type, payload);
  return quick ? ({ eventId, type, agentId, beadId: null, payload: quick } as Event) : null;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Every own key is one of `allowed` (a strict schema refuses any other). */
function onlyKeys(value: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key in value) if (!allowed.has(key) || !Object.hasOwn(value, key)) return false;
  return true;
}
