/**
 * A busy town, built directly (not through thousands of API calls): rigs of up to 50 polecats, 40% of
 * agents at work on an in-progress issue with a fresh heartbeat, each rig reviewing one merge request
 * with one more queued, and the rest of the beads mostly closed, some held or blocked. In this shape
 * the reconciler has nothing to do: a tick with no events is the steady state.
 */
import type { AgentId, BeadId, RigId } from "../src/domain/ids";
import { newAgent, newBead, type Agent, type Bead, type Rig } from "../src/domain/model";

export interface SyntheticTown {
  readonly rigs: Rig[];
  readonly agents: Agent[];
  readonly beads: Bead[];
  /** Agents at work: the ones that get container status events. */
  readonly working: AgentId[];
}

/**
 * `finishedShare` of the beads beyond those at work are closed (the rest held, or blocked by a held
 * bead); with 0 every bead is live work — the lifetime towns put their history behind it instead.
 */
export function syntheticTown(agentCount: number, beadCount: number, now: number, finishedShare = 0.8): SyntheticTown {
  const rigCount = Math.max(1, Math.ceil(agentCount / 50));
  const rigs: Rig[] = Array.from({ length: rigCount }, (_, i) => ({
    id: `rig-${i}` as RigId,
    name: `rig-${i}`,
    gitUrl: `https://git.example/rig-${i}.git`,
    defaultBranch: "main",
    agentSeq: 0,
    deletedAt: null,
    createdAt: now - 86_400_000,
    updatedAt: now - 86_400_000,
  }));
  const agents: Agent[] = [];
  const beads: Bead[] = [];
  const working: AgentId[] = [];
  const bead = (id: string, rig: Rig, patch: Partial<Bead>): Bead =>
    newBead(
      {
        id: id as BeadId,
        rigId: rig.id,
        type: "issue",
        title: `Work item ${id}`,
        status: "closed",
        dispatchAttempts: 1,
        lastDispatchAt: now - 7_200_000,
        updatedAt: now - 3_600_000,
        ...patch,
      },
      now - 7_200_000,
    );
  const hourAgo = now - 3_600_000;
  const agent = (id: string, rig: Rig, patch: Partial<Agent>): Agent =>
    newAgent(
      {
        id: id as AgentId,
        rigId: rig.id,
        role: "polecat",
        statusSince: hourAgo,
        generation: 1,
        dispatchAttempts: 1,
        dispatchedAt: hourAgo,
        lastHeartbeatAt: hourAgo,
        containerStatus: "running",
        containerStatusSince: hourAgo,
        updatedAt: hourAgo,
        ...patch,
      },
      now - 86_400_000,
    );

  // Each rig: a refinery reviewing one merge request, one more waiting.
  for (const rig of rigs) {
    const reviewing = `${rig.id}-mr-active`;
    agents.push(
      agent(`${rig.id}:refinery:0`, rig, {
        role: "refinery",
        status: "working",
        statusSince: now - 60_000,
        hook: reviewing as BeadId,
        dispatchedAt: now - 60_000,
        lastHeartbeatAt: now - 1_000,
      }),
    );
    beads.push(bead(`${rig.id}-src-active`, rig, { status: "in_review" }), bead(`${rig.id}-src-queued`, rig, { status: "in_review" }));
    beads.push(
      bead(reviewing, rig, {
        type: "merge_request",
        status: "in_progress",
        assignee: `${rig.id}:refinery:0` as AgentId,
        sourceBeadId: `${rig.id}-src-active` as BeadId,
        branch: "b/active",
      }),
    );
    beads.push(bead(`${rig.id}-mr-queued`, rig, { type: "merge_request", status: "open", sourceBeadId: `${rig.id}-src-queued` as BeadId, branch: "b/queued" }));
  }
  const polecats = agentCount - rigs.length;
  for (let i = 0; i < polecats; i++) {
    const rig = rigs[i % rigs.length]!;
    const id = `${rig.id}:polecat:${i}`;
    if (i % 5 < 2) {
      const issue = `issue-${i}`;
      agents.push(
        agent(id, rig, { status: "working", statusSince: now - 60_000, hook: issue as BeadId, dispatchedAt: now - 60_000, lastHeartbeatAt: now - 1_000 }),
      );
      beads.push(bead(issue, rig, { status: "in_progress", assignee: id as AgentId, lastDispatchAt: now - 60_000 }));
      working.push(id as AgentId);
    } else {
      agents.push(agent(id, rig, {}));
    }
  }
  // The rest: mostly closed, the others open but held, or blocked by a held bead.
  // In each cycle: one held, one blocked by it, the rest closed (a cycle of 2 is all live).
  const cycle = Math.max(2, Math.round(2 / (1 - finishedShare)));
  for (let i = beads.length; i < beadCount; i++) {
    const rig = rigs[i % rigs.length]!;
    const kind = i % cycle;
    if (kind === 0) beads.push(bead(`held-${i}`, rig, { status: "open", held: true, dispatchAttempts: 0, lastDispatchAt: null }));
    else if (kind === 1)
      beads.push(bead(`blocked-${i}`, rig, { status: "open", dispatchAttempts: 0, lastDispatchAt: null, blockedBy: [`held-${i - 1}` as BeadId] }));
    else beads.push(bead(`done-${i}`, rig, { status: "closed" }));
  }
  for (const rig of rigs) (rig as { agentSeq: number }).agentSeq = agentCount;
  return { rigs, agents, beads, working };
}
