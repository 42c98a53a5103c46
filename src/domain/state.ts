import { archived, MemoryArchive, noFinished, type BeadArchive, type FinishedCounts, type FinishedStatus } from "./archive";
import { breakerDeadline, progressDeadline, type Deadline } from "./deadlines";
import { FocusTracker, type Touched, type Focus } from "./focus";
import type { AgentId, BeadId, RigId } from "./ids";
import type { Agent, AgentStatus, Bead, BeadStatus, BeadType, Rig, Town } from "./model";
import { isFinished } from "./model";
import { WorkIndex } from "./work-index";

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
  /** Beads that leave the working set with this change: finished, and nothing live holds them. */
  readonly archived: readonly Bead[];
  /** Agents forgotten for good (tombstones past their retention). */
  readonly purgedAgents: readonly AgentId[];
}

export interface TownStateOptions {
  /** Where finished beads are found once they leave memory (default: a map). */
  readonly archive?: BeadArchive;
  /** Counts of the beads already in the archive. */
  readonly finished?: FinishedCounts;
  /**
   * Issue → its merge requests in creation order, including those already archived (a live issue in
   * review must know all of them). Without it, the lists are built from the beads given.
   */
  readonly mergeRequests?: Iterable<readonly [BeadId, readonly BeadId[]]>;
}

/**
 * The town's working set in memory: the town, its rigs and agents, and the beads still in play —
 * unfinished ones, and finished ones an agent still holds. Finished beads go to the archive (leave memory) when
 * the change that made them archivable commits and are read from the archive after that, so a town's memory, load time and
 * tick follow its live work, never its history.
 *
 * Every write goes through a setter that journals the previous value, so the shell can commit the
 * changes (persist them in the same SQL transaction that marks events processed) or roll them back
 * (a poison event, a tick that throws, a dry run) and leave memory exactly as SQLite has it. The
 * indexes the rules read (by status, hooks, dependencies, per-rig queues, deadlines) follow every write
 * and every undo, and every write marks what it touched, so a tick looks only at what changed or fell due.
 */
export class TownState {
  private townValue: Town;
  private readonly rigMap = new Map<RigId, Rig>();
  private readonly agentMap = new Map<AgentId, Agent>();
  private readonly beadMap = new Map<BeadId, Bead>();
  /** bead id → agents hooked to it (normally one; invariant 6 watches for more). */
  private readonly hookIndex = new Map<BeadId, Set<AgentId>>();
  /** issue id → its merge requests, in creation order (live issues only; archived merge requests included). */
  private readonly mergeRequestIndex = new Map<BeadId, BeadId[]>();
  /** bead id → live beads it blocks. */
  private readonly dependents = new Map<BeadId, Set<BeadId>>();
  /** bead id → live convoys tracking it. */
  private readonly trackers = new Map<BeadId, Set<BeadId>>();
  /** bead id → agents owing a stop of a container that worked on it. */
  private readonly stopsOwed = new Map<BeadId, Set<AgentId>>();
  private readonly beadsByStatus = new Map<BeadStatus, Map<BeadId, Bead>>();
  private readonly agentsByStatus = new Map<AgentStatus, Map<AgentId, Agent>>();
  private readonly typeCounts = new Map<BeadType, number>();
  private workIndex: WorkIndex;
  private readonly archive: BeadArchive;
  private readonly finishedCounts: FinishedCounts;
  private journal: JournalEntry[] = [];
  /** What the next tick and pass look at: every write marks what it touched. */
  private readonly focus = new FocusTracker();
  /** Finished beads given to the constructor: they went straight to the archive. */
  readonly archivedAtLoad: readonly Bead[];

