import { advanceTown, type ActionResult } from "../domain/advance";
import { recordable } from "../domain/actions";
import { applyEvent } from "../domain/apply-event";
import { COMMAND_EVENT_TYPES, type TownEvent } from "../domain/events";
import { enforceInvariants, invariantScope } from "../domain/invariants";
import { stateFromSnapshot, type StateSnapshot } from "../domain/snapshot";
import { stateSummary } from "../domain/summary";
import type { AgentId } from "../domain/ids";
import type { StoredEvent } from "../db/event-store";
import type { TickRow } from "../db/tick-store";
import type { TownStore } from "../db/town-store";
import { ReplayArchive } from "./archive";
import { parseStoredEvent } from "./event-log";
import { fail, ok, type Result } from "./result";

/** What one replay may cost at most; over it the request is refused with 413. */
export const REPLAY_LIMITS = {
  /** Longest window. */
  maxWindowMs: 24 * 3_600_000,
  /** Events read from the log (from the snapshot before the window to its end). */
  maxEvents: 200_000,
  /** Ticks re-run (from the snapshot before the window to its end). */
  maxTicks: 50_000,
} as const;

const DIVERGENCES_SHOWN = 20;

export interface Divergence {
  readonly tickId: number;
  readonly at: number;
  readonly recorded: readonly unknown[];
  readonly replayed: readonly unknown[];
}

/**
 * Rebuilds the town as it was, without touching it: start from the last snapshot at or before `from`,
 * re-run the recorded history tick by tick (the commands logged before each tick, the observations
 * it saw, the events it drained, the same reconcile and the same invariant repairs), compare each
 * tick inside the window with what was recorded, then reconcile at `to` with the events still
 * pending then. The answer to "what did the town think at that moment, and why".
 */
