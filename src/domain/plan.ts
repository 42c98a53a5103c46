import type { Action, ActionBody, RuleId } from "./actions";
import type { TownConfig } from "./config";
import { agentIdFor, type AgentId, type BeadId } from "./ids";
import type { Agent, AgentRole, AgentStatus, Bead, BeadStatus, Rig } from "./model";
import { isLive } from "./model";
import type { TownState } from "./state";
import type { Touched, Focus } from "./focus";

/** When the reconciler next needs to look, and why. */
export interface Wake {
  readonly at: number;
  readonly reason: string;
}

/**
 * What the rules of one reconcile pass share: the state they read, the part of it they look at (the
 * pass's focus), and the plan they write to. Claims stop two rules from acting on the same agent or
 * bead in one pass.
 *
 * Rules about one agent or one bead look only at the focus: what changed since the last look, what a
 * change touched, and what reached a deadline — everything else would decide what it decided before.
 * Rules that share a rig's agents among its work (dispatch, review) read the rig's queues, which the
 * state keeps in order as it changes.
 */
export class Plan {
  readonly actions: Action[] = [];
  /** Dispatches this pass may still make: none while the town is paused; the breaker may allow fewer (one probe when half-open). */
  dispatchBudget: number;
  private readonly claimedAgents = new Set<AgentId>();
  private readonly claimedBeads = new Set<BeadId>();
  private readonly agentsCreated = new Map<string, number>();

  constructor(
    readonly state: TownState,
    readonly now: number,
    readonly config: TownConfig,
    readonly focus: Focus = "all",
  ) {
    this.dispatchBudget = state.town.paused ? 0 : Infinity;
  }

  emit(rule: RuleId, reason: string, action: ActionBody): void {
    this.actions.push({ ...action, rule, reason } as Action);
  }

  /** The agents with this status that this pass looks at. */
  *agentsWith(status: AgentStatus): Generator<Agent> {
    if (this.focus === "all") {
      yield* this.state.agentsWith(status);
      return;
    }
    for (const id of this.focus.agents) {
      const agent = this.state.agent(id);
      if (agent?.status === status) yield agent;
    }
  }

  /** Every agent this pass looks at, whatever its status. */
  *agentsInView(): Generator<Agent> {
    if (this.focus === "all") {
      yield* this.state.agents();
      return;
    }
    for (const id of this.focus.agents) {
      const agent = this.state.agent(id);
      if (agent) yield agent;
    }
  }

  /** The beads of the working set with this status that this pass looks at. */
  *beadsWith(status: BeadStatus): Generator<Bead> {
    if (this.focus === "all") {
      yield* this.state.beadsWith(status);
      return;
    }
    for (const id of this.focus.beads) {
      const bead = this.state.liveBead(id);
      if (bead?.status === status) yield bead;
    }
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

  isAgentClaimed(id: AgentId): boolean {
    return this.claimedAgents.has(id);
  }

  /** Everything this pass claimed (acted on, or meant to). */
  get claimed(): Touched {
    return { agents: this.claimedAgents, beads: this.claimedBeads };
  }

  /** The id of an agent to create in this pass: derived from the rig's sequence, never random. */
  allocateAgentId(rig: Rig, role: AgentRole): AgentId {
    const made = (this.agentsCreated.get(rig.id) ?? 0) + 1;
    this.agentsCreated.set(rig.id, made);
    return agentIdFor(rig.id, role, rig.agentSeq + made);
  }

  /** The live agent hooked to a bead, if any. */
  liveAgentOf(beadId: BeadId): Agent | undefined {
    for (const id of this.state.agentsHookedTo(beadId)) {
      const agent = this.state.agent(id);
      if (agent && isLive(agent)) return agent;
    }
    return undefined;
  }
}