  constructor(town: Town, rigs: Iterable<Rig> = [], agents: Iterable<Agent> = [], beads: Iterable<Bead> = [], options: TownStateOptions = {}) {
    this.townValue = town;
    this.archive = options.archive ?? new MemoryArchive();
    this.finishedCounts = structuredClone(options.finished ?? noFinished());
    this.workIndex = this.newWorkIndex();
    for (const rig of rigs) this.rigMap.set(rig.id, rig);
    if (options.mergeRequests) for (const [issue, list] of options.mergeRequests) this.mergeRequestIndex.set(issue, [...list]);
    for (const agent of agents) this.storeAgent(agent.id, agent);
    const given = [...beads];
    for (const bead of given) this.storeBead(bead.id, bead);
    const archivable = given.filter((bead) => this.isArchivable(bead.id));
    this.archive.add(archivable.map(archived));
    for (const bead of archivable) this.archiveBead(bead);
    // Only issues still in play keep a list of their merge requests.
    for (const issue of [...this.mergeRequestIndex.keys()]) if (!this.beadMap.has(issue)) this.mergeRequestIndex.delete(issue);
    this.archivedAtLoad = archivable;
    this.focus.clear();
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
  /** A bead of the working set, else a finished one from the archive. */
  bead(id: BeadId): Bead | undefined {
    return this.beadMap.get(id) ?? this.archive.get(id);
  }
  /** The beads a convoy tracks that are not finished (one the town does not know counts as unfinished). */
  unfinishedTracked(convoy: Bead): BeadId[] {
    return convoy.tracked.filter((id) => {
      const tracked = this.bead(id);
      return tracked === undefined || !isFinished(tracked);
    });
  }
  /** A bead of the working set only. */
  liveBead(id: BeadId): Bead | undefined {
    return this.beadMap.get(id);
  }
  rigs(): IterableIterator<Rig> {
    return this.rigMap.values();
  }
  agents(): IterableIterator<Agent> {
    return this.agentMap.values();
  }
  /** The beads of the working set. */
  beads(): IterableIterator<Bead> {
    return this.beadMap.values();
  }
  /** Beads of the working set with this status (in no particular order: rules that care sort). */
  beadsWith(status: BeadStatus): IterableIterator<Bead> {
    return (this.beadsByStatus.get(status) ?? EMPTY).values() as IterableIterator<Bead>;
  }
  agentsWith(status: AgentStatus): IterableIterator<Agent> {
    return (this.agentsByStatus.get(status) ?? EMPTY).values() as IterableIterator<Agent>;
  }
  countWith(status: BeadStatus): number {
    return this.beadsByStatus.get(status)?.size ?? 0;
  }
  countAgentsWith(status: AgentStatus): number {
    return this.agentsByStatus.get(status)?.size ?? 0;
  }
  /** Beads of the working set of this type. */
  countOfType(type: BeadType): number {
    return this.typeCounts.get(type) ?? 0;
  }
  /** The queues and deadlines the rules read. */
  get work(): WorkIndex {
    return this.workIndex;
  }
  /** Beads that left the working set, by type and status. */
  get finished(): FinishedCounts {
    return this.finishedCounts;
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

  /** Every bead live work refers to: blockers, tracked beads, merge requests of issues in play, hooks. */
  referencedBeads(): Set<BeadId> {
    const out = new Set<BeadId>([...this.dependents.keys(), ...this.trackers.keys(), ...this.hookIndex.keys()]);
    for (const list of this.mergeRequestIndex.values()) for (const id of list) out.add(id);
    return out;
  }

  /** The merge request lists of the working set's issues (what a snapshot keeps of archived merge requests). */
  mergeRequestLists(): Array<[BeadId, BeadId[]]> {
    return [...this.mergeRequestIndex].map(([issue, list]) => [issue, [...list]]);
  }

  // ---- writes -------------------------------------------------------------------------------------

  setTown(town: Town): void {
    this.journal.push({ kind: "town", prev: this.townValue });
    const reconfigured = town.config !== this.townValue.config;
    this.townValue = town;
    if (reconfigured) this.reindexAll();
  }
  putRig(rig: Rig): void {
    this.journal.push({ kind: "rig", id: rig.id, prev: this.rigMap.get(rig.id) });
    this.rigMap.set(rig.id, rig);
  }
  putAgent(agent: Agent): void {
    this.journal.push({ kind: "agent", id: agent.id, prev: this.agentMap.get(agent.id) });
    this.storeAgent(agent.id, agent);
  }
  /** Forgets an agent for good (a tombstone past its retention). */
  removeAgent(id: AgentId): void {
    this.journal.push({ kind: "agent", id, prev: this.agentMap.get(id) });
    this.storeAgent(id, undefined);
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
        case "town": {
          const reconfigured = entry.prev.config !== this.townValue.config;
          this.townValue = entry.prev;
          if (reconfigured) this.reindexAll();
          break;
        }
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
    const agents = new Map<AgentId, Agent | undefined>();
    const beads = new Set<BeadId>();
    const created = new Set<BeadId>();
    for (const entry of this.journal) {
      switch (entry.kind) {
        case "town":
          town = this.townValue;
          break;
        case "rig":
          rigs.add(entry.id);
          break;
        case "agent":
          // The first journal entry of an entity holds what it was before this commit.
          if (!agents.has(entry.id)) agents.set(entry.id, entry.prev);
          break;
        case "bead":
          if (!beads.has(entry.id) && entry.prev === undefined) created.add(entry.id);
          beads.add(entry.id);
          break;
      }
    }
    const createdAgents: Agent[] = [];
    const purgedAgents: AgentId[] = [];
    for (const [id, before] of agents) {
      const now = this.agentMap.get(id);
      if (now && !before) createdAgents.push(now);
      if (!now && before) purgedAgents.push(id);
    }
    return {
      town,
      rigs: present(rigs, this.rigMap),
      agents: present(new Set(agents.keys()), this.agentMap),
      beads: present(beads, this.beadMap),
      createdBeads: present(created, this.beadMap),
      createdAgents,
      archived: this.archivableSinceCommit(),
      purgedAgents,
    };
  }

  /**
   * The changes are safely stored: forget how to undo them, and let the beads they made archivable leave memory
   * for the archive.
   */
  commit(): void {
    const leaving = this.archivableSinceCommit();
    this.archive.add(leaving.map(archived));
    for (const bead of leaving) this.archiveBead(bead);
    this.journal = [];
  }

  // ---- focus: what the next tick looks at -----------------------------------------------------------

  /**
   * What the first reconcile pass of a tick at `now` looks at: everything after a load or a new config;
   * else what changed since the last tick, and the entities whose deadline came since it.
   */
  focusFor(now: number): Focus {
    return this.focus.forTick((from) => this.workIndex.deadlinesBetween(from, now));
  }

  /** Starts a reconcile pass: what it changes is the next pass's focus. */
  beginPass(): void {
    this.focus.beginPass();
  }

  /** What the pass after this one looks at: what this one changed, and what it claimed. */
  nextPassFocus(claimed: Touched): Focus {
    return this.focus.nextPass(claimed);
  }

  /** What changed since the last tick, with what it touched (what the invariants re-check). */
  changedSinceTick(): Touched {
    return this.focus.sinceTick();
  }

  /**
   * A tick committed at `now`: its focus is spent. What changed after its last reconcile pass began
   * (repairs, or a pass that did not settle) and what that pass claimed without changing (a refused
   * action) are what the next tick must look at.
   */
  tickCommitted(now: number, claimed: Touched): void {
    this.focus.tickCommitted(now, claimed);
  }

  /** When the last tick ran (ticks look at the deadlines that came since). */
  get lastTickAt(): number {
    return this.focus.lastTickAt;
  }

  /** The focus bookkeeping, to put back after a dry run (which must not spend it). */
  saveFocus(): () => void {
    return this.focus.save();
  }

  /** Marks entities to be looked at by the next tick (a snapshot's pending focus, on replay). */
  touch(focus: Touched): void {
    for (const id of focus.agents) this.focus.markAgent(id);
    for (const id of focus.beads) this.focus.markBead(id);
  }

  /** The earliest deadline after `now` (the town's next moment), if any. */
  nextDeadline(now: number): Deadline | null {
    let next = this.workIndex.firstDeadlineAfter(now);
    for (const own of [breakerDeadline(this.townValue), progressDeadline(this.townValue, this.workIndex.oldestWaiting())]) {
      if (own && own.at > now && (!next || own.at < next.at)) next = own;
    }
    return next;
  }

  // ---- internals --------------------------------------------------------------------------------------

  private newWorkIndex(): WorkIndex {
    return new WorkIndex(
      () => this.townValue.config,
      (id) => this.bead(id)?.status === "closed",
      (id) => this.stopsOwed.has(id),
    );
  }

  /** Whether an agent owes a stop of a container that worked on this bead. */
  stopOwedFor(beadId: BeadId): boolean {
    return this.stopsOwed.has(beadId);
  }

  /** The agents owing a stop of a container that worked on this bead. */
  *agentsOwingStopFor(beadId: BeadId): Generator<Agent> {
    for (const id of this.stopsOwed.get(beadId) ?? NONE) {
      const agent = this.agentMap.get(id);
      if (agent) yield agent;
    }
  }

  /** Every stop owed, with its agent. */
  *owedStops(): Generator<{ agent: Agent; stop: Agent["owedStops"][number] }> {
    for (const agent of this.agentMap.values()) for (const stop of agent.owedStops) yield { agent, stop };
  }

  /** A new config changes deadlines and what may be dispatched: index everything again, and look at everything. */
  private reindexAll(): void {
    this.workIndex = this.newWorkIndex();
    for (const agent of this.agentMap.values()) this.workIndex.agentChanged(undefined, agent);
    for (const bead of this.beadMap.values()) this.workIndex.beadChanged(undefined, bead);
    this.focus.everything();
  }

  private storeAgent(id: AgentId, agent: Agent | undefined): void {
    const prev = this.agentMap.get(id);
    reindex(this.agentsByStatus, id, prev, agent);
    if (prev?.hook && prev.hook !== agent?.hook) removeFrom(this.hookIndex, prev.hook, id);
    if (agent === undefined) this.agentMap.delete(id);
    else this.agentMap.set(id, agent);
    if (agent?.hook && prev?.hook !== agent.hook) addTo(this.hookIndex, agent.hook, id);
    this.workIndex.agentChanged(prev, agent);
    this.focus.markAgent(id);
    if (prev?.hook) this.focus.markBead(prev.hook);
    if (agent?.hook) this.focus.markBead(agent.hook);
    // Stops owed hold their beads back from dispatch.
    if (prev?.owedStops !== agent?.owedStops) {
      const before = new Set(prev?.owedStops.flatMap((stop) => stop.beadId ?? []));
      const after = new Set(agent?.owedStops.flatMap((stop) => stop.beadId ?? []));
      for (const beadId of before) if (!after.has(beadId)) removeFrom(this.stopsOwed, beadId, id);
      for (const beadId of after) if (!before.has(beadId)) addTo(this.stopsOwed, beadId, id);
      for (const beadId of new Set([...before, ...after])) {
        const bead = this.beadMap.get(beadId);
        if (bead) this.workIndex.dispatchabilityChanged(bead);
        this.focus.markBead(beadId);
      }
    }
  }

  private storeBead(id: BeadId, bead: Bead | undefined): void {
    const prev = this.beadMap.get(id);
    reindex(this.beadsByStatus, id, prev, bead);
    if (bead === undefined) this.beadMap.delete(id);
    else this.beadMap.set(id, bead);
    if (prev) this.typeCounts.set(prev.type, (this.typeCounts.get(prev.type) ?? 0) - 1);
    if (bead) this.typeCounts.set(bead.type, (this.typeCounts.get(bead.type) ?? 0) + 1);
    if (!prev && bead) this.relate(bead);
    if (prev && !bead) this.unrelate(prev, { keepInMergeRequests: false });
    this.workIndex.beadChanged(prev, bead);
    // A blocker's status decides whether the beads it blocks may be dispatched.
    if (prev?.status !== bead?.status) {
      for (const dependent of this.dependents.get(id) ?? NONE) {
        const blocked = this.beadMap.get(dependent);
        if (blocked) this.workIndex.dispatchabilityChanged(blocked);
      }
    }
    this.focus.markBead(id);
    for (const agent of this.hookIndex.get(id) ?? NONE) this.focus.markAgent(agent);
    const source = (bead ?? prev)?.sourceBeadId;
    if (source) this.focus.markBead(source);
    for (const dependent of this.dependents.get(id) ?? NONE) this.focus.markBead(dependent);
    for (const convoy of this.trackers.get(id) ?? NONE) this.focus.markBead(convoy);
  }

  /** Indexes what a bead refers to (set once: a bead's blockers, tracked beads and source never change). */
  private relate(bead: Bead): void {
    if (bead.type === "merge_request" && bead.sourceBeadId) {
      const list = this.mergeRequestIndex.get(bead.sourceBeadId);
      if (!list) this.mergeRequestIndex.set(bead.sourceBeadId, [bead.id]);
      else if (!list.includes(bead.id)) list.push(bead.id);
    }
    for (const blocker of bead.blockedBy) addTo(this.dependents, blocker, bead.id);
    if (bead.type === "convoy") for (const tracked of bead.tracked) addTo(this.trackers, tracked, bead.id);
  }

  private unrelate(bead: Bead, { keepInMergeRequests }: { keepInMergeRequests: boolean }): void {
    if (!keepInMergeRequests && bead.sourceBeadId) {
      const list = this.mergeRequestIndex.get(bead.sourceBeadId)?.filter((mr) => mr !== bead.id) ?? [];
      if (list.length > 0) this.mergeRequestIndex.set(bead.sourceBeadId, list);
      else this.mergeRequestIndex.delete(bead.sourceBeadId);
    }
    for (const blocker of bead.blockedBy) removeFrom(this.dependents, blocker, bead.id);
    if (bead.type === "convoy") for (const tracked of bead.tracked) removeFrom(this.trackers, tracked, bead.id);
  }

  /**
   * Finished, and nothing live can change it any more: no agent holds it, and — for a convoy closed over
   * unfinished work (a cancel) — that work finished too (until then invariant 5 keeps an eye on it).
   */
  private isArchivable(id: BeadId): boolean {
    const bead = this.beadMap.get(id);
    if (bead === undefined || !isFinished(bead) || bead.assignee !== null || this.hookIndex.has(id)) return false;
    return bead.type !== "convoy" || bead.status !== "closed" || this.unfinishedTracked(bead).length === 0;
  }

  /**
   * The beads that the changes since the last commit made archivable: those changed, those an agent let go of,
   * and convoys whose tracked work changed.
   */
  private archivableSinceCommit(): Bead[] {
    const candidates = new Set<BeadId>();
    for (const entry of this.journal) {
      if (entry.kind === "bead") {
        candidates.add(entry.id);
        for (const convoy of this.trackers.get(entry.id) ?? NONE) candidates.add(convoy);
      }
      if (entry.kind === "agent") {
        if (entry.prev?.hook) candidates.add(entry.prev.hook);
        const hook = this.agentMap.get(entry.id)?.hook;
        if (hook) candidates.add(hook);
      }
    }
    return [...candidates].filter((id) => this.isArchivable(id)).map((id) => this.beadMap.get(id)!);
  }

  /** An archivable bead leaves memory for the archive: its own indexes go; it stays listed with its issue's merge requests. */
  private archiveBead(bead: Bead): void {
    this.beadMap.delete(bead.id);
    reindex(this.beadsByStatus, bead.id, bead, undefined);
    this.typeCounts.set(bead.type, (this.typeCounts.get(bead.type) ?? 0) - 1);
    this.unrelate(bead, { keepInMergeRequests: true });
    // A finished issue's merge requests are no longer anyone's concern.
    if (bead.type === "issue") this.mergeRequestIndex.delete(bead.id);
    this.workIndex.beadChanged(bead, undefined);
    this.finishedCounts[bead.type][bead.status as FinishedStatus] += 1;
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

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  set?.delete(value);
  if (set?.size === 0) map.delete(key);
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
