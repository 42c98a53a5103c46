/** Builders for pure domain tests: a town state assembled by hand, at a chosen time. */
import type { TownConfigOverrides } from "../../src/domain/config";
import type { AgentId, BeadId, RigId, TownId } from "../../src/domain/ids";
import { newAgent, newBead, newTown, type Agent, type Bead, type Rig, type Town } from "../../src/domain/model";
import { TownState } from "../../src/domain/state";
import type { BeadArchive } from "../../src/domain/archive";

export const T0 = Date.UTC(2100, 0, 1);
export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const rigId = (id: string) => id as RigId;
export const agentId = (id: string) => id as AgentId;
export const beadId = (id: string) => id as BeadId;

export function town(overrides: TownConfigOverrides = {}, patch: Partial<Town> = {}): Town {
  return { ...newTown("t" as TownId, overrides, T0), ...patch };
}

export function rig(id = "web", patch: Partial<Rig> = {}): Rig {
  return {
    id: rigId(id),
    name: id,
    gitUrl: `https://git.test/${id}.git`,
    defaultBranch: "main",
    agentSeq: 0,
    deletedAt: null,
    createdAt: T0,
    updatedAt: T0,
    ...patch,
  };
}

export function agent(id: string, patch: Partial<Agent> = {}): Agent {
  return newAgent({ id: agentId(id), rigId: rigId("web"), role: "polecat", ...patch }, T0);
}

/** A working agent hooked to `bead`, dispatched at `at` (generation 1). */
export function workingAgent(id: string, bead: string, at = T0, patch: Partial<Agent> = {}): Agent {
  return agent(id, { status: "working", statusSince: at, hook: beadId(bead), generation: 1, dispatchAttempts: 1, dispatchedAt: at, ...patch });
}

export function issue(id: string, patch: Partial<Bead> = {}): Bead {
  return newBead({ id: beadId(id), rigId: rigId("web"), type: "issue", title: `Issue ${id}`, ...patch }, T0);
}

export function mergeRequest(id: string, source: string, patch: Partial<Bead> = {}): Bead {
  return issue(id, { type: "merge_request", sourceBeadId: beadId(source), branch: `b/${source}`, ...patch });
}

export function convoy(id: string, tracked: string[], patch: Partial<Bead> = {}): Bead {
  return issue(id, { type: "convoy", rigId: null, tracked: tracked.map(beadId), ...patch });
}

export function stateOf(parts: { town?: Town; rigs?: Rig[]; agents?: Agent[]; beads?: Bead[]; archive?: BeadArchive } = {}): TownState {
  return new TownState(parts.town ?? town(), parts.rigs ?? [rig()], parts.agents ?? [], parts.beads ?? [], parts.archive ? { archive: parts.archive } : {});
}
