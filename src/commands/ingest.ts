import type { HeartbeatInput, IngestInput } from "../api/schemas";
import { EVENT_ROW_OVERHEAD, type NewEvent } from "../db/event-store";
import type { AgentId } from "../domain/ids";
import { isLive, noStopOwedFor, type Agent, type ContainerStatus } from "../domain/model";
import { article } from "../domain/format";
import { clientEventId, sameContent, shownEventId, toNewEvent } from "../db/event-rows";
import { agentNotFound, fail, ok, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";

export interface IngestOutcome {
  readonly accepted: number;
  readonly duplicates: number;
}

/**
 * Who sends a batch: the platform with the town's agent token, or one working agent's container with
 * its dispatch credential — whose callbacks go in their own lane, drained first (DESIGN §4.8).
 */
export type IngestSource = { readonly kind: "town" } | { readonly kind: "dispatch"; readonly agentId: string; readonly generation: number };

/** A working agent's own callbacks may take the event log this much past its byte budget. */
const OWN_BYTES_RESERVE = 0.1;
/** Retry-After for a full event log: retention is due at once and deletes a bounded batch per tick. */
const BUDGET_RETRY_SECONDS = 60;

const count = (n: number) => n.toLocaleString("en-US");

/**
 * Bounded intake (DESIGN §4.8), all checked before anything is appended, at the cost of one read of
 * the log's totals (and, for a credential's batch, a count of its agent's own waiting callbacks, which
 * its bound keeps small): the queue's bound (the town's, or the agent's own share of it), the event
 * log's byte budget, then the rate of the token — taken last, so a batch refused for another reason
 * costs the sender nothing. Null: the batch may go in.
 */
export function refusedIntake(runtime: TownRuntime, source: IngestSource, events: readonly NewEvent[], now: number): ReturnType<typeof fail> | null {
  const { store, state, ingestBuckets } = runtime;
  const config = state.town.config;
  const totals = store.events.totals();
  const n = events.length;
  if (source.kind === "town") {
    if (totals.pending + n > config.maxPendingEvents) {
      const retry = drainSeconds(totals.pending + n - config.maxPendingEvents, config.drainBatchSize);
      return fail(
        "queue_full",
        `pending events ${count(totals.pending)} of ${count(config.maxPendingEvents)}: this batch of ${count(n)} would pass the town's bound (maxPendingEvents); nothing was stored; try again in ${retry} s`,
        retry,
      );
    }
  } else {
    const own = store.events.pendingOwn(source.agentId);
    if (own + n > config.maxPendingEventsPerAgent) {
      const retry = drainSeconds(own + n - config.maxPendingEventsPerAgent, config.drainBatchSize);
      return fail(
        "queue_full",
        `pending events of ${source.agentId}'s own container ${count(own)} of ${count(config.maxPendingEventsPerAgent)}: this batch of ${count(n)} would pass its bound (maxPendingEventsPerAgent); nothing was stored; try again in ${retry} s`,
        retry,
      );
    }
  }
  const bytes = events.reduce((sum, e) => sum + weight(e), 0);
  const budget = source.kind === "town" ? config.eventBytesBudget : Math.floor(config.eventBytesBudget * (1 + OWN_BYTES_RESERVE));
  if (totals.bytes + bytes > budget) {
    return fail(
      "event_budget_full",
      `event bytes ${count(totals.bytes)} of ${count(budget)}: this batch of ${count(bytes)} bytes would pass the town's budget (eventBytesBudget); nothing was stored; retention makes room (eventRetentionBytes ${count(config.eventRetentionBytes)}): try again in ${BUDGET_RETRY_SECONDS} s`,
      BUDGET_RETRY_SECONDS,
    );
  }
  const key = source.kind === "town" ? "agent token" : `dispatch ${source.agentId}@${source.generation}`;
  const verdict = ingestBuckets.take(key, n, now, config.ingestRate);
  if (!verdict.ok) {
    const { eventsPerSecond, burst } = config.ingestRate;
    return fail(
      "rate_limited",
      `too many events from this token: ${count(eventsPerSecond)} a second in bursts of at most ${count(burst)} (ingestRate); this batch of ${count(n)} was refused whole; try again in ${verdict.retryAfterSeconds} s`,
      verdict.retryAfterSeconds,
    );
  }
  return null;
}

/** Seconds until `excess` events have drained, counting one batch a second (a tick drains one every few tens of ms when it keeps up). */
const drainSeconds = (excess: number, batch: number) => Math.min(60, Math.max(1, Math.ceil(excess / batch)));

/**
 * An event's weight as the log counts it (EVENT_BYTES in event-store.ts), from its texts' lengths:
 * UTF-16 units, not bytes, so a batch of non-ASCII text weighs a little light here — by at most what
 * one request carries (1 MiB), which the log's totals then count exactly.
 */
const weight = (e: NewEvent) => e.payload.length + e.eventId.length + e.type.length + (e.agentId?.length ?? 0) + (e.beadId?.length ?? 0) + EVENT_ROW_OVERHEAD;

/**
 * Agent callbacks: checked, then logged as pending for the next tick. A batch is all or nothing: an
 * unknown agent, an event id reused with different content or a bound of the intake rejects it whole,
 * and nothing is stored. An event id seen before with the same content is acknowledged as a duplicate
 * and not stored again.
 */
export function ingestEvents(runtime: TownRuntime, input: IngestInput, now: number, source: IngestSource = { kind: "town" }): Result<IngestOutcome> {
  const { state, store } = runtime;
  for (const event of input.events) {
    if (event.agentId && !state.agent(event.agentId)) {
      return fail("agent_not_found", `event ${event.eventId}: agent ${event.agentId} does not exist in this town`);
    }
    if (event.type === "pr_status_changed") {
      const bead = state.bead(event.beadId);
      if (!bead) return fail("bead_not_found", `event ${event.eventId}: bead ${event.beadId} does not exist in this town`);
      if (bead.type !== "merge_request") {
        return fail("invalid_request", `event ${event.eventId}: bead ${event.beadId} is ${article(bead.type)}, not a merge request`);
      }
    }
  }

  const incoming = new Map<string, NewEvent>();
  let duplicates = 0;
  for (const event of input.events) {
    const row = toNewEvent(clientEventId(event.eventId), event, now);
    const earlier = incoming.get(row.eventId);
    if (earlier) {
      if (!sameContent(earlier, row)) {
        return conflict(event.eventId);
      }
      duplicates += 1;
      continue;
    }
    incoming.set(row.eventId, row);
  }
  const refused = refusedIntake(runtime, source, [...incoming.values()], now);
  if (refused) {
    const reason = refused.error.code;
    runtime.refusedSinceTick.set(reason, (runtime.refusedSinceTick.get(reason) ?? 0) + incoming.size);
    return refused;
  }
  // Insert first (the common case has no repeats); ids already in the log are then compared, and a
  // conflicting one rolls the whole batch back.
  try {
    const accepted = store.transaction(() => {
      const lane = source.kind === "dispatch" ? "own" : null;
      const inserted = new Set(store.events.append([...incoming.values()], null, lane).map((row) => row.eventId));
      const repeated = [...incoming.keys()].filter((id) => !inserted.has(id));
      for (const stored of repeated.length > 0 ? store.events.byIds(repeated) : []) {
        if (!sameContent(stored, incoming.get(stored.eventId)!)) throw new EventConflict(stored.eventId);
      }
      duplicates += repeated.length;
      return inserted.size;
    });
    return ok({ accepted, duplicates });
  } catch (error) {
    if (error instanceof EventConflict) return conflict(shownEventId(error.eventId).eventId);
    throw error;
  }
}

class EventConflict extends Error {
  constructor(readonly eventId: string) {
    super(`event id ${eventId} reused`);
  }
}

const conflict = (eventId: string) => fail("event_conflict", `event id ${eventId} was already used for a different event; use a new id for a new event`);

/** Statuses that mean the container is gone or broken. */
const FAILURE_STATUSES: ReadonlySet<ContainerStatus> = new Set(["exited", "not_found", "error"]);

/**
 * A heartbeat / container status observation. From the agent's current, live container it updates the
 * agent's observation columns; only a meaningful change becomes a `container_status` event (the noise
 * filter, DESIGN §4.2): a status that differs from the last one observed, or a failure status while the
 * agent is still live.
 *
 * From a container the town does not want — an older generation's, or one of an idle or retired agent —
 * it is refused (409: the container should stop), and the first such report logs a `container_status`
 * event, from which the next tick owes that container a stop (DESIGN §4.4). `logged`: an event was logged.
 */
export function observeAgent(runtime: TownRuntime, agentId: AgentId, input: HeartbeatInput, now: number): { result: Result<null>; logged: boolean } {
  const { state, store, observations } = runtime;
  const agent = state.agent(agentId);
  if (!agent) return { result: agentNotFound(agentId), logged: false };
  const refusal = unwanted(agent, input.generation);
  if (refusal) return { result: refusal, logged: reportUnwanted(runtime, agent, input, now) };
  const status = input.containerStatus;
  const previous = observations.get(agentId)?.observedContainerStatus ?? null;
  const alive = status === undefined || !FAILURE_STATUSES.has(status);
  const lastHeartbeatAt = alive ? now : agent.lastHeartbeatAt;
  const meaningful = status !== undefined && (status !== previous || (FAILURE_STATUSES.has(status) && isLive(agent)));
  const observation = { observedAt: now, observedContainerStatus: status ?? previous };

  store.transaction(() => {
    store.state.saveObservation(agentId, lastHeartbeatAt, observation);
    if (meaningful) {
      const body = { type: "container_status", agentId, beadId: null, payload: { generation: input.generation, status } } as const;
      store.events.append([toNewEvent(`observed:${agentId}@${input.generation}:${status}:${now}`, body, now)]);
    }
  });
  state.replaceObserved({ ...agent, lastHeartbeatAt });
  observations.set(agentId, observation);
  runtime.observedSinceTick.add(agentId);
  return { result: ok(null), logged: meaningful };
}

/** Why a container of this generation is not one the town runs, or null if it is the agent's live one. */
function unwanted(agent: Agent, generation: number) {
  if (agent.status === "dead") return fail("agent_retired", `agent ${agent.id} was retired; stop its container`);
  if (generation !== agent.generation) {
    return fail("stale_generation", `agent ${agent.id} is at generation ${agent.generation}; a container of generation ${generation} is stale and should stop`);
  }
  if (!isLive(agent)) return fail("agent_idle", `agent ${agent.id} has no work at generation ${generation} (it is ${agent.status}); stop this container`);
  return null;
}

/**
 * Logs that a container the town does not want says it runs, once per stop the town owes it: the
 * event id names the agent's state, so a container that keeps reporting before the next tick logs it
 * once, and one that outlives a confirmed stop logs it again.
 */
function reportUnwanted(runtime: TownRuntime, agent: Agent, input: HeartbeatInput, now: number): boolean {
  const status = input.containerStatus ?? "running";
  if (noStopOwedFor(agent, input.generation, status) !== null) return false;
  const body = { type: "container_status", agentId: agent.id, beadId: null, payload: { generation: input.generation, status } } as const;
  const logged = runtime.store.events.append([toNewEvent(`observed:${agent.id}@${input.generation}:unwanted:${agent.updatedAt}`, body, now)]);
  return logged.length > 0;
}
