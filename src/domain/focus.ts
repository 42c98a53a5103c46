import { isAgentDeadline, isTownDeadline, type Deadline } from "./deadlines";
import type { AgentId, BeadId } from "./ids";

/** Agents and beads that writes touched (or a rule claimed). */
export interface Touched {
  readonly agents: ReadonlySet<AgentId>;
  readonly beads: ReadonlySet<BeadId>;
}
/** What a tick, a reconcile pass or an invariant check looks at: what was touched, or "all" (the whole working set). */
export type Focus = "all" | Touched;

/**
 * What the next tick, and the next reconcile pass, must look at. Every write to the state marks what
 * it touched here; a tick looks at those marks and at the deadlines that came since the last tick, and
 * nothing else — or at everything after a load or a new config.
 */
export class FocusTracker {
  /** What changed since the last tick committed, with what it touches: the next tick's focus. */
  private pendingAgents = new Set<AgentId>();
  private pendingBeads = new Set<BeadId>();
  /** What changed since the current reconcile pass began. */
  private recentAgents = new Set<AgentId>();
  private recentBeads = new Set<BeadId>();
  /** The next tick looks at everything (a fresh load, a new config). */
  private wholeTown = true;
  private lastTick = -Infinity;

  markAgent(id: AgentId): void {
    this.pendingAgents.add(id);
    this.recentAgents.add(id);
  }

  markBead(id: BeadId): void {
    this.pendingBeads.add(id);
    this.recentBeads.add(id);
  }

  /** The next tick looks at everything. */
  everything(): void {
    this.wholeTown = true;
  }

  /** Forgets the marks (what a fresh load wrote is covered by looking at everything). */
  clear(): void {
    this.pendingAgents.clear();
    this.pendingBeads.clear();
    this.recentAgents.clear();
    this.recentBeads.clear();
  }

  /** The first pass of a tick at `now`: everything, or what changed and what fell due since the last tick. */
  forTick(dueSinceLastTick: (from: number) => Iterable<Deadline>): Focus {
    if (this.wholeTown) return "all";
    const agents = new Set(this.pendingAgents);
    const beads = new Set(this.pendingBeads);
    for (const due of dueSinceLastTick(this.lastTick)) {
      if (isAgentDeadline(due)) agents.add(due.id as AgentId);
      else if (!isTownDeadline(due)) beads.add(due.id as BeadId);
    }
    return { agents, beads };
  }

  beginPass(): void {
    this.recentAgents = new Set();
    this.recentBeads = new Set();
  }

  nextPass(claimed: Touched): Focus {
    if (this.wholeTown) return "all";
    return { agents: union(this.recentAgents, claimed.agents), beads: union(this.recentBeads, claimed.beads) };
  }

  sinceTick(): Touched {
    return { agents: this.pendingAgents, beads: this.pendingBeads };
  }

  tickCommitted(now: number, claimed: Touched): void {
    this.pendingAgents = union(this.recentAgents, claimed.agents);
    this.pendingBeads = union(this.recentBeads, claimed.beads);
    this.wholeTown = false;
    this.lastTick = now;
  }

  get lastTickAt(): number {
    return this.lastTick;
  }

  /** The bookkeeping as it is, to put back after a dry run (which must not spend it). */
  save(): () => void {
    const saved = { pendingAgents: new Set(this.pendingAgents), pendingBeads: new Set(this.pendingBeads), wholeTown: this.wholeTown, lastTick: this.lastTick };
    return () => {
      this.pendingAgents = saved.pendingAgents;
      this.pendingBeads = saved.pendingBeads;
      this.wholeTown = saved.wholeTown;
      this.lastTick = saved.lastTick;
    };
  }
}

export function union<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): Set<T> {
  const out = new Set(a);
  for (const x of b) out.add(x);
  return out;
}
