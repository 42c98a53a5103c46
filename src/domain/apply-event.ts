import { resolveConfig } from "./config";
import type { EventOf, TownEvent } from "./events";
import { mergeRequestIdFor } from "./ids";
import type { Agent, Bead, RecordedBead } from "./model";
import { isLive, isFinished, newBead, noStopOwedFor, upgradedBead } from "./model";
import { withReopen } from "./flapping";
import {
  failure,
  idleAgent,
  markProgress,
  oweStop,
  pause,
  recordDispatchFailure,
  recordDispatchSuccess,
  resume,
  setAgentStatus,
  setBeadStatus,
  settleStop,
  startMeter,
  unhookAgent,
} from "./mutations";
import type { TownState } from "./state";
import { canTransitionBead } from "./transitions";
import { article } from "./format";

/** Applied, or deliberately ignored (a stale callback, a duplicate command): never an error. */
export type EventOutcome = { readonly applied: true } | { readonly applied: false; readonly ignored: string };

const APPLIED: EventOutcome = { applied: true };
const ignored = (why: string): EventOutcome => ({ applied: false, ignored: why });

/**
 * Applies one event to the state. Events report facts; the reconciler decides what follows from them
 * (a cancelled bead's agent is stopped by a rule, not here).
 */
export function applyEvent(state: TownState, event: TownEvent, now: number): EventOutcome {
  switch (event.type) {
    case "town_configured":
      return configureTown(state, event, now);
    case "rig_added":
      return addRig(state, event, now);
    case "bead_created":
      return createIssue(state, event, now);
    case "bead_cancelled":
      return cancelBead(state, event, now);
    case "convoy_created":
      return createConvoy(state, event, now);
    case "agent_done":
      return agentDone(state, event, now);
    case "agent_completed":
      return agentCompleted(state, event, now);
    case "pr_status_changed":
      return prStatusChanged(state, event, now);
    case "container_status":
      return containerStatus(state, event, now);
    case "dispatch_result":
      return dispatchResult(state, event, now);
    case "bead_retried":
      return retryBead(state, event, now);
    case "bead_held":
      return holdBead(state, event, now, true);
    case "bead_released":
      return holdBead(state, event, now, false);
    case "bead_edited":
      return editBead(state, event, now);
    case "bead_requeued":
      return requeueBead(state, event, now);
    case "rig_deleted":
      return deleteRig(state, event, now);
    case "town_paused":
      return pauseTown(state, event, now);
    case "town_resumed":
      return resumeTown(state, event, now);
    case "dead_letter_retried":
    case "dead_letter_discarded":
      // They act on the event log (the queue), not on the town: logged so that replay sees them.
      return APPLIED;
    default:
      return assertNever(event);
  }
}

function assertNever(event: never): never {
  throw new Error(`unknown event type ${(event as { type: string }).type}`);
}

function configureTown(state: TownState, event: EventOf<"town_configured">, now: number): EventOutcome {
  const overrides = event.payload.overrides;
  state.setTown({ ...state.town, overrides, config: resolveConfig(overrides), updatedAt: now });
  return APPLIED;
}

function addRig(state: TownState, event: EventOf<"rig_added">, now: number): EventOutcome {
  const { rigId, name, gitUrl, defaultBranch } = event.payload;
  if (state.rig(rigId)) return ignored(`rig ${rigId} already exists`);
  // A rig added again after a delete counts its agents on: agent ids are never reused (fencing).
  const agentSeq = state.rigRecord(rigId)?.agentSeq ?? 0;
  state.putRig({ id: rigId, name, gitUrl, defaultBranch, agentSeq, deletedAt: null, createdAt: now, updatedAt: now });
  return APPLIED;
}

function createIssue(state: TownState, event: EventOf<"bead_created">, now: number): EventOutcome {
  const { rigId, title, priority, blockedBy, held } = event.payload;
  if (state.bead(event.beadId)) return ignored(`bead ${event.beadId} already exists`);
  if (!state.rig(rigId)) return ignored(`rig ${rigId} does not exist`);
  state.putBead(newBead({ id: event.beadId, rigId, type: "issue", title, priority, blockedBy, held }, now));
  return APPLIED;
}

function createConvoy(state: TownState, event: EventOf<"convoy_created">, now: number): EventOutcome {
  if (state.bead(event.beadId)) return ignored(`bead ${event.beadId} already exists`);
  const { title, beadIds } = event.payload;
  state.putBead(newBead({ id: event.beadId, rigId: null, type: "convoy", title, tracked: beadIds }, now));
  return APPLIED;
}

