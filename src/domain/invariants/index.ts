import type { Action } from "../actions";
import type { ActionResult } from "../advance";
import { applyAction } from "../apply-action";
import type { Focus, Touched } from "../focus";
import type { AgentId, BeadId } from "../ids";
import type { Agent } from "../model";
import type { QueueFacts } from "../queue";
import type { TownState } from "../state";
import { SWEEP_BUCKETS } from "../work-index";
import { CONVOY_STATUS_IS_VALID } from "./convoys";
import { ASSIGNEE_IS_HOOKED_AGENT, HOOK_POINTS_AT_UNFINISHED_BEAD, ONE_AGENT_PER_BEAD, WORKING_AGENT_HAS_HOOK } from "./hooks";
import type { AgentInvariant, BeadInvariant, Checking, Finding, Invariant, Repair, RigInvariant, TownInvariant } from "./invariant";
import { NO_FLAPPING, WORK_MOVES } from "./progress";
import { NO_DEAD_LETTERS, QUEUE_DRAINS } from "./queue";
import { IN_REVIEW_ISSUE_HAS_ACTIVE_MERGE_REQUEST, ONE_MERGE_REQUEST_IN_PROGRESS_PER_RIG } from "./review";
import { IN_PROGRESS_ISSUE_HAS_ONE_LIVE_AGENT } from "./work";

export type { Invariant } from "./invariant";
// Spoken of on their own: the fleet watches work moving (its WorkNotMoving alert, the summary's
// stuckWork), and explaining a bead names both.
export { NO_FLAPPING, WORK_MOVES };

export interface Violation {
  readonly invariant: number;
  /** Stable identity: the same problem in the next tick has the same key. */
  readonly key: string;
  readonly message: string;
  readonly agentIds: readonly AgentId[];
  readonly beadIds: readonly BeadId[];
  /** Actions that put it right, where that is safe (the invariants with a `repair`). */
  readonly repairs: readonly Action[];
}

/** The invariants of DESIGN §4.5, in the order of their ids (the order of the metric's series). */
export const INVARIANTS: readonly Invariant[] = [
  HOOK_POINTS_AT_UNFINISHED_BEAD,
  IN_PROGRESS_ISSUE_HAS_ONE_LIVE_AGENT,
  ONE_MERGE_REQUEST_IN_PROGRESS_PER_RIG,
  IN_REVIEW_ISSUE_HAS_ACTIVE_MERGE_REQUEST,
  CONVOY_STATUS_IS_VALID,
  ONE_AGENT_PER_BEAD,
  WORKING_AGENT_HAS_HOOK,
  QUEUE_DRAINS,
  NO_DEAD_LETTERS,
  ASSIGNEE_IS_HOOKED_AGENT,
  WORK_MOVES,
  NO_FLAPPING,
];

const BY_ID: ReadonlyMap<number, Invariant> = new Map(INVARIANTS.map((invariant) => [invariant.id, invariant]));

/** The invariant with this id, if this build knows it (a stored violation may be older than it). */
export const invariantWithId = (id: number): Invariant | undefined => BY_ID.get(id);

/** A violation's runbook: its invariant's page, or the page on all violations for an invariant this build does not know. */
export const runbookOf = (invariant: number): string => BY_ID.get(invariant)?.runbook ?? "invariant-violations.md";

// Grouped by kind once, so that a check walks the entities once and asks each only what concerns its kind.
const OF_AGENTS = INVARIANTS.filter((invariant): invariant is AgentInvariant => invariant.of === "agent");
const OF_BEADS = INVARIANTS.filter((invariant): invariant is BeadInvariant => invariant.of === "bead");
const OF_RIGS = INVARIANTS.filter((invariant): invariant is RigInvariant => invariant.of === "rig");
const OF_TOWN = INVARIANTS.filter((invariant): invariant is TownInvariant => invariant.of === "town");

/**
 * Checks the invariants of DESIGN §4.5. Pure: the caller applies the repairs and decides what to report.
 * Rules should never leave a violation behind; these catch what they missed.
 *
 * `focus` is what to look at (default: the whole working set). A tick checks what changed since the
 * last tick with what that touched, the entities of violations still open (so a resolution is seen),
 * and one bucket of the rolling sweep (so a violation made outside any tick is found within
 * SWEEP_BUCKETS ticks). The invariants of rigs and of the town (with its queue) are checked every time:
 * they cost nothing. Flapping is about one bead, and a bead that reopens has changed, so it is in focus.
 */
