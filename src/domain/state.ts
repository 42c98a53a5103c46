import type { AgentId, BeadId, RigId } from "./ids";
import type { Agent, AgentStatus, Bead, BeadStatus, Rig, Town } from "./model";

type JournalEntry =
  | { readonly kind: "town"; readonly prev: Town }
  | { readonly kind: "rig"; readonly id: RigId; readonly prev: Rig | undefined }
  | { readonly kind: "agent"; readonly id: AgentId; readonly prev: Agent | undefined }
  | { readonly kind: "bead"; readonly id: BeadId; readonly prev: Bead | undefined };

/** What a tick or a command changed, for the shell to persist. */
export interface StateChanges {
  readonly town: Town | null;
  readonly rigs: readonly Rig[];
  readonly agents: readonly Agent[];
  readonly beads: readonly Bead[];
  /** Entities that did not exist before (inserted, where the rest are updated; beads' dependencies written once). */
  readonly createdBeads: readonly Bead[];
  readonly createdAgents: readonly Agent[];
}

/**
 * A town's whole state in memory, with the indexes the rules need.
 *
 * Every write goes through a setter that journals the previous value, so the shell can commit the
 * changes (persist them in the same SQL transaction that marks events processed) or roll them back
 * (a poison event, a tick that throws, a dry run) and leave memory exactly as SQLite has it.
 */
export class TownState {
  private townValue: Town;
  private readonly rigMap = new Map<RigId, Rig>();
  private readonly agentMap = new Map<AgentId, Agent>();
  private readonly beadMap = new Map<BeadId, Bead>();
  /** bead id → agents hooked to it (normally one; invariant 6 watches for more). */
  private readonly hookIndex = new Map<BeadId, Set<AgentId>>();
  /** issue id → its merge requests, in creation order. */
  private readonly mergeRequestIndex = new Map<BeadId, BeadId[]>();
  /** Entities by status, so rules look at the few in play rather than every closed bead. */
  private readonly beadsByStatus = new Map<BeadStatus, Map<BeadId, Bead>>();
  private readonly agentsByStatus = new Map<AgentStatus, Map<AgentId, Agent>>();
  private journal: JournalEntry[] = [];

  constructor(town: Town, rigs: Iterable<Rig> = [], agents: Iterable<Agent> = [], beads: Iterable<Bead> = []) {
    this.townValue = town;
    for (const rig of rigs) this.rigMap.set(rig.id, rig);
    for (const agent of agents) this.storeAgent(agent.id, agent);
    for (const bead of beads) this.storeBead(bead.id, bead);
  }

  get town(): Town {
    return this.townValue;
  }
  rig(id: RigId): Rig | undefined {
    return this.rigMap.get(id);
  }
  agent(id: AgentId): Agent | undefined {
    return this.agentMap.get(id);
  }
  bead(id: BeadId): Bead | undefined {
    return this.beadMap.get(id);
  }
  rigs(): IterableIterator<Rig> {
    return this.rigMap.values();
  }
  agents(): IterableIterator<Agent> {
    return this.agentMap.values();
  }
  beads(): IterableIterator<Bead> {
    return this.beadMap.values();
  }
  /** Beads with this status (in no particular order: rules that care sort). */
  beadsWith(status: BeadStatus): IterableIterator<Bead> {
    return (this.beadsByStatus.get(status) ?? EMPTY).values() as IterableIterator<Bead>;
  }
  agentsWith(status: AgentStatus): IterableIterator<Agent> {
    return (this.agentsByStatus.get(status) ?? EMPTY).values() as IterableIterator<Agent>;
  }

  get size(): { rigs: number; agents: number; beads: number } {
    return { rigs: this.rigMap.size, agents: this.agentMap.size, beads: this.beadMap.size };
  }

  /** Agents whose hook points at this bead. */
  agentsHookedTo(beadId: BeadId): readonly AgentId[] {
    const hooked = this.hookIndex.get(beadId);
    return hooked ? [...hooked] : NONE;
  }

  /** Beads some agent is hooked to. */
  hookedBeads(): IterableIterator<BeadId> {
    return this.hookIndex.keys();
  }

  mergeRequestsOf(issueId: BeadId): readonly BeadId[] {
    return this.mergeRequestIndex.get(issueId) ?? NONE;
  }

  setTown(town: Town): void {
    this.journal.push({ kind: "town", prev: this.townValue });
    this.townValue = town;
  }
  putRig(rig: Rig): void {
    this.journal.push({ kind: "rig", id: rig.id, prev: this.rigMap.get(rig.id) });
    this.rigMap.set(rig.id, rig);
  }
  putAgent(agent: Agent): void {
    this.journal.push({ kind: "agent", id: agent.id, prev: this.agentMap.get(agent.id) });
    this.storeAgent(agent.id, agent);
  }
  putBead(bead: Bead): void {
    this.journal.push({ kind: "bead", id: bead.id, prev: this.beadMap.get(bead.id) });
    this.storeBead(bead.id, bead);
  }