function cancelBead(state: TownState, event: EventOf<"bead_cancelled">, now: number): EventOutcome {
  const bead = state.bead(event.beadId);
  if (!bead) return ignored(`bead ${event.beadId} does not exist`);
  if (isFinished(bead)) return ignored(`bead ${bead.id} is already ${bead.status}`);
  const { status, reason } = event.payload;
  const lastFailure = status === "failed" ? failure("cancelled", reason ?? "cancelled by an operator", now) : bead.lastFailure;
  setBeadStatus(state, bead, status, now, { lastFailure });
  return APPLIED;
}

/**
 * A failed bead back to open, its dispatch attempts and backoff reset (DESIGN §4.6). It usually left the
 * working set when it failed: the command carries it as it stood, so a replay that cannot find it in
 * the archive still can. Counted as a reopen: retrying does not cheat the flapping window.
 */
function retryBead(state: TownState, event: EventOf<"bead_retried">, now: number): EventOutcome {
  // The town wrote this payload itself from the bead it read (commands are not accepted from clients).
  const was = state.liveBead(event.beadId) ?? upgradedBead(event.payload.bead as unknown as RecordedBead);
  if (was.status !== "failed" || !canTransitionBead(was.type, "failed", "open"))
    return ignored(`bead ${event.beadId} is ${article(was.type)} ${was.status}, not a failed one that can be retried`);
  const next: Bead = {
    ...was,
    status: "open",
    assignee: null,
    dispatchAttempts: 0,
    lastDispatchAt: null,
    reopenedAt: withReopen(was, now, state.town.config),
    updatedAt: now,
  };
  if (state.liveBead(was.id)) state.putBead(next);
  else state.reviveBead(was, next);
  markProgress(state, now);
  return APPLIED;
}

function holdBead(state: TownState, event: EventOf<"bead_held" | "bead_released">, now: number, held: boolean): EventOutcome {
  const bead = state.liveBead(event.beadId);
  if (!bead) return ignored(`bead ${event.beadId} is not in play`);
  if (bead.held === held) return ignored(`bead ${bead.id} is already ${held ? "held" : "released"}`);
  state.putBead({ ...bead, held, updatedAt: now });
  return APPLIED;
}

/** New title, priority or blockers (the body is stored beside the state); the next dispatch takes them. */
function editBead(state: TownState, event: EventOf<"bead_edited">, now: number): EventOutcome {
  const bead = state.liveBead(event.beadId);
  if (!bead || isFinished(bead)) return ignored(`bead ${event.beadId} is not in play`);
  const { title, priority, blockedBy } = event.payload;
  state.putBead({
    ...bead,
    ...(title === undefined ? {} : { title }),
    ...(priority === undefined ? {} : { priority }),
    ...(blockedBy === undefined ? {} : { blockedBy: [...new Set(blockedBy)] }),
    updatedAt: now,
  });
  return APPLIED;
}

/**
 * An in-progress bead back to open, its attempts unchanged: its agent lets go of it and the agent's
 * container is owed a stop (asked for by agents.retryStop), so no two containers work on it.
 */
function requeueBead(state: TownState, event: EventOf<"bead_requeued">, now: number): EventOutcome {
  const bead = state.liveBead(event.beadId);
  if (bead?.status !== "in_progress") return ignored(`bead ${event.beadId} is not in progress`);
  for (const id of state.agentsHookedTo(event.beadId)) {
    const agent = state.agent(id)!;
    if (isLive(agent)) oweStop(state, idleAgent(state, agent, now), agent.generation, event.beadId, now, false);
    else unhookAgent(state, agent, now);
  }
  setBeadStatus(state, state.liveBead(event.beadId)!, "open", now, { assignee: null });
  return APPLIED;
}

/**
 * A rig goes: with `cancel`, its unfinished work is cancelled as failed first and its live agents let go
 * of it with their containers owed a stop; its agents are retired (tombstones, so late callbacks are
 * known). The rig is kept, deleted, for its agent sequence.
 */
