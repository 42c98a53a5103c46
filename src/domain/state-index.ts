import type { AgentId, BeadId } from "./ids";
import type { Agent, Bead } from "./model";

/**
 * Where an index says what a change touched. Marks become the focus of the next tick and reconcile
 * pass; a recheck asks the work index to look again at whether an open issue may be dispatched (its
 * blocker or an owed stop changed), once every index has seen the change.
 */
export interface Marks {
  agent(id: AgentId): void;
  bead(id: BeadId): void;
  recheckDispatch(id: BeadId): void;
}

/**
 * An index of the working set. `TownState` tells every registered index every change of an agent or a
 * bead — its value before and after (undefined: none) — on every write, undo and load, so an index is
 * never stale and a relation it keeps says itself what a change touches: no setter can forget to mark
 * it. A new index is one class and one line in `TownState`'s list.
 */
export interface StateIndex {
  agentChanged?(prev: Agent | undefined, next: Agent | undefined, marks: Marks): void;
  beadChanged?(prev: Bead | undefined, next: Bead | undefined, marks: Marks): void;
  /**
   * A finished bead leaves the working set for the archive. It still exists, so relations that outlive
   * it (an issue's list of merge requests) may keep it; nothing is marked (the bead did not change).
   * Without this method the index is told `beadChanged(bead, undefined)` with no marks.
   */
  beadArchived?(bead: Bead): void;
}

/** Marks that go nowhere: what archiving and rebuilding an index use (nothing changed that a tick must look at). */
export const NO_MARKS: Marks = { agent: () => {}, bead: () => {}, recheckDispatch: () => {} };

/** Entities by status: `beadsWith("open")` and the counts are a map lookup. */
export class ByStatus<K, E extends { readonly id: K; readonly status: string }> {
  private readonly buckets = new Map<string, Map<K, E>>();

  changed(prev: E | undefined, next: E | undefined): void {
    if (prev && prev.status !== next?.status) this.buckets.get(prev.status)?.delete(prev.id);
    if (!next) return;
    let bucket = this.buckets.get(next.status);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(next.status, bucket);
    }
    bucket.set(next.id, next);
  }

  with(status: string): IterableIterator<E> {
    return (this.buckets.get(status) ?? EMPTY).values() as IterableIterator<E>;
  }

  count(status: string): number {
    return this.buckets.get(status)?.size ?? 0;
  }
}

export class AgentsByStatus extends ByStatus<AgentId, Agent> implements StateIndex {
  agentChanged(prev: Agent | undefined, next: Agent | undefined): void {
    this.changed(prev, next);
  }
}

export class BeadsByStatus extends ByStatus<BeadId, Bead> implements StateIndex {
  beadChanged(prev: Bead | undefined, next: Bead | undefined): void {
    this.changed(prev, next);
  }
}

/** Beads of the working set by type. */
export class BeadTypeCounts implements StateIndex {
  private readonly counts = new Map<string, number>();

  beadChanged(prev: Bead | undefined, next: Bead | undefined): void {
    if (prev) this.counts.set(prev.type, (this.counts.get(prev.type) ?? 0) - 1);
    if (next) this.counts.set(next.type, (this.counts.get(next.type) ?? 0) + 1);
  }

  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }
}

/** Bead → the agents hooked to it (normally one; invariant 6 watches for more). A hook and its bead touch each other. */
export class HookIndex implements StateIndex {
  private readonly hooked = new Map<BeadId, Set<AgentId>>();

  agentChanged(prev: Agent | undefined, next: Agent | undefined, marks: Marks): void {
    const id = (next ?? prev)!.id;
    if (prev?.hook && prev.hook !== next?.hook) removeFrom(this.hooked, prev.hook, id);
    if (next?.hook && prev?.hook !== next.hook) addTo(this.hooked, next.hook, id);
    if (prev?.hook) marks.bead(prev.hook);
    if (next?.hook) marks.bead(next.hook);
  }

  beadChanged(prev: Bead | undefined, next: Bead | undefined, marks: Marks): void {
    for (const agent of this.hooked.get((next ?? prev)!.id) ?? NONE) marks.agent(agent);
  }

  agentsOf(beadId: BeadId): readonly AgentId[] {
    const hooked = this.hooked.get(beadId);
    return hooked ? [...hooked] : NONE;
  }

  has(beadId: BeadId): boolean {
    return this.hooked.has(beadId);
  }

  beads(): IterableIterator<BeadId> {
    return this.hooked.keys();
  }
}

/**
 * Issue → its merge requests, in creation order: for live issues only, archived merge requests
 * included (a review settles on all of them). A merge request touches its issue.
 */
export class MergeRequestIndex implements StateIndex {
  private readonly lists = new Map<BeadId, BeadId[]>();

  /** The lists as storage or a snapshot held them (archived merge requests included). */
  seed(lists: Iterable<readonly [BeadId, readonly BeadId[]]>): void {
    for (const [issue, list] of lists) this.lists.set(issue, [...list]);
  }

  /** Only issues of the working set keep a list. */
  keepOnly(isLive: (issue: BeadId) => boolean): void {
    for (const issue of [...this.lists.keys()]) if (!isLive(issue)) this.lists.delete(issue);
  }

