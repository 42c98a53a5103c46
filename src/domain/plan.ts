import type { Action, ActionBody, RuleId } from "./actions";
import type { TownConfig } from "./config";
import { agentIdFor, type AgentId, type BeadId, type RigId } from "./ids";
import type { Agent, AgentRole, Bead, BreakerStatus, Rig } from "./model";
import { isLive } from "./model";
import type { TownState } from "./state";

/** When the reconciler next needs to look, and why. */
export interface Wake {
  readonly at: number;
  readonly reason: string;
}

/**
 * What the rules of one reconcile pass share: the state they read, indexes built once per pass, and
 * the plan they write to. Claims stop two rules from acting on the same agent or bead in one pass.
 */
export class Plan {
  readonly actions: Action[] = [];
  wake: Wake | null = null;
  /** The breaker as the breaker rules left it this pass; dispatch rules obey it. */
  breakerStatus: BreakerStatus;
  /** Dispatches the breaker still allows this pass (a half-open breaker allows one probe). */
  dispatchBudget: number;
  private readonly claimedAgents = new Set<AgentId>();
  private readonly claimedBeads = new Set<BeadId>();
  private readonly agentsCreated = new Map<RigId, number>();
  private indexes: PassIndexes | null = null;

  constructor(
    readonly state: TownState,
    readonly now: number,
    readonly config: TownConfig,
  ) {
    this.breakerStatus = state.town.breaker.status;
    this.dispatchBudget = Infinity;
  }

  emit(rule: RuleId, reason: string, action: ActionBody): void {
    this.actions.push({ ...action, rule, reason } as Action);
  }

  /**
   * Asks to be woken at `at` (only a future time counts; the earliest wins, ties by reason so the choice
   * is stable). The reason is a function: rules ask this of every agent, and only the winner's is written.
   */
  wakeAt(at: number, reason: () => string): void {
    if (at <= this.now || (this.wake !== null && at > this.wake.at)) return;
    const text = reason();
    if (this.wake === null || at < this.wake.at || text < this.wake.reason) this.wake = { at, reason: text };
  }

  /** True the first time an agent is claimed in this pass. */
  claimAgent(id: AgentId): boolean {
    if (this.claimedAgents.has(id)) return false;
    this.claimedAgents.add(id);
    return true;
  }

  claimBead(id: BeadId): boolean {
    if (this.claimedBeads.has(id)) return false;
    this.claimedBeads.add(id);
    return true;
  }

  /** The id of an agent to create in this pass: derived from the rig's sequence, never random. */
  allocateAgentId(rig: Rig, role: AgentRole): AgentId {
    const made = (this.agentsCreated.get(rig.id) ?? 0) + 1;
    this.agentsCreated.set(rig.id, made);
    return agentIdFor(rig.id, role, rig.agentSeq + made);
  }

  isAgentClaimed(id: AgentId): boolean {
    return this.claimedAgents.has(id);
  }

  /** The live agent hooked to a bead, if any. */
  liveAgentOf(beadId: BeadId): Agent | undefined {
    for (const id of this.state.agentsHookedTo(beadId)) {
      const agent = this.state.agent(id);
      if (agent && isLive(agent)) return agent;
    }
    return undefined;
  }

  get index(): PassIndexes {
    return (this.indexes ??= buildIndexes(this.state));
  }
}

/** One walk over the state, so no rule needs a nested loop. */
export interface PassIndexes {
  /** Open issues, in no particular order (the dispatch rule sorts the ready ones). */
  readonly openIssues: readonly Bead[];
  /** Per rig: idle free polecats, and how many polecats are alive (not dead). */
  readonly polecats: ReadonlyMap<RigId, { readonly idle: readonly Agent[]; readonly alive: number }>;
  /** Per rig: its refinery, if one is alive. */
  readonly refinery: ReadonlyMap<RigId, Agent>;
  /** Per rig: the merge request being reviewed, and open ones oldest first. */
  readonly review: ReadonlyMap<RigId, { readonly inProgress: Bead | null; readonly open: readonly Bead[] }>;
}

export const byUrgency = (a: Bead, b: Bead): number =>
  a.priority - b.priority || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export const byAge = (a: Bead, b: Bead): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function buildIndexes(state: TownState): PassIndexes {
  const openIssues: Bead[] = [];
  const polecats = new Map<RigId, { idle: Agent[]; alive: number }>();
  const refinery = new Map<RigId, Agent>();
  const review = new Map<RigId, { inProgress: Bead | null; open: Bead[] }>();

  for (const agent of state.agents()) {
    if (agent.status === "dead") continue;
    if (agent.role === "polecat") {
      let entry = polecats.get(agent.rigId);
      if (!entry) polecats.set(agent.rigId, (entry = { idle: [], alive: 0 }));
      entry.alive += 1;
      if (agent.status === "idle" && !agent.hook) entry.idle.push(agent);
    } else if (agent.role === "refinery") {
      const current = refinery.get(agent.rigId);
      if (!current || agent.id < current.id) refinery.set(agent.rigId, agent);
    }
  }
  for (const status of ["open", "in_progress"] as const) {
    for (const bead of state.beadsWith(status)) {
      if (bead.type === "issue" && status === "open") openIssues.push(bead);
      else if (bead.type === "merge_request" && bead.rigId) {
        let entry = review.get(bead.rigId);
        if (!entry) review.set(bead.rigId, (entry = { inProgress: null, open: [] }));
        if (status === "open") entry.open.push(bead);
        else if (!entry.inProgress || byAge(bead, entry.inProgress) < 0) entry.inProgress = bead;
      }
    }
  }
  for (const entry of review.values()) entry.open.sort(byAge);
  for (const entry of polecats.values()) entry.idle.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { openIssues, polecats, refinery, review };
}
