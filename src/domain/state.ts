import { archived, finishedTotal, MemoryArchive, noFinished, type BeadArchive, type FinishedCounts, type FinishedStatus } from "./archive";
import { breakerDeadline, progressDeadline, type Deadline } from "./deadlines";
import { FocusTracker, type Touched, type Focus } from "./focus";
import type { AgentId, BeadId, RigId } from "./ids";
import type { Agent, AgentStatus, Bead, BeadStatus, BeadType, Rig, Town } from "./model";
import { isFinished } from "./model";
import {
  AgentsByStatus,
  BeadsByStatus,
  BeadTypeCounts,
  DependentsIndex,
  HookIndex,
  type Marks,
  MergeRequestIndex,
  NO_MARKS,
  OwedStopIndex,
  type StateIndex,
  TrackerIndex,
} from "./state-index";
import { WorkIndex } from "./work-index";
import { budgetDeadline, runningToday } from "./budget";
import { UsageLedger, utcDay, type UsageRow, type UsageSum } from "./usage";

type JournalEntry =
  | { readonly kind: "town"; readonly prev: Town }
  | { readonly kind: "rig"; readonly id: RigId; readonly prev: Rig | undefined }
  | { readonly kind: "agent"; readonly id: AgentId; readonly prev: Agent | undefined }
  | { readonly kind: "bead"; readonly id: BeadId; readonly prev: Bead | undefined; readonly revivedFrom?: Bead }
  | { readonly kind: "usage"; readonly pendingBefore: number };

/** What a tick or a command changed, for the shell to persist. */
export interface StateChanges {
  readonly town: Town | null;
  readonly rigs: readonly Rig[];
  readonly agents: readonly Agent[];
  /** What each changed agent was at the last commit (none: it is new). */
  readonly agentsWere: ReadonlyMap<AgentId, Agent | undefined>;
  readonly beads: readonly Bead[];
  /** What each changed bead was at the last commit (none: it is new), so the store can write only what changed. */
  readonly beadsWere: ReadonlyMap<BeadId, Bead | undefined>;
  /** Entities that did not exist before (inserted, where the rest are updated; beads' dependencies written once). */
  readonly createdBeads: readonly Bead[];
  readonly createdAgents: readonly Agent[];
  /** Beads that leave the working set with this change: finished, and nothing live holds them. */
  readonly archived: readonly Bead[];
  /** Archived beads back in the working set (a retry), with what the archive held: their rows are updated and leave it. */
  readonly revived: ReadonlyArray<{ readonly bead: Bead; readonly was: Bead }>;
  /** Beads whose blockers were edited (their dependency rows are written again). */
  readonly reblocked: readonly Bead[];
  /** The last archive number given before this change: the archived beads are numbered after it. */
  readonly archivedUpTo: number;
  /** Agents forgotten for good (tombstones past their retention). */
  readonly purgedAgents: readonly AgentId[];
  /** Container time metered by the change, one row per day, rig and role: added to the stored rows. */
  readonly usage: readonly UsageRow[];
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
  /** The last archive number given (default: as many as the counts say have finished). */
  readonly archivedUpTo?: number;
  /** The metered usage as stored: the totals and the latest day's rows. */
  readonly usage?: Iterable<UsageRow>;
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
 * indexes the rules read (by status, hooks, dependencies, per-rig queues, deadlines) are registered
 * StateIndex objects: each hears of every write, undo and load through one path (`storeAgent`,
 * `storeBead`) and marks what the change touched, so a tick looks only at what changed or fell due and
 * no setter can forget a mark.
 */
export class TownState {
  private townValue: Town;
  private readonly rigMap = new Map<RigId, Rig>();
  private readonly agentMap = new Map<AgentId, Agent>();
  private readonly beadMap = new Map<BeadId, Bead>();
  // The indexes, each told every change (see StateIndex): a new one is a field here and an entry in registerIndexes.
  private readonly agentsByStatus = new AgentsByStatus();
  private readonly beadsByStatus = new BeadsByStatus();
  private readonly typeCounts = new BeadTypeCounts();
  private readonly hooks = new HookIndex();
  private readonly mergeRequests = new MergeRequestIndex();
  private readonly dependents = new DependentsIndex();
  private readonly trackers = new TrackerIndex();
  private readonly stopsOwed = new OwedStopIndex();
  /** The per-rig queues, deadlines and sweep buckets: it reads the config, so a new config builds it afresh. */
  private workIndex: WorkIndex;
  /** Told of every agent change, in this order. */
  private agentIndexes: readonly StateIndex[] = [];
  /** Told of every bead change, in this order. */
  private beadIndexes: readonly StateIndex[] = [];
  /** Open issues whose dispatch a change may have unblocked or blocked, rechecked once every index has seen it. */
  private readonly recheck: BeadId[] = [];
  /** What indexes mark: the focus of the next tick and pass, and the dispatch rechecks. */
  private readonly marks: Marks = {
    agent: (id) => this.focus.markAgent(id),
    bead: (id) => this.focus.markBead(id),
    recheckDispatch: (id) => this.recheck.push(id),
  };
  private readonly archive: BeadArchive;
  private readonly finishedCounts: FinishedCounts;
  /** The last archive number given: numbers only grow, so a snapshot's "archived before me" stays true after a retry. */
  private archiveSeq: number;
  private journal: JournalEntry[] = [];
  /** Container time metered: the stored sums, and what the changes since the last commit add. */
  private readonly ledger: UsageLedger;
  /** What the next tick and pass look at: every write marks what it touched. */
  private readonly focus = new FocusTracker();
  /** Finished beads given to the constructor: they went straight to the archive. */
  readonly archivedAtLoad: readonly Bead[];