  beadChanged(prev: Bead | undefined, next: Bead | undefined, marks: Marks): void {
    const source = (next ?? prev)!.sourceBeadId;
    if (source) marks.bead(source);
    if (next?.type !== "merge_request" || !next.sourceBeadId) {
      if (prev && !next) this.forget(prev);
      return;
    }
    if (prev) return;
    const list = this.lists.get(next.sourceBeadId);
    if (!list) this.lists.set(next.sourceBeadId, [next.id]);
    else if (!list.includes(next.id)) list.push(next.id);
  }

  /** An archived merge request stays listed with its issue; an archived issue's list goes with it. */
  beadArchived(bead: Bead): void {
    if (bead.type === "issue") this.lists.delete(bead.id);
  }

  of(issue: BeadId): readonly BeadId[] {
    return this.lists.get(issue) ?? NONE;
  }

  all(): IterableIterator<[BeadId, BeadId[]]> {
    return this.lists.entries();
  }

  /** A merge request undone (its creation rolled back): it leaves its issue's list. */
  private forget(bead: Bead): void {
    if (!bead.sourceBeadId) return;
    const list = this.lists.get(bead.sourceBeadId)?.filter((mr) => mr !== bead.id) ?? [];
    if (list.length > 0) this.lists.set(bead.sourceBeadId, list);
    else this.lists.delete(bead.sourceBeadId);
  }
}

/**
 * Blocker → the live beads it blocks. A blocker's status decides whether those may be dispatched, so a
 * change of it touches them and has them rechecked; an edit of a bead's blockers moves it.
 */
export class DependentsIndex implements StateIndex {
  private readonly dependents = new Map<BeadId, Set<BeadId>>();

  beadChanged(prev: Bead | undefined, next: Bead | undefined, marks: Marks): void {
    const id = (next ?? prev)!.id;
    if (prev?.blockedBy !== next?.blockedBy) {
      for (const blocker of prev?.blockedBy ?? NONE) if (!next?.blockedBy.includes(blocker)) removeFrom(this.dependents, blocker, id);
      for (const blocker of next?.blockedBy ?? NONE) addTo(this.dependents, blocker, id);
    }
    const statusChanged = prev?.status !== next?.status;
    for (const dependent of this.dependents.get(id) ?? NONE) {
      marks.bead(dependent);
      if (statusChanged) marks.recheckDispatch(dependent);
    }
  }

  /** An archived bead blocks no more (it is closed or failed for good); it stays a key while live beads name it. */
  beadArchived(bead: Bead): void {
    for (const blocker of bead.blockedBy) removeFrom(this.dependents, blocker, bead.id);
  }

  blockers(): IterableIterator<BeadId> {
    return this.dependents.keys();
  }
}

/** Bead → the live convoys tracking it: a change of a tracked bead touches its convoys. */
export class TrackerIndex implements StateIndex {
  private readonly trackers = new Map<BeadId, Set<BeadId>>();

  beadChanged(prev: Bead | undefined, next: Bead | undefined, marks: Marks): void {
    const bead = (next ?? prev)!;
    if (bead.type === "convoy" && !prev && next) for (const tracked of bead.tracked) addTo(this.trackers, tracked, bead.id);
    if (bead.type === "convoy" && prev && !next) for (const tracked of bead.tracked) removeFrom(this.trackers, tracked, bead.id);
    for (const convoy of this.trackers.get(bead.id) ?? NONE) marks.bead(convoy);
  }

  beadArchived(bead: Bead): void {
    if (bead.type === "convoy") for (const tracked of bead.tracked) removeFrom(this.trackers, tracked, bead.id);
  }

  convoysOf(beadId: BeadId): ReadonlySet<BeadId> {
    return this.trackers.get(beadId) ?? EMPTY_SET;
  }

  tracked(): IterableIterator<BeadId> {
    return this.trackers.keys();
  }
}

/** Bead → the agents owing a stop of a container that worked on it: such a bead goes to no other container until then. */
export class OwedStopIndex implements StateIndex {
  private readonly owing = new Map<BeadId, Set<AgentId>>();

  agentChanged(prev: Agent | undefined, next: Agent | undefined, marks: Marks): void {
    if (prev?.owedStops === next?.owedStops) return;
    const id = (next ?? prev)!.id;
    const before = new Set(prev?.owedStops.flatMap((stop) => stop.beadId ?? []));
    const after = new Set(next?.owedStops.flatMap((stop) => stop.beadId ?? []));
    for (const beadId of before) if (!after.has(beadId)) removeFrom(this.owing, beadId, id);
    for (const beadId of after) if (!before.has(beadId)) addTo(this.owing, beadId, id);
    for (const beadId of new Set([...before, ...after])) {
      marks.bead(beadId);
      marks.recheckDispatch(beadId);
    }
  }

  has(beadId: BeadId): boolean {
    return this.owing.has(beadId);
  }

  agentsOf(beadId: BeadId): Iterable<AgentId> {
    return this.owing.get(beadId) ?? NONE;
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  set?.delete(value);
  if (set?.size === 0) map.delete(key);
}

const EMPTY = new Map<never, never>();
const EMPTY_SET: ReadonlySet<never> = new Set();
const NONE: readonly never[] = Object.freeze([]);