function deleteRig(state: TownState, event: EventOf<"rig_deleted">, now: number): EventOutcome {
  const rig = state.rig(event.payload.rigId);
  if (!rig) return ignored(`rig ${event.payload.rigId} does not exist`);
  const work = [...state.beads()].filter((bead) => bead.rigId === rig.id && !isFinished(bead));
  if (work.length > 0 && !event.payload.cancel) return ignored(`rig ${rig.id} has unfinished work`);
  for (const bead of work)
    setBeadStatus(state, state.liveBead(bead.id)!, "failed", now, { lastFailure: failure("cancelled", `its rig ${rig.id} was deleted`, now) });
  for (const agent of [...state.agents()].filter((a) => a.rigId === rig.id)) {
    let current = agent;
    if (isLive(current)) current = oweStop(state, idleAgent(state, current, now), current.generation, current.hook, now, false);
    else if (current.hook) current = unhookAgent(state, current, now);
    if (current.status === "idle") setAgentStatus(state, current, "dead", now);
  }
  state.putRig({ ...rig, deletedAt: now, updatedAt: now });
  return APPLIED;
}

function pauseTown(state: TownState, event: EventOf<"town_paused">, now: number): EventOutcome {
  const paused = state.town.paused;
  // An operator's pause outranks the budget's: only an operator lifts it (DESIGN §4.6).
  return pause(state, event.payload.by, event.payload.reason, now) ? APPLIED : ignored(`the town is paused already (by ${paused?.by})`);
}

function resumeTown(state: TownState, event: EventOf<"town_resumed">, now: number): EventOutcome {
  const refused = resume(state, event.payload.by, now);
  return refused === null ? APPLIED : ignored(refused);
}

/**
 * A callback proves the container ran, even when the dispatch's own result has not arrived yet (the
 * container answered before the service did): the meter counts it from the dispatch.
 */
function ranSinceDispatch(state: TownState, agent: Agent, now: number): Agent {
  return agent.runningSince === null ? startMeter(state, agent, Math.min(agent.dispatchedAt ?? now, now)) : agent;
}

/** The agent a callback speaks for, if it is still the agent that was dispatched. */
function currentAgent(
  state: TownState,
  event: { agentId: Agent["id"]; payload: { generation?: number | undefined } },
): { agent: Agent; bead: Bead } | { ignored: string } {
  const agent = state.agent(event.agentId);
  if (!agent) return { ignored: `agent ${event.agentId} does not exist` };
  const generation = event.payload.generation;
  if (generation !== undefined && generation !== agent.generation) {
    return { ignored: `stale callback from generation ${generation}; agent ${agent.id} is at ${agent.generation}` };
  }
  if (!isLive(agent) || !agent.hook) return { ignored: `agent ${agent.id} is ${agent.status} with no work` };
  const bead = state.bead(agent.hook);
  if (bead?.status !== "in_progress") return { ignored: `agent ${agent.id}'s bead is not in progress` };
  return { agent, bead };
}

function agentDone(state: TownState, event: EventOf<"agent_done">, now: number): EventOutcome {
  const found = currentAgent(state, event);
  if ("ignored" in found) return ignored(found.ignored);
  const { bead } = found;
  const agent = ranSinceDispatch(state, found.agent, now);
  if (bead.type === "issue") {
    // The polecat delivered a branch: it becomes a merge request for the rig's review queue.
    // Derived, not random (replay must reproduce it); skip ordinals a caller happened to use as bead ids.
    let ordinal = state.mergeRequestsOf(bead.id).length + 1;
    while (state.bead(mergeRequestIdFor(bead.id, ordinal))) ordinal += 1;
    const mergeRequestId = mergeRequestIdFor(bead.id, ordinal);
    state.putBead(
      newBead(
        {
          id: mergeRequestId,
          rigId: bead.rigId,
          type: "merge_request",
          title: `Merge: ${bead.title}`.slice(0, 500),
          priority: bead.priority,
          sourceBeadId: bead.id,
          branch: event.payload.branch,
          prUrl: event.payload.prUrl ?? null,
        },
        now,
      ),
    );
    idleAgent(state, agent, now);
    setBeadStatus(state, state.bead(bead.id)!, "in_review", now);
    return APPLIED;
  }
  if (bead.type === "merge_request") {
    // The refinery merged it.
    idleAgent(state, agent, now);
    setBeadStatus(state, state.bead(bead.id)!, "closed", now, { merged: true });
    return APPLIED;
  }
  return ignored(`bead ${bead.id} is ${article(bead.type)}`);
}