export function checkInvariants(state: TownState, now: number, queue: QueueFacts, focus: Focus = "all"): Violation[] {
  const out: Violation[] = [];
  const checking: Checking = { state, now, config: state.town.config, queue };
  const hookedTo = (beadId: BeadId): Agent[] =>
    state
      .agentsHookedTo(beadId)
      .map((id) => state.agent(id))
      .filter((a): a is Agent => a !== undefined);

  // The agents and beads to look at: a bead is looked at with the agents hooked to it, and the other way round.
  const agents = new Set<AgentId>();
  const beads = new Set<BeadId>();
  if (focus === "all") {
    for (const agent of state.agents()) agents.add(agent.id);
    for (const bead of state.beads()) beads.add(bead.id);
    for (const id of state.hookedBeads()) beads.add(id);
  } else {
    for (const id of focus.agents) agents.add(id);
    for (const id of focus.beads) beads.add(id);
  }
  for (const id of agents) {
    const hook = state.agent(id)?.hook;
    if (hook) beads.add(hook);
  }

  // The records of an entity are walked by index: for…of, with an iterator per entity, made the whole
  // check a tenth slower (a town of 10,000 beads).
  for (const id of agents) {
    const agent = state.agent(id);
    if (!agent) continue;
    for (let i = 0; i < OF_AGENTS.length; i++) {
      const invariant = OF_AGENTS[i]!;
      const found = invariant.check(agent, checking);
      if (found) out.push(violation(invariant, found, invariant.repair?.(agent, checking)));
    }
  }
  // A bead id with agents hooked may have no bead: ONE_AGENT_PER_BEAD still counts them.
  for (const id of beads) {
    const hooked = hookedTo(id);
    const bead = state.bead(id);
    for (let i = 0; i < OF_BEADS.length; i++) {
      const invariant = OF_BEADS[i]!;
      const found = invariant.check(id, bead, hooked, checking);
      if (found) out.push(violation(invariant, found, invariant.repair?.(id, bead, hooked, checking)));
    }
  }
  for (const rigId of state.work.rigIds()) {
    for (const invariant of OF_RIGS) {
      const found = invariant.check(rigId, checking);
      if (found) out.push(violation(invariant, found, invariant.repair?.(rigId, checking)));
    }
  }
  for (const invariant of OF_TOWN) {
    const found = invariant.check(checking);
    if (found) out.push(violation(invariant, found, invariant.repair?.(checking)));
  }

  return out.sort((a, b) => a.invariant - b.invariant || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** What a check found, as the violation of its invariant; its repairs are the rule `invariant.N`. */
function violation(invariant: Invariant, found: Finding, repairs: Repair[] = []): Violation {
  return {
    invariant: invariant.id,
    key: `${invariant.id}:${found.key}`,
    message: found.message,
    agentIds: found.agentIds ?? [],
    beadIds: found.beadIds ?? [],
    repairs: repairs.map(({ reason, body }) => ({ ...body, rule: `invariant.${invariant.id}`, reason }) as Action),
  };
}

/**
 * What a tick checks: what changed since the last tick (with what that touched), the entities of the
 * violations still open, and bucket `tickId mod SWEEP_BUCKETS` of the rolling sweep.
 */
export function invariantFocus(
  state: TownState,
  tickId: number,
  open: Iterable<{ readonly agentIds: readonly string[]; readonly beadIds: readonly string[] }>,
): Touched {
  const changed = state.changedSinceTick();
  const bucket = ((tickId % SWEEP_BUCKETS) + SWEEP_BUCKETS) % SWEEP_BUCKETS;
  const agents = new Set<AgentId>(changed.agents);
  const beads = new Set<BeadId>(changed.beads);
  for (const id of state.work.agentsInBucket(bucket)) agents.add(id);
  for (const id of state.work.beadsInBucket(bucket)) beads.add(id);
  for (const violation of open) {
    for (const id of violation.agentIds) agents.add(id as AgentId);
    for (const id of violation.beadIds) beads.add(id as BeadId);
  }
  return { agents, beads };
}

/** Checks the invariants, then applies the safe repairs (what a tick does after its rules). */
export function enforceInvariants(state: TownState, now: number, queue: QueueFacts, focus: Focus = "all"): { detected: Violation[]; repairs: ActionResult[] } {
  const detected = checkInvariants(state, now, queue, focus);
  const repairs = detected
    .flatMap((v) => v.repairs)
    .map((action) => {
      const outcome = applyAction(state, action, now);
      return { action, refusal: outcome.applied ? null : outcome.refusal };
    });
  return { detected, repairs };
}