  constructor(town: Town, rigs: Iterable<Rig> = [], agents: Iterable<Agent> = [], beads: Iterable<Bead> = [], options: TownStateOptions = {}) {
    this.townValue = town;
    this.archive = options.archive ?? new MemoryArchive();
    this.finishedCounts = structuredClone(options.finished ?? noFinished());
    this.archiveSeq = options.archivedUpTo ?? finishedTotal(this.finishedCounts);
    this.ledger = new UsageLedger(options.usage);
    this.workIndex = this.newWorkIndex();
    this.registerIndexes();
    for (const rig of rigs) this.rigMap.set(rig.id, rig);
    if (options.mergeRequests) this.mergeRequests.seed(options.mergeRequests);
    for (const agent of agents) this.storeAgent(agent.id, agent);
    const given = [...beads];
    for (const bead of given) this.storeBead(bead.id, bead);
    const archivable = given.filter((bead) => this.isArchivable(bead.id));
    this.archive.add(archivable.map(archived));
    for (const bead of archivable) this.archiveBead(bead);
    // Only issues still in play keep a list of their merge requests.
    this.mergeRequests.keepOnly((issue) => this.beadMap.has(issue));
    this.archivedAtLoad = archivable;
    this.focus.clear();
  }

  get town(): Town {
    return this.townValue;
  }
  /** A rig in use (a deleted one is kept only for its agent sequence: see `rigRecord`). */
  rig(id: RigId): Rig | undefined {
    const rig = this.rigMap.get(id);
    return rig?.deletedAt === null ? rig : undefined;
  }
  /** A rig as recorded, deleted or not. */
  rigRecord(id: RigId): Rig | undefined {
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
  /** The rigs in use. */
  *rigs(): Generator<Rig> {
    for (const rig of this.rigMap.values()) if (rig.deletedAt === null) yield rig;
  }
  /** Every rig recorded, deleted ones too (what a snapshot keeps). */
  allRigs(): IterableIterator<Rig> {
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
    return this.beadsByStatus.with(status);
  }
  agentsWith(status: AgentStatus): IterableIterator<Agent> {
    return this.agentsByStatus.with(status);
  }
  countWith(status: BeadStatus): number {
    return this.beadsByStatus.count(status);
  }
  countAgentsWith(status: AgentStatus): number {
    return this.agentsByStatus.count(status);
  }
  /** Beads of the working set of this type. */
  countOfType(type: BeadType): number {
    return this.typeCounts.count(type);
  }
  /** The queues and deadlines the rules read. */
  get work(): WorkIndex {
    return this.workIndex;
  }
  /** Beads that left the working set, by type and status. */
  get finished(): FinishedCounts {
    return this.finishedCounts;
  }
  /** The last archive number given (a snapshot records it: replay reads only the beads archived up to it). */
  get archivedUpTo(): number {
    return this.archiveSeq;
  }

  /** Container time and dispatches of the UTC day of `now`, the containers still running included. */
  usageToday(now: number): UsageSum & { readonly running: number } {
    const closed = this.ledger.day(utcDay(now));
    const open = runningToday(this.metered(), now);
    return { containerMs: closed.containerMs + open.containerMs, dispatches: closed.dispatches, running: open.running };
  }

  /** Container time ever per rig and role, closed intervals only (the caller adds what still runs). */
  usageAllTime(): UsageRow[] {
    return this.ledger.allTime();
  }

  /** What a snapshot keeps of the meter: the totals and the latest day's rows. */
  usageRows(): UsageRow[] {
    return this.ledger.rows();
  }

  /** The agents whose container the meter is counting. */
  *metered(): Generator<Agent> {
    for (const agent of this.agentsByStatus.with("working")) if (agent.runningSince !== null) yield agent;
    for (const agent of this.agentsByStatus.with("stalled")) if (agent.runningSince !== null) yield agent;
  }

  get size(): { rigs: number; agents: number; beads: number } {
    return { rigs: this.rigMap.size, agents: this.agentMap.size, beads: this.beadMap.size };
  }

  /** Agents whose hook points at this bead. */
  agentsHookedTo(beadId: BeadId): readonly AgentId[] {
    return this.hooks.agentsOf(beadId);
  }

  /** Beads some agent is hooked to. */
  hookedBeads(): IterableIterator<BeadId> {
    return this.hooks.beads();
  }

  mergeRequestsOf(issueId: BeadId): readonly BeadId[] {
    return this.mergeRequests.of(issueId);
  }

  /** Every bead live work refers to: blockers, tracked beads, merge requests of issues in play, hooks. */
  referencedBeads(): Set<BeadId> {
    const out = new Set<BeadId>([...this.dependents.blockers(), ...this.trackers.tracked(), ...this.hooks.beads()]);
    for (const [, list] of this.mergeRequests.all()) for (const id of list) out.add(id);
    return out;
  }

  /** The merge request lists of the working set's issues (what a snapshot keeps of archived merge requests). */
  mergeRequestLists(): Array<[BeadId, BeadId[]]> {
    return [...this.mergeRequests.all()].map(([issue, list]) => [issue, [...list]]);
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
  /** Container time metered (see mutations.ts: `stopMeter`), stored with the change that metered it. */
  recordUsage(row: UsageRow): void {
    this.journal.push({ kind: "usage", pendingBefore: this.ledger.pendingCount });
    this.ledger.add(row);
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
  /** Brings an archived bead (`was`) back into the working set as `bead` (a retry); undone, it stays archived. */
  reviveBead(was: Bead, bead: Bead): void {
    if (this.beadMap.has(bead.id)) throw new Error(`bead ${bead.id} is in the working set already`);
    this.journal.push({ kind: "bead", id: bead.id, prev: undefined, revivedFrom: was });
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
        case "usage":
          this.ledger.undoTo(entry.pendingBefore);
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
    const revived: Array<{ bead: Bead; was: Bead }> = [];
    const before = new Map<BeadId, Bead | undefined>();
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
          if (!beads.has(entry.id)) {
            if (entry.revivedFrom) {
              const now = this.beadMap.get(entry.id);
              if (now) revived.push({ bead: now, was: entry.revivedFrom });
            } else if (entry.prev === undefined) created.add(entry.id);
            before.set(entry.id, entry.prev);
          }
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
      agentsWere: agents,
      beads: present(beads, this.beadMap),
      beadsWere: before,
      createdBeads: present(created, this.beadMap),
      createdAgents,
      archived: this.archivableSinceCommit(),
      revived,
      reblocked: [...before].flatMap(([id, prev]) => {
        const now = this.beadMap.get(id);
        return prev && now && prev.blockedBy !== now.blockedBy ? [now] : [];
      }),
      archivedUpTo: this.archiveSeq,
      purgedAgents,
      usage: this.ledger.changes(),
    };
  }

  /**
   * The changes are safely stored: forget how to undo them, and let the beads they made archivable leave memory
   * for the archive.
   */
  commit(): void {
    // A revived bead counted as finished while it was archived; it no longer does (the shell stored the same).
    for (const entry of this.journal) {
      if (entry.kind === "bead" && entry.revivedFrom && this.beadMap.has(entry.id)) {
        this.finishedCounts[entry.revivedFrom.type][entry.revivedFrom.status as FinishedStatus] -= 1;
      }
    }
    const leaving = this.archivableSinceCommit();
    this.archive.add(leaving.map(archived));
    for (const bead of leaving) this.archiveBead(bead);
    this.ledger.commit();
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
    const town = this.townValue;
    const budget = this.budgetDeadline(now);
    for (const own of [breakerDeadline(town), progressDeadline(town, this.workIndex.oldestWaiting()), budget]) {
      if (own && own.at > now && (!next || own.at < next.at)) next = own;
    }
    return next;
  }

  // ---- internals --------------------------------------------------------------------------------------

  /** The budget's next moment (none without a budget, or before the town ever ticked: `now` is -Infinity then). */
  private budgetDeadline(now: number): Deadline | null {
    const town = this.townValue;
    const pausedByBudget = town.paused?.by === "budget";
    if ((!town.config.budget && !pausedByBudget) || !Number.isFinite(now)) return null;
    const today = this.usageToday(now);
    return budgetDeadline(town.config.budget, pausedByBudget, today, today.running, now);
  }

  /** A work index for the current config (it reads the config, so a new config builds a new one). */
  private newWorkIndex(): WorkIndex {
    return new WorkIndex(
      () => this.townValue.config,
      (id) => this.bead(id)?.status === "closed",
      (id) => this.stopsOwed.has(id),
    );
  }

  /** The indexes that hear of changes, in the order they hear of them: adding an index is adding it here. */
  private registerIndexes(): void {
    this.agentIndexes = [this.agentsByStatus, this.hooks, this.workIndex, this.stopsOwed];
    this.beadIndexes = [this.beadsByStatus, this.typeCounts, this.mergeRequests, this.dependents, this.trackers, this.hooks, this.workIndex];
  }

  /** Whether an agent owes a stop of a container that worked on this bead. */
  stopOwedFor(beadId: BeadId): boolean {
    return this.stopsOwed.has(beadId);
  }

  /** The agents owing a stop of a container that worked on this bead. */
  *agentsOwingStopFor(beadId: BeadId): Generator<Agent> {
    for (const id of this.stopsOwed.agentsOf(beadId)) {
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
    this.registerIndexes();
    for (const agent of this.agentMap.values()) this.workIndex.agentChanged(undefined, agent);
    for (const bead of this.beadMap.values()) this.workIndex.beadChanged(undefined, bead);
    this.focus.everything();
  }

  /** Every agent write and undo comes through here: each index hears of it and marks what it touched. */
  private storeAgent(id: AgentId, agent: Agent | undefined): void {
    const prev = this.agentMap.get(id);
    if (agent === undefined) this.agentMap.delete(id);
    else this.agentMap.set(id, agent);
    this.focus.markAgent(id);
    for (const index of this.agentIndexes) index.agentChanged?.(prev, agent, this.marks);
    this.recheckDispatch();
  }

  /** Every bead write and undo comes through here: each index hears of it and marks what it touched. */
  private storeBead(id: BeadId, bead: Bead | undefined): void {
    const prev = this.beadMap.get(id);
    if (bead === undefined) this.beadMap.delete(id);
    else this.beadMap.set(id, bead);
    this.focus.markBead(id);
    for (const index of this.beadIndexes) index.beadChanged?.(prev, bead, this.marks);
    this.recheckDispatch();
  }

  /** The open issues the last change may have unblocked or blocked. */
  private recheckDispatch(): void {
    if (this.recheck.length === 0) return;
    for (const id of this.recheck) {
      const bead = this.beadMap.get(id);
      if (bead) this.workIndex.dispatchabilityChanged(bead);
    }
    this.recheck.length = 0;
  }

  /**
   * Finished, and nothing live can change it any more: no agent holds it, and — for a convoy closed over
   * unfinished work (a cancel) — that work finished too (until then invariant 5 keeps an eye on it).
   */
  private isArchivable(id: BeadId): boolean {
    const bead = this.beadMap.get(id);
    if (bead === undefined || !isFinished(bead) || bead.assignee !== null || this.hooks.has(id)) return false;
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
        for (const convoy of this.trackers.convoysOf(entry.id)) candidates.add(convoy);
      }
      // A bead an agent still holds is not archivable: only one it let go of is a candidate (a status
      // report changes the agent and keeps its hook, and a flood of them is most of a busy tick).
      if (entry.kind === "agent" && entry.prev?.hook && entry.prev.hook !== this.agentMap.get(entry.id)?.hook) candidates.add(entry.prev.hook);
    }
    return [...candidates].filter((id) => this.isArchivable(id)).map((id) => this.beadMap.get(id)!);
  }

  /** An archivable bead leaves memory for the archive: each index lets it go (relations that outlive it may keep it). */
  private archiveBead(bead: Bead): void {
    this.beadMap.delete(bead.id);
    for (const index of this.beadIndexes) {
      if (index.beadArchived) index.beadArchived(bead);
      else index.beadChanged?.(bead, undefined, NO_MARKS);
    }
    this.finishedCounts[bead.type][bead.status as FinishedStatus] += 1;
    this.archiveSeq += 1;
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