function agentCompleted(state: TownState, event: EventOf<"agent_completed">, now: number): EventOutcome {
  const found = currentAgent(state, event);
  if ("ignored" in found) return ignored(found.ignored);
  const { bead } = found;
  const agent = ranSinceDispatch(state, found.agent, now);
  idleAgent(state, agent, now);
  // Completed without a done report: the bead stays in progress with no agent and is reopened by a rule.
  if (event.payload.status === "failed") {
    const why = failure("agent_failed", event.payload.reason ?? "the agent reported failure", now, { agentId: agent.id, generation: agent.generation });
    setBeadStatus(state, state.bead(bead.id)!, "failed", now, { lastFailure: why });
  }
  return APPLIED;
}

function prStatusChanged(state: TownState, event: EventOf<"pr_status_changed">, now: number): EventOutcome {
  const bead = state.bead(event.beadId);
  if (!bead) return ignored(`bead ${event.beadId} does not exist`);
  if (bead.type !== "merge_request") return ignored(`bead ${bead.id} is ${article(bead.type)}, not a merge request`);
  if (isFinished(bead)) return ignored(`merge request ${bead.id} is already ${bead.status}`);
  const prUrl = event.payload.prUrl ?? bead.prUrl;
  if (event.payload.status === "merged") setBeadStatus(state, bead, "closed", now, { merged: true, prUrl });
  else setBeadStatus(state, bead, "failed", now, { prUrl, lastFailure: failure("pr_closed", "its pull request was closed without merging", now) });
  return APPLIED;
}

/**
 * A container reports its status. From the current dispatch's container, it updates the agent. From a
 * container the town does not want running — an older generation's, or the current one's while the
 * agent is idle or dead — a report that it runs means a stop is owed (DESIGN §4.4).
 */
function containerStatus(state: TownState, event: EventOf<"container_status">, now: number): EventOutcome {
  const agent = state.agent(event.agentId);
  if (!agent) return ignored(`agent ${event.agentId} does not exist`);
  const generation = event.payload.generation ?? agent.generation;
  if (generation !== agent.generation || !isLive(agent)) {
    const noStop = noStopOwedFor(agent, generation, event.payload.status);
    if (noStop !== null) return ignored(noStop);
    oweStop(state, agent, generation, null, now, false);
    return APPLIED;
  }
  if (agent.containerStatus === event.payload.status) return ignored("container status unchanged");
  state.putAgent({
    ...agent,
    containerStatus: event.payload.status,
    containerStatusSince: event.createdAt,
    updatedAt: now,
  });
  return APPLIED;
}

function dispatchResult(state: TownState, event: EventOf<"dispatch_result">, now: number): EventOutcome {
  const { kind, outcome, generation } = event.payload;
  const agent = state.agent(event.agentId);
  if (kind === "stop") {
    if (agent) settleStop(state, agent, generation, outcome === "ok", now);
    return APPLIED;
  }
  // The container service's health feeds the breaker whatever happened to the agent since.
  if (outcome === "ok") recordDispatchSuccess(state, now);
  else recordDispatchFailure(state, now);
  if (!agent) return APPLIED;
  const current = state.agent(event.agentId)!;
  if (outcome === "ok") {
    // Started after all, for a generation the town has moved on from: that container must stop.
    if (current.generation !== generation || !isLive(current)) oweStop(state, current, generation, event.payload.beadId ?? null, now, false);
    // It runs: the usage meter counts it from now.
    else startMeter(state, current, now);
    return APPLIED;
  }
  // No answer in time: the container may be running, so its generation owes a stop.
  const beadId = event.payload.beadId ?? (current.generation === generation ? current.hook : null);
  // The attempt failed: the bead says why (it is reopened by a rule, or tried again after its backoff).
  const attempted = beadId ? state.liveBead(beadId) : undefined;
  if (attempted && !isFinished(attempted)) {
    const code = outcome === "timeout" ? "dispatch_timeout" : "dispatch_failed";
    const message =
      event.payload.error ?? (outcome === "timeout" ? "the container service did not answer in time" : "the container service refused the dispatch");
    state.putBead({ ...attempted, lastFailure: failure(code, message, now, { agentId: current.id, generation }), updatedAt: now });
  }
  if (current.generation === generation && isLive(current)) {
    // It never started, or may have: the agent lets go of the bead, which a rule reopens.
    const idled = idleAgent(state, current, now);
    if (outcome === "timeout") oweStop(state, idled, generation, beadId, now, false);
  } else if (outcome === "timeout") {
    oweStop(state, current, generation, beadId, now, false);
  }
  return APPLIED;
}
