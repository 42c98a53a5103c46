import type { AgentStatus, BeadStatus, BeadType, BreakerStatus } from "./model";

/**
 * The state machines. A transition not listed here is refused, and every transition states the
 * status it expects to leave (`from`): if the state moved in the meantime, the transition is refused
 * rather than silently overwriting it.
 */

type Table<S extends string> = Readonly<Record<S, readonly S[]>>;

export const BEAD_TRANSITIONS: Readonly<Record<BeadType, Table<BeadStatus>>> = {
  issue: {
    open: ["in_progress", "closed", "failed"],
    in_progress: ["open", "in_review", "closed", "failed"],
    in_review: ["open", "closed", "failed"],
    closed: [],
    // An operator's retry (DESIGN §4.6).
    failed: ["open"],
  },
  merge_request: {
    open: ["in_progress", "closed", "failed"],
    in_progress: ["open", "closed", "failed"],
    in_review: [],
    closed: [],
    failed: [],
  },
  convoy: {
    open: ["closed", "failed"],
    in_progress: [],
    in_review: [],
    closed: [],
    failed: ["open"],
  },
};

export const AGENT_TRANSITIONS: Table<AgentStatus> = {
  idle: ["working", "dead"],
  working: ["stalled", "idle"],
  stalled: ["working", "idle"],
  dead: [],
};

export const BREAKER_TRANSITIONS: Table<BreakerStatus> = {
  closed: ["open"],
  open: ["half_open"],
  half_open: ["closed", "open"],
};

export const canTransitionBead = (type: BeadType, from: BeadStatus, to: BeadStatus): boolean => BEAD_TRANSITIONS[type][from].includes(to);

export const canTransitionAgent = (from: AgentStatus, to: AgentStatus): boolean => AGENT_TRANSITIONS[from].includes(to);

export const canTransitionBreaker = (from: BreakerStatus, to: BreakerStatus): boolean => BREAKER_TRANSITIONS[from].includes(to);
