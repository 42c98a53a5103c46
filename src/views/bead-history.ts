import { MAX_HISTORY_ENTRIES } from "../api/schemas";
import type { StoredEvent } from "../db/event-store";
import { shownEventId } from "../db/event-rows";
import { COMMAND_EVENT_TYPES } from "../domain/events";
import type { BeadId } from "../domain/ids";
import { isFinished } from "../domain/model";
import { beadNotFound, ok, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";

/** Entries per answer when the request names no limit. */
export const DEFAULT_HISTORY_ENTRIES = 200;
/** How long after a bead finished what followed still belongs to it (its agent's stop, the stop's result). */
const AFTERMATH_MS = 15 * 60_000;
/** Ticks read at most for one answer (the window's ticks that name the bead or its agents). */
const MAX_TICKS = 20_000;

export type HistoryEntry =
  /** An operator's command on the bead (slung, edited, held, released, retried, cancelled, requeued). */
  | { readonly at: number; readonly kind: "command"; readonly type: string; readonly seq: number; readonly details: Readonly<Record<string, unknown>> }
  /** An agent's or the platform's report about the bead's work. */
  | {
      readonly at: number;
      readonly kind: "event";
      readonly type: string;
      readonly seq: number;
      readonly agentId: string | null;
      readonly details: Readonly<Record<string, unknown>>;
    }
  /** What a rule (or an invariant's repair) did about the bead or the agent working on it, and why. */
  | {
      readonly at: number;
      readonly kind: "action";
      readonly type: string;
      readonly tickId: number;
      readonly rule: string;
      readonly reason: string | null;
      readonly details: Readonly<Record<string, unknown>>;
    }
  /** A call to the container service for the bead's agent, and how it went. */
  | {
      readonly at: number;
      readonly kind: "effect";
      readonly type: string;
      readonly seq: number;
      readonly agentId: string | null;
      readonly generation: number;
      readonly outcome: string;
      readonly error?: string;
    };

/**
 * A bead's timeline within retention, oldest first, from what the town records anyway — no second
 * copy: the log's events that name the bead (the commands, a PR's status), the tick records whose
 * actions name it or the agents dispatched to it (dispatches, status changes, stops, with rule and
 * reason), and the events of each of those dispatches (the agent's reports and the container service's
 * results). Read by index: the bead's own events, and per dispatch its agent's events of that
 * generation; the ticks of the bead's lifetime (to a little after it finished) are scanned for its id.
 * When there is more than `limit`, the newest are answered and `truncated` says so.
 */
export function beadHistory(
  runtime: TownRuntime,
  beadId: BeadId,
  limit: number | undefined,
  now: number,
): Result<{ beadId: BeadId; entries: HistoryEntry[]; truncated: boolean }> {
  const { state, store } = runtime;
  const bead = state.bead(beadId);
  if (!bead) return beadNotFound(beadId);
  const cap = Math.min(limit ?? DEFAULT_HISTORY_ENTRIES, MAX_HISTORY_ENTRIES);
  const to = isFinished(bead) ? Math.min(now, bead.updatedAt + AFTERMATH_MS) : now;
  // Each entry with its place in the log: an event's seq, a tick's actions just after the events logged before it ran.
  const entries: Array<{ entry: HistoryEntry; position: number }> = [];
  const fromLog = (event: StoredEvent) => entries.push({ entry: eventEntry(event), position: event.seq });

  for (const event of store.events.namingBead(beadId, MAX_HISTORY_ENTRIES)) fromLog(event);

  // The dispatches of the bead, then every action on it or on the agent of a dispatch, generation by generation.
  const ticks = store.ticks.actionsNaming({ beads: [beadId], agents: [] }, bead.createdAt, to, MAX_TICKS);
  const dispatches = new Map<string, { agentId: string; generation: number; afterSeq: number }>();
  for (const tick of ticks) {
    for (const action of tick.actions as RecordedAction[]) {
      if (action.type === "dispatch_agent" && action.beadId === beadId && action.agentId && typeof action.generation === "number") {
        dispatches.set(`${action.agentId}@${action.generation}`, { agentId: action.agentId, generation: action.generation, afterSeq: tick.logSeq ?? 0 });
      }
    }
  }
  const agents = [...new Set([...dispatches.values()].map((d) => d.agentId))];
  const agentTicks = agents.length > 0 ? store.ticks.actionsNaming({ beads: [beadId], agents }, bead.createdAt, to, MAX_TICKS) : ticks;
  for (const tick of agentTicks) {
    for (const action of tick.actions as RecordedAction[]) {
      if (concerns(action, beadId, dispatches)) entries.push({ entry: actionEntry(tick, action), position: (tick.logSeq ?? 0) + 0.5 });
    }
  }
  for (const { agentId, generation, afterSeq } of dispatches.values()) {
    for (const event of store.events.ofGeneration(agentId, generation, afterSeq, to, MAX_HISTORY_ENTRIES)) fromLog(event);
  }

  entries.sort((a, b) => a.entry.at - b.entry.at || a.position - b.position);
  const truncated = entries.length > cap;
  return ok({ beadId, entries: (truncated ? entries.slice(-cap) : entries).map(({ entry }) => entry), truncated });
}

/** An action as a tick recorded it. */
interface RecordedAction {
  readonly type: string;
  readonly rule: string;
  readonly reason?: string;
  readonly agentId?: string;
  readonly beadId?: string;
  readonly generation?: number;
  readonly [field: string]: unknown;
}

/**
 * Whether a recorded action is about the bead: it names the bead, or it names an agent dispatched to
 * it with that dispatch's generation (a stop, a release, a stop asked for again). A status change of an
 * agent names no generation; it belongs to the bead while the agent holds it, which the bead's own
 * actions around it show — so it is left out rather than guessed at.
 */
function concerns(action: RecordedAction, beadId: BeadId, dispatches: ReadonlyMap<string, unknown>): boolean {
  if (action.beadId === beadId) return true;
  return action.agentId !== undefined && typeof action.generation === "number" && dispatches.has(`${action.agentId}@${action.generation}`);
}

function actionEntry(tick: { id: number; at: number }, action: RecordedAction): HistoryEntry {
  const { type, rule, reason, ...details } = action;
  return { at: tick.at, kind: "action", type, tickId: tick.id, rule, reason: reason ?? null, details };
}

const COMMANDS: ReadonlySet<string> = new Set(COMMAND_EVENT_TYPES);

function eventEntry(event: StoredEvent): HistoryEntry {
  const payload = parsed(event.payload);
  if (event.type === "dispatch_result") {
    const error = typeof payload.error === "string" ? { error: payload.error } : {};
    return {
      at: event.createdAt,
      kind: "effect",
      type: String(payload.kind ?? "dispatch"),
      seq: event.seq,
      agentId: event.agentId,
      generation: Number(payload.generation ?? 0),
      outcome: String(payload.outcome ?? "unknown"),
      ...error,
    };
  }
  if (COMMANDS.has(event.type)) {
    // A retry carries the bead as it was, an edit or a creation its body: the entry shows what was asked, not those.
    const { bead: _bead, body, ...details } = payload;
    return {
      at: event.createdAt,
      kind: "command",
      type: event.type,
      seq: event.seq,
      details: body === undefined ? details : { ...details, bodyChanged: true },
    };
  }
  return {
    at: event.createdAt,
    kind: "event",
    type: event.type,
    seq: event.seq,
    agentId: event.agentId,
    details: { ...payload, eventId: shownEventId(event.eventId).eventId },
  };
}

function parsed(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
