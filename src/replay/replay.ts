import { advanceTown, type ActionResult } from "../domain/advance";
import { applyEvent } from "../domain/apply-event";
import { parseLoggedEvent, type LoggedEvent, type TownEvent } from "../domain/events";
import type { AgentId } from "../domain/ids";
import { enforceInvariants, invariantFocus } from "../domain/invariants";
import { queueFacts } from "../domain/queue";
import { stateFromSnapshot } from "../domain/snapshot";
import { stateSummary } from "../domain/state-summary";
import { compareTick, type Divergence } from "./divergence";
import type { HistoryTick } from "../db/tick-store";
import type { ReplayHistory } from "./history";
import { ReplayArchive } from "./replay-archive";
import { WorkBudget } from "./work-budget";

/** Diverging ticks reported in full by default (all of them are counted). */
const DIVERGENCES_SHOWN = 20;

export interface ReplayOptions {
  /** How many diverging ticks to report in full (default 20; the rest are counted). */
  readonly shown?: number;
  /** The work it may do (default: no bound). */
  readonly budget?: WorkBudget;
  /** Called after each tick is re-run (progress on a long history). */
  readonly onTick?: (tick: HistoryTick) => void;
}

/**
 * Rebuilds the town as it was, from its recorded history: start from the snapshot, re-run every
 * recorded tick (the commands logged before it, the observations it saw, the events it drained, the
 * same reconcile and the same invariant repairs), compare each tick from `from` on with what it
 * recorded, then reconcile at the history's end (`to`) with the events still pending then.
 *
 * The one implementation of replay: the debug route runs it over the town's storage, `npm run replay`
 * over a bundle exported from it, with the code of whatever build runs it — which is how a changed
 * rule shows the past decisions it would have made differently.
 */