  /**
   * Observations (heartbeats, container status) are written straight to storage by the shell as they
   * arrive, outside any tick; they replace the agent here without entering the journal.
   */
  replaceObserved(agent: Agent): void {
    this.storeAgent(agent.id, agent);
  }

  /** A point to roll back to. */
  mark(): number {
    return this.journal.length;
  }

  /** Undoes every write made after `mark`, newest first. */
  rollbackTo(mark: number): void {
    while (this.journal.length > mark) {
      const entry = this.journal.pop()!;
      switch (entry.kind) {
        case "town":
          this.townValue = entry.prev;
          break;
        case "rig":
          if (entry.prev) this.rigMap.set(entry.id, entry.prev);
          else this.rigMap.delete(entry.id);
          break;
        case "agent":
          this.storeAgent(entry.id, entry.prev);
          break;
        case "bead":
          this.storeBead(entry.id, entry.prev);
          break;
      }
    }
  }

  /** True when something was written since the last commit. */
  get hasChanges(): boolean {
    return this.journal.length > 0;
  }

  /** The net changes since the last commit, for the shell to persist (the journal is kept). */
  changes(): StateChanges {
    let town: Town | null = null;
    const rigs = new Set<RigId>();
    const agents = new Set<AgentId>();
    const beads = new Set<BeadId>();
    const created = new Set<BeadId>();
    const createdAgents = new Set<AgentId>();
    for (const entry of this.journal) {
      switch (entry.kind) {
        case "town":
          town = this.townValue;
          break;
        case "rig":
          rigs.add(entry.id);
          break;
        case "agent":
          if (!agents.has(entry.id) && entry.prev === undefined) createdAgents.add(entry.id);
          agents.add(entry.id);
          break;
        case "bead":
          // The first journal entry for a bead tells whether it existed before this commit.
          if (!beads.has(entry.id) && entry.prev === undefined) created.add(entry.id);
          beads.add(entry.id);
          break;
      }
    }
    return {
      town,
      rigs: present(rigs, this.rigMap),
      agents: present(agents, this.agentMap),
      beads: present(beads, this.beadMap),
      createdBeads: present(created, this.beadMap),
      createdAgents: present(createdAgents, this.agentMap),
    };
  }

  /** The changes are safely stored: forget how to undo them. */
  commit(): void {
    this.journal = [];
  }


  private storeAgent(id: AgentId, agent: Agent | undefined): void {
    const prev = this.agentMap.get(id);
    reindex(this.agentsByStatus, id, prev, agent);
    if (prev?.hook && prev.hook !== agent?.hook) {
      const hooked = this.hookIndex.get(prev.hook);
      hooked?.delete(id);
      if (hooked?.size === 0) this.hookIndex.delete(prev.hook);
    }
    if (agent === undefined) {
      this.agentMap.delete(id);
      return;
    }
    this.agentMap.set(id, agent);
    if (agent.hook && prev?.hook !== agent.hook) {
      let hooked = this.hookIndex.get(agent.hook);
      if (!hooked) this.hookIndex.set(agent.hook, (hooked = new Set()));
      hooked.add(id);
    }
  }

  private storeBead(id: BeadId, bead: Bead | undefined): void {
    const prev = this.beadMap.get(id);
    reindex(this.beadsByStatus, id, prev, bead);
    if (bead === undefined) {
      this.beadMap.delete(id);
      if (prev?.sourceBeadId) {
        const list = this.mergeRequestIndex.get(prev.sourceBeadId)?.filter((mr) => mr !== id) ?? [];
        if (list.length > 0) this.mergeRequestIndex.set(prev.sourceBeadId, list);
        else this.mergeRequestIndex.delete(prev.sourceBeadId);
      }
      return;
    }
    this.beadMap.set(id, bead);
    // The source of a merge request never changes, so it is indexed once, when the bead first appears.
    if (!prev && bead.type === "merge_request" && bead.sourceBeadId) {
      const list = this.mergeRequestIndex.get(bead.sourceBeadId);
      if (list) list.push(id);
      else this.mergeRequestIndex.set(bead.sourceBeadId, [id]);
    }
  }
}

function present<K, V>(ids: Set<K>, map: Map<K, V>): V[] {
  const out: V[] = [];
  for (const id of ids) {
    const value = map.get(id);
    if (value !== undefined) out.push(value);
  }
  return out;
}

const EMPTY = new Map<never, never>();
const NONE: readonly never[] = Object.freeze([]);

/** Keeps a by-status index in step with one entity's change. */
function reindex<K, S, E extends { readonly status: S }>(index: Map<S, Map<K, E>>, id: K, prev: E | undefined, next: E | undefined): void {
  if (prev && prev.status !== next?.status) index.get(prev.status)?.delete(id);
  if (!next) return;
  let bucket = index.get(next.status);
  if (!bucket) index.set(next.status, (bucket = new Map()));
  bucket.set(id, next);
}
