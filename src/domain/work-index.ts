import { fnv1a } from "./hash";
import type { TownConfig } from "./config";
import { agentDeadlines, beadDeadlines, byDeadline, FIRST_KIND, type Deadline } from "./deadlines";
import type { AgentId, BeadId, RigId } from "./ids";
import type { Agent, Bead } from "./model";
import { SortedList } from "./sorted-list";
import type { StateIndex } from "./state-index";

/** Most urgent first: priority, then age, then id (a total order, so every run dispatches alike). */
export const byUrgency = (a: Bead, b: Bead): number => a.priority - b.priority || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Oldest first, then id. */
export const byAge = (a: Bead, b: Bead): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const byId = (a: Agent, b: Agent): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Longest waiting first: by when the bead last changed, then id. */
const bySinceChanged = (a: Bead, b: Bead): number => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** What a rig has to work with and to work on, in the order the dispatch rules take it. */
export class RigWork {
  /** Idle polecats with no hook, by id. */
  readonly idlePolecats = new SortedList<Agent>(byId);
  /** Polecats that are not dead (the rig's cap counts them). */
  alivePolecats = 0;
  /** Refineries that are not dead, by id: the first is the rig's refinery. */
  readonly refineries = new SortedList<Agent>(byId);
  /** Merge requests waiting for review, oldest first. */
  readonly openReviews = new SortedList<Bead>(byAge);
  /** Merge requests under review, oldest first (more than one breaks invariant 3). */
  readonly reviewing = new SortedList<Bead>(byAge);
  /**
   * Open issues nothing holds back but time and agents: not held, attempts left, every blocker closed.
   * Most urgent first; whether a backoff still runs is checked when one is taken.
   */
  readonly dispatchable = new SortedList<Bead>(byUrgency);

  get isEmpty(): boolean {
    return this.alivePolecats === 0 && this.refineries.size === 0 && this.openReviews.size === 0 && this.reviewing.size === 0 && this.dispatchable.size === 0;
  }
}

/** How many buckets the rolling invariant sweep cycles through: every entity is checked once per this many ticks. */
export const SWEEP_BUCKETS = 16;

/** The bucket of an id (FNV-1a): stable across runs and processes, so replay sweeps what the live tick swept. */
export function sweepBucket(id: string): number {
  return fnv1a(id) % SWEEP_BUCKETS;
}

/**
 * The indexes that spare a tick from walking the town: per rig, the queues the dispatch rules read; the
 * deadlines of every entity in time order; and the sweep buckets. The state updates them on every write
 * (and every undo), so they are never stale; nothing here decides anything.
 */
export class WorkIndex implements StateIndex {
  private readonly rigs = new Map<RigId, RigWork>();
  readonly deadlines = new SortedList<Deadline>(byDeadline);
  /**
   * Work waiting to be taken, town-wide, longest waiting first: the issues of every rig's dispatch queue
   * and the merge requests waiting for review. Invariant 11 reads its head.
   */
  private readonly waitingWork = new SortedList<Bead>(bySinceChanged);
  private readonly agentBuckets = Array.from({ length: SWEEP_BUCKETS }, () => new Set<AgentId>());
  private readonly beadBuckets = Array.from({ length: SWEEP_BUCKETS }, () => new Set<BeadId>());

  constructor(
    private readonly config: () => TownConfig,
    /** Whether a bead is closed (blockers may have left the working set). */
    private readonly isClosed: (id: BeadId) => boolean,
    /** Whether an agent owes a stop of a container that worked on this bead. */
    private readonly stopOwedFor: (id: BeadId) => boolean,
  ) {}

  rig(id: RigId): RigWork | undefined {
    return this.rigs.get(id);
  }

  /** Rigs that have agents or work, in id order. */
  rigIds(): RigId[] {
    return [...this.rigs.keys()].sort();
  }

  agentsInBucket(bucket: number): ReadonlySet<AgentId> {
    return this.agentBuckets[bucket]!;
  }

  beadsInBucket(bucket: number): ReadonlySet<BeadId> {
    return this.beadBuckets[bucket]!;
  }

  /** The work that has waited longest to be dispatched or reviewed (unchanged since then), if any. */
  oldestWaiting(): Bead | undefined {
    return this.waitingWork.first();
  }

  /** How many beads wait to be dispatched or reviewed. */
  get waitingCount(): number {
    return this.waitingWork.size;
  }

  /** Deadlines with `after < at ≤ upTo`, in time order. */
  *deadlinesBetween(after: number, upTo: number): Generator<Deadline> {
    const list = this.deadlines;
    for (let i = after === -Infinity ? 0 : list.lowerBound({ at: after, kind: FIRST_KIND, id: "" }); i < list.size; i++) {
      const deadline = list.at(i)!;
      if (deadline.at <= after) continue;
      if (deadline.at > upTo) return;
      yield deadline;
    }
  }

