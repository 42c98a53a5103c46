import type { ActionBody } from "../actions";
import type { TownConfig } from "../config";
import type { AgentId, BeadId, RigId } from "../ids";
import type { Agent, Bead } from "../model";
import type { QueueFacts } from "../queue";
import type { TownState } from "../state";

/** What every check may read: the state, the moment, and the queue as the tick found it. */
export interface Checking {
  readonly state: TownState;
  readonly now: number;
  readonly config: TownConfig;
  readonly queue: QueueFacts;
}

/** What a check found: a violation before its record stamps the invariant on it. */
export interface Finding {
  /** Stable within the invariant: the same problem in the next tick has the same key. */
  readonly key: string;
  readonly message: string;
  readonly agentIds?: AgentId[];
  readonly beadIds?: BeadId[];
}

/** One action of a safe repair; the record names it the rule `invariant.N`. */
export interface Repair {
  readonly reason: string;
  readonly body: ActionBody;
}

/**
 * One invariant of DESIGN §4.5, with everything that speaks of it. A check looks at one entity of its
 * kind (the index calls it once per entity in focus) and returns what is wrong with it, or null; the
 * repair, where one is safe, takes what the check took and says what puts it right.
 */
interface InvariantOf<Kind extends string, Subject extends unknown[]> {
  /**
   * DESIGN's number, and public: Sentry fingerprints `invariant:N`, the metric label `invariant="N"`,
   * the repairs' rule `invariant.N` and the runbooks all use it. Never renumber one.
   */
  readonly id: number;
  /** The name of `check`, which says what holds. */
  readonly name: string;
  /** What holds, in a phrase (Sentry's message quotes it). */
  readonly description: string;
  readonly of: Kind;
  readonly check: (...subject: Subject) => Finding | null;
  readonly repair?: (...subject: Subject) => Repair[];
  /** Its page in docs/runbooks/. */
  readonly runbook: string;
  /**
   * The fleet alert that watches it alone, by the id of its entry in FLEET_ALERTS (src/fleet, which the
   * domain does not import), with the fleet summary's field it raises.
   */
  readonly fleetAlert?: { readonly id: string; readonly field: string };
}

export type AgentInvariant = InvariantOf<"agent", [agent: Agent, checking: Checking]>;
/** Checked for every bead id in focus, with the agents hooked to it; the bead itself may be missing. */
export type BeadInvariant = InvariantOf<"bead", [id: BeadId, bead: Bead | undefined, hooked: readonly Agent[], checking: Checking]>;
export type RigInvariant = InvariantOf<"rig", [rigId: RigId, checking: Checking]>;
/** The town as a whole, and its queue: checked every time, whatever the focus. */
export type TownInvariant = InvariantOf<"town", [checking: Checking]>;

export type Invariant = AgentInvariant | BeadInvariant | RigInvariant | TownInvariant;