export function replayWindow(store: TownStore, from: number, to: number, now: number): Result<ReplayReport> {
  if (to > now) return fail(400, "invalid_request", `to (${iso(to)}) is in the future; the town's clock says ${iso(now)}`);
  if (to - from > REPLAY_LIMITS.maxWindowMs) {
    return fail(413, "replay_too_large", `the window is ${hours(to - from)} h; replay covers at most ${hours(REPLAY_LIMITS.maxWindowMs)} h`);
  }
  // Before the town's first snapshot there was no town (or nothing is kept): start from the creation
  // snapshot if that is what the first one is, else the history is gone.
  const snapshot = store.snapshots.atOrBefore(from) ?? store.snapshots.creation();
  if (!snapshot) {
    const oldest = store.snapshots.oldestAt();
    return fail(400, "history_unavailable", `there is no snapshot at or before ${iso(from)}; replay can start from ${oldest === null ? "no earlier moment" : iso(oldest)}`);
  }

  // The history after the snapshot must be complete: nothing pruned in between.
  const logSeq = store.events.maxSeq();
  if (store.events.countBetween(snapshot.logSeq, logSeq) !== logSeq - snapshot.logSeq) {
    return fail(400, "history_unavailable", `events after the snapshot of ${iso(snapshot.takenAt)} were pruned; pick a more recent window`);
  }
  const oldestTick = store.ticks.oldestId();
  if (oldestTick !== null && oldestTick > snapshot.tickId + 1) {
    return fail(400, "history_unavailable", `ticks after the snapshot of ${iso(snapshot.takenAt)} were pruned; pick a more recent window`);
  }
  const ticks = store.ticks.after(snapshot.tickId, to, REPLAY_LIMITS.maxTicks + 1);
  if (ticks.length > REPLAY_LIMITS.maxTicks) {
    return fail(413, "replay_too_large", `replaying to ${iso(to)} re-runs more than ${REPLAY_LIMITS.maxTicks} ticks; choose a shorter or later window`);
  }
  // The cost bound: every event after the snapshot, up to `to`, may be read.
  if (store.events.countAfter(snapshot.logSeq, to) > REPLAY_LIMITS.maxEvents) {
    return fail(413, "replay_too_large", `replaying to ${iso(to)} reads more than ${REPLAY_LIMITS.maxEvents} events; choose a shorter or later window`);
  }

  const saved = JSON.parse(snapshot.json) as StateSnapshot;
  // Finished beads come from the archive as it was when the snapshot was taken, and from the replay itself.
  const state = stateFromSnapshot(saved, new ReplayArchive(store.state, saved.finished));
  // The entities of the violations open at each tick: the live tick re-checked them, so replay does.
  let watching: Array<{ agentIds: readonly string[]; beadIds: readonly string[] }> = saved.focus
    ? [{ agentIds: saved.focus.watching.agents, beadIds: saved.focus.watching.beads }]
    : [];
  // Failed attempts per event still in the queue (those pending at the snapshot start at theirs), and
  // the events that are done with.
  const failures = new Map<number, number>(snapshot.pending);
  const settled = new Set<number>();
  // Commands apply the moment they are logged (each in its own transaction), so those after the
  // snapshot come before the first tick that saw them.
  const commands = store.events.ofTypesAfter(snapshot.logSeq, to, COMMAND_EVENT_TYPES);
  let nextCommand = 0;
  const applyCommandsUpTo = (seq: number) => {
    while (nextCommand < commands.length && commands[nextCommand]!.seq <= seq) {
      const event = parse(commands[nextCommand++]!);
      if (!event) continue;
      applyEvent(state, event, event.createdAt);
      state.commit();
      // The log's own commands: an operator retried or dropped a dead letter.
      if (event.type === "dead_letter_retried") failures.set(event.payload.seq, 0);
      if (event.type === "dead_letter_discarded") settled.add(event.payload.seq);
    }
  };

  // Events are read tick by tick, never all at once: a long history stays within the isolate's memory.
  const divergences: Divergence[] = [];
  let divergent = 0;
  let ticksInWindow = 0;
  let eventsReplayed = 0;
  let lastDrained = snapshot.logSeq;

  for (const tick of ticks) {
    if (tick.result !== "ok") continue; // a failed tick kept nothing
    applyCommandsUpTo(tick.logSeq ?? Infinity);
    for (const [agentId, lastHeartbeatAt] of (tick.observations ?? []) as Array<[string, number | null]>) {
      const agent = state.agent(agentId as AgentId);
      if (agent) state.replaceObserved({ ...agent, lastHeartbeatAt });
    }
    const seqs = (tick.drainedSeqs ?? []) as number[];
    const wanted = new Set(seqs);
    const drained = seqs.length === 0 ? [] : store.events.inSeqRange(Math.min(...seqs), Math.max(...seqs)).filter((row) => wanted.has(row.seq));
    const events = drained.map(parse).filter((event): event is TownEvent => event !== null);
    const parsedSeqs = new Set(events.map((e) => e.seq));
    for (const row of drained) if (!parsedSeqs.has(row.seq)) failures.set(row.seq, (failures.get(row.seq) ?? 0) + 1);
    const advance = advanceTown(state, events, tick.at);
    for (const result of advance.events) {
      if (result.outcome === "failed") failures.set(result.seq, (failures.get(result.seq) ?? 0) + 1);
      else settled.add(result.seq);
    }
    if (seqs.length > 0) lastDrained = Math.max(lastDrained, ...seqs);
    eventsReplayed += advance.events.length;
    const queue = { oldestPendingAt: tick.oldestPendingAgeMs === null ? null : tick.at - tick.oldestPendingAgeMs, dead: tick.deadLetters };
    const { detected, repairs } = enforceInvariants(state, tick.at, queue, invariantScope(state, tick.id, watching));
    watching = detected;
    state.commit();
    state.tickCommitted(tick.at, advance.claimed);

    if (tick.at >= from) {
      ticksInWindow += 1;
      const replayed = recordable([...advance.actions, ...repairs]);
      const recorded = (tick.actions ?? []) as unknown[];
      if (JSON.stringify(replayed) !== JSON.stringify(recorded)) {
        divergent += 1;
        if (divergences.length < DIVERGENCES_SHOWN) divergences.push({ tickId: tick.id, at: tick.at, recorded, replayed });
      }
    }
  }
  applyCommandsUpTo(Infinity);
  eventsReplayed += nextCommand;
  const atTo = stateSummary(state);

  // What a tick at `to` would do with the events pending then: those no replayed tick drained, and
  // those that failed but still had attempts left.
  const maxAttempts = state.town.config.maxEventAttempts;
  const retrying = [...failures].filter(([seq, n]) => !settled.has(seq) && n < maxAttempts).map(([seq]) => seq);
  const pending = [
    ...store.events.bySeqs(retrying).filter((row) => row.createdAt <= to),
    ...store.events.notOfTypesAfter(lastDrained, to, COMMAND_EVENT_TYPES, REPLAY_LIMITS.maxEvents),
  ].sort((a, b) => a.seq - b.seq);
  const pendingEvents = pending.map(parse).filter((event): event is TownEvent => event !== null);
  const finalStep = advanceTown(state, pendingEvents, to);
  const last = ticks.at(-1);
  const queueAtTo = { oldestPendingAt: pending[0]?.createdAt ?? null, dead: last?.deadLetters ?? 0 };
  const { detected, repairs } = enforceInvariants(state, to, queueAtTo, invariantScope(state, (last?.id ?? snapshot.tickId) + 1, watching));

  return ok({
    from,
    to,
    snapshot: { id: snapshot.id, takenAt: snapshot.takenAt, tickId: snapshot.tickId },
    eventsReplayed: eventsReplayed + pendingEvents.length,
    ticksReplayed: ticks.length,
    ticksInWindow,
    pendingAtTo: pendingEvents.length,
    actions: [...finalStep.actions, ...repairs].map(describeResult),
    violationsAtTo: detected.map((v) => ({ invariant: v.invariant, key: v.key, message: v.message })),
    state: atTo,
    divergence: { ticks: divergent, shown: divergences },
  });
}

export type ReplayReport = {
  from: number;
  to: number;
  snapshot: { id: number; takenAt: number; tickId: number };
  eventsReplayed: number;
  ticksReplayed: number;
  ticksInWindow: number;
  pendingAtTo: number;
  actions: ReturnType<typeof describeResult>[];
  violationsAtTo: Array<{ invariant: number; key: string; message: string }>;
  state: ReturnType<typeof stateSummary>;
  divergence: { ticks: number; shown: Divergence[] };
};

function parse(row: StoredEvent): TownEvent | null {
  const parsed = parseStoredEvent(row);
  return parsed.ok ? parsed.event : null;
}

function describeResult({ action, refusal }: ActionResult) {
  return refusal === null ? action : { ...action, refused: refusal };
}

const iso = (ms: number) => new Date(ms).toISOString();
const hours = (ms: number) => Math.round((ms / 3_600_000) * 10) / 10;

export type { TickRow };