export function replayHistory(history: ReplayHistory, from: number, options: ReplayOptions = {}): ReplayReport {
  const { snapshot, to } = history;
  const shown = options.shown ?? DIVERGENCES_SHOWN;
  const budget = options.budget ?? new WorkBudget(Number.POSITIVE_INFINITY);
  const saved = snapshot.state;
  // Finished beads come from the archive as it was when the snapshot was taken, and from the replay itself.
  const state = stateFromSnapshot(saved, new ReplayArchive(history.archive));
  // The entities of the violations open at each tick: the live tick re-checked them, so replay does.
  let watching: Array<{ agentIds: readonly string[]; beadIds: readonly string[] }> = saved.focus
    ? [{ agentIds: saved.focus.watching.agents, beadIds: saved.focus.watching.beads }]
    : [];
  // Failed attempts per event still in the queue (those pending at the snapshot start at theirs), and
  // the events that are done with.
  const failures = new Map<number, number>(snapshot.pending.map(([seq, attempts]) => [seq, attempts]));
  const settled = new Set<number>();
  // Commands apply the moment they are logged (each in its own transaction), so those after the
  // snapshot come before the first tick that saw them. They are read as the ticks reach them.
  const commands = history.commands()[Symbol.iterator]();
  let nextCommand = commands.next();
  let commandsRead = 0;
  const applyCommandsUpTo = (seq: number) => {
    while (!nextCommand.done && nextCommand.value.seq <= seq) {
      const event = parse(nextCommand.value);
      nextCommand = commands.next();
      commandsRead += 1;
      if (!event) continue;
      budget.spend(1);
      applyEvent(state, event, event.createdAt);
      history.assertComplete();
      state.commit();
      // The log's own commands: an operator retried or dropped a dead letter.
      if (event.type === "dead_letter_retried") failures.set(event.payload.seq, 0);
      if (event.type === "dead_letter_discarded") settled.add(event.payload.seq);
    }
  };

  const divergences: Divergence[] = [];
  let divergent = 0;
  let ticksReplayed = 0;
  let ticksInWindow = 0;
  let eventsReplayed = 0;
  let lastDrained = snapshot.logSeq;
  let lastTick: HistoryTick | undefined;

  for (const tick of history.ticks()) {
    ticksReplayed += 1;
    lastTick = tick;
    if (tick.result !== "ok") continue; // a failed tick kept nothing
    budget.spend(1);
    applyCommandsUpTo(tick.logSeq ?? Number.POSITIVE_INFINITY);
    for (const [agentId, lastHeartbeatAt] of tick.observations ?? []) {
      const agent = state.agent(agentId as AgentId);
      if (agent) state.replaceObserved({ ...agent, lastHeartbeatAt });
    }
    const seqs = tick.drainedSeqs ?? [];
    const drained = seqs.length === 0 ? [] : history.events(seqs);
    const events = drained.map(parse).filter((event): event is TownEvent => event !== null);
    const parsedSeqs = new Set(events.map((e) => e.seq));
    for (const row of drained) if (!parsedSeqs.has(row.seq)) failures.set(row.seq, (failures.get(row.seq) ?? 0) + 1);
    budget.spend(events.length);
    const advance = advanceTown(state, events, tick.at);
    history.assertComplete();
    budget.spend(advance.actions.length);
    for (const result of advance.events) {
      if (result.outcome === "failed") failures.set(result.seq, (failures.get(result.seq) ?? 0) + 1);
      else settled.add(result.seq);
    }
    for (const seq of seqs) if (seq > lastDrained) lastDrained = seq;
    eventsReplayed += advance.events.length;
    const queue = { oldestPendingAgeMs: tick.oldestPendingAgeMs, dead: tick.deadLetters };
    const { detected, repairs } = enforceInvariants(state, tick.at, queue, invariantFocus(state, tick.id, watching));
    history.assertComplete();
    budget.spend(repairs.length);
    watching = detected;
    state.commit();
    state.tickCommitted(tick.at, advance.claimed);

    if (tick.at >= from) {
      ticksInWindow += 1;
      const divergence = compareTick(
        tick,
        tick.actions ?? [],
        [...advance.actions, ...repairs].map(({ action }) => action),
      );
      if (divergence) {
        divergent += 1;
        if (divergences.length < shown) divergences.push(divergence);
      }
    }
    options.onTick?.(tick);
  }
  applyCommandsUpTo(Number.POSITIVE_INFINITY);
  eventsReplayed += commandsRead;
  const atTo = stateSummary(state);

  // What a tick at `to` would do with the events pending then: those no replayed tick drained, and
  // those that failed but still had attempts left.
  const maxAttempts = state.town.config.maxEventAttempts;
  const retrying = [...failures]
    .filter(([seq, n]) => !settled.has(seq) && n < maxAttempts)
    .map(([seq]) => seq)
    .sort((a, b) => a - b);
  const pending = [...history.events(retrying).filter((row) => row.createdAt <= to), ...history.callbacksAfter(lastDrained)].sort((a, b) => a.seq - b.seq);
  const pendingEvents = pending.map(parse).filter((event): event is TownEvent => event !== null);
  budget.spend(pendingEvents.length);
  const finalStep = advanceTown(state, pendingEvents, to);
  history.assertComplete();
  const queueAtTo = queueFacts({ oldestPendingAt: pending[0]?.createdAt ?? null, dead: lastTick?.deadLetters ?? 0 }, to);
  const { detected, repairs } = enforceInvariants(state, to, queueAtTo, invariantFocus(state, (lastTick?.id ?? snapshot.tickId) + 1, watching));
  history.assertComplete();

  return {
    from,
    to,
    snapshot: { id: snapshot.id, takenAt: snapshot.takenAt, tickId: snapshot.tickId },
    eventsReplayed: eventsReplayed + pendingEvents.length,
    ticksReplayed,
    ticksInWindow,
    pendingAtTo: pendingEvents.length,
    actions: [...finalStep.actions, ...repairs].map(describeResult),
    violationsAtTo: detected.map((v) => ({ invariant: v.invariant, key: v.key, message: v.message })),
    state: atTo,
    divergence: { ticks: divergent, shown: divergences },
  };
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

export type { Divergence };

function parse(row: LoggedEvent): TownEvent | null {
  const parsed = parseLoggedEvent(row);
  return parsed.ok ? parsed.event : null;
}

function describeResult({ action, refusal }: ActionResult) {
  return refusal === null ? action : { ...action, refused: refusal };
}