  /** The first deadline after `now`. */
  firstDeadlineAfter(now: number): Deadline | null {
    for (const deadline of this.deadlinesBetween(now, Infinity)) return deadline;
    return null;
  }

  agentChanged(prev: Agent | undefined, next: Agent | undefined): void {
    const config = this.config();
    replaceDeadlines(this.deadlines, prev ? agentDeadlines(prev, config) : NONE, next ? agentDeadlines(next, config) : NONE);
    if (!prev && next) this.agentBuckets[sweepBucket(next.id)]!.add(next.id);
    if (prev && !next) this.agentBuckets[sweepBucket(prev.id)]!.delete(prev.id);
    if (prev) {
      const work = this.rigs.get(prev.rigId);
      if (work) {
        if (prev.role === "polecat" && prev.status !== "dead") work.alivePolecats -= 1;
        if (isIdlePolecat(prev)) work.idlePolecats.remove(prev);
        if (prev.role === "refinery" && prev.status !== "dead") work.refineries.remove(prev);
        this.forgetIfEmpty(prev.rigId, work);
      }
    }
    if (next) {
      const work = this.rigWork(next.rigId);
      if (next.role === "polecat" && next.status !== "dead") work.alivePolecats += 1;
      if (isIdlePolecat(next)) work.idlePolecats.add(next);
      if (next.role === "refinery" && next.status !== "dead") work.refineries.add(next);
    }
  }

  beadChanged(prev: Bead | undefined, next: Bead | undefined): void {
    const config = this.config();
    replaceDeadlines(this.deadlines, prev ? beadDeadlines(prev, config) : NONE, next ? beadDeadlines(next, config) : NONE);
    if (!prev && next) this.beadBuckets[sweepBucket(next.id)]!.add(next.id);
    if (prev && !next) this.beadBuckets[sweepBucket(prev.id)]!.delete(prev.id);
    if (prev?.rigId) {
      const work = this.rigs.get(prev.rigId);
      if (work) {
        if (prev.type === "merge_request" && prev.status === "open") work.openReviews.remove(prev);
        if (prev.type === "merge_request" && prev.status === "in_progress") work.reviewing.remove(prev);
        work.dispatchable.remove(prev);
        this.forgetIfEmpty(prev.rigId, work);
      }
      this.waitingWork.remove(prev);
    }
    if (next?.rigId) {
      const review = next.type === "merge_request" && next.status === "open";
      const dispatchable = this.isDispatchable(next);
      if (review) this.rigWork(next.rigId).openReviews.add(next);
      if (next.type === "merge_request" && next.status === "in_progress") this.rigWork(next.rigId).reviewing.add(next);
      if (dispatchable) this.rigWork(next.rigId).dispatchable.add(next);
      if (review || dispatchable) this.waitingWork.add(next);
    }
  }

  /** Something `bead`'s dispatch depends on changed (a blocker, a stop owed for it): it may be dispatched or not now. */
  dispatchabilityChanged(bead: Bead): void {
    // Only issues wait to be dispatched (a merge request waiting for review stays where it is).
    if (!bead.rigId || bead.type !== "issue") return;
    const dispatchable = this.isDispatchable(bead);
    const work = this.rigs.get(bead.rigId);
    if (dispatchable) {
      this.rigWork(bead.rigId).dispatchable.add(bead);
      this.waitingWork.add(bead);
    } else {
      work?.dispatchable.remove(bead);
      this.waitingWork.remove(bead);
    }
  }

  /**
   * Open, unheld, unblocked issue of a rig with attempts left, and no old container of it still to be
   * stopped (backoff and agents are checked at dispatch).
   */
  isDispatchable(bead: Bead): boolean {
    if (bead.type !== "issue" || bead.status !== "open" || bead.rigId === null || bead.held) return false;
    if (bead.dispatchAttempts >= this.config().maxDispatchAttempts) return false;
    for (const id of bead.blockedBy) if (!this.isClosed(id)) return false;
    return !this.stopOwedFor(bead.id);
  }

  private rigWork(id: RigId): RigWork {
    let work = this.rigs.get(id);
    if (!work) {
      work = new RigWork();
      this.rigs.set(id, work);
    }
    return work;
  }

  private forgetIfEmpty(id: RigId, work: RigWork): void {
    if (work.isEmpty) this.rigs.delete(id);
  }
}

const NONE: readonly Deadline[] = [];

/** Free for new work: idle, unhooked, and owing no stop (its old container is confirmed gone). */
const isIdlePolecat = (agent: Agent): boolean => agent.role === "polecat" && agent.status === "idle" && agent.hook === null && agent.owedStops.length === 0;

function replaceDeadlines(list: SortedList<Deadline>, before: readonly Deadline[], after: readonly Deadline[]): void {
  for (const old of before) if (!after.some((d) => byDeadline(d, old) === 0)) list.remove(old);
  for (const next of after) list.add(next);
}
