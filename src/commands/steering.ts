import { type BulkInput, type CancelBeadInput, type EditBeadInput, MAX_BULK_BEADS } from "../api/schemas";
import type { BeadFilter } from "../db/state-store";
import type { BeadId, RigId } from "../domain/ids";
import { type Bead, isFinished, type Pause } from "../domain/model";
import { beadNotFound, type ErrorCode, fail, ok, type Result, rigNotFound } from "../domain/result";
import type { TownRuntime } from "../town/runtime";
import { type Command, runCommand, runCommands, storedBead } from "./command";

/**
 * An operator steering a town (DESIGN §4.6): retry, hold, release, edit and requeue a bead, the same
 * over a filter (bulk), delete a rig, pause and resume the town. Each checks the status it expects and
 * answers a stable code when the bead moved; what passes is a command (command.ts). A bead's check
 * makes its command, so a single route and a bulk call refuse alike.
 */

/** A command for a bead, null when there is nothing to do (a held bead held again), or why not. */
type Planned = Result<Command | null>;

/** The commands a bulk call can apply, each as its single route checks it. */
const PLANS = {
  retry: (_runtime: TownRuntime, bead: Bead, id: string) => planRetry(bead, id),
  hold: (_runtime: TownRuntime, bead: Bead, id: string) => planHold(bead, true, undefined, id),
  release: (_runtime: TownRuntime, bead: Bead, id: string) => planHold(bead, false, undefined, id),
  cancel: (runtime: TownRuntime, bead: Bead, id: string) => planCancel(runtime, bead, {}, id),
} satisfies Record<BulkInput["action"], (runtime: TownRuntime, bead: Bead, id: string) => Planned>;

export function retryBead(runtime: TownRuntime, beadId: BeadId, newId: string, now: number): Result<Bead> {
  return single(runtime, beadId, now, (bead) => planRetry(bead, newId));
}

export function holdBead(runtime: TownRuntime, beadId: BeadId, reason: string | undefined, newId: string, now: number): Result<Bead> {
  return single(runtime, beadId, now, (bead) => planHold(bead, true, reason, newId));
}

export function releaseBead(runtime: TownRuntime, beadId: BeadId, newId: string, now: number): Result<Bead> {
  return single(runtime, beadId, now, (bead) => planHold(bead, false, undefined, newId));
}

export function cancelBead(runtime: TownRuntime, beadId: BeadId, input: CancelBeadInput, newId: string, now: number): Result<Bead> {
  return single(runtime, beadId, now, (bead) => planCancel(runtime, bead, input, newId));
}

/** An in-progress bead back to open, its container stopped and its attempts unchanged. */
export function requeueBead(runtime: TownRuntime, beadId: BeadId, reason: string | undefined, newId: string, now: number): Result<Bead> {
  return single(runtime, beadId, now, (bead) => {
    if (bead.status !== "in_progress") return fail("not_in_progress", `bead ${bead.id} is ${bead.status}; only a bead in progress can be requeued`);
    return ok(
      command(`requeue:${bead.id}:${newId}`, { type: "bead_requeued", agentId: null, beadId: bead.id, payload: reason === undefined ? {} : { reason } }),
    );
  });
}

/** New title, body, priority or blockers for an unfinished bead; the next dispatch takes them. */
export function editBead(runtime: TownRuntime, beadId: BeadId, input: EditBeadInput, newId: string, now: number): Result<Bead> {
  const { state, store } = runtime;
  const bead = storedBead(runtime, beadId);
  if (!bead) return beadNotFound(beadId);
  if (isFinished(bead)) return fail("bead_finished", `bead ${beadId} is ${bead.status}; a finished bead is not edited (retry it first if it failed)`);
  if (input.blockedBy) {
    const blockers = [...new Set(input.blockedBy)];
    const missing = blockers.find((id) => !state.bead(id));
    if (missing) return fail("invalid_request", `blockedBy names bead ${missing}, which does not exist in this town`);
    const cycle = blockers.map((blocker) => pathBack(runtime, blocker, beadId)).find((path) => path !== null);
    if (cycle) return fail("dependency_cycle", `blocking ${beadId} by ${cycle[0]} makes a cycle: ${[beadId, ...cycle].join(" → ")}`);
  }
  const body = { type: "bead_edited", agentId: null, beadId, payload: input } as const;
  runCommand(runtime, command(`edit:${beadId}:${newId}`, body), now, () => {
    if (input.body !== undefined) store.state.setBeadBody(beadId, input.body);
  });
  return ok(state.bead(beadId)!);
}

/**
 * The way from `from` back to `to` through unfinished beads' blockers, if there is one: blocking `to`
 * by `from` would then make a cycle (finished beads block nothing any more, so a path through one is
 * no cycle).
 */
function pathBack(runtime: TownRuntime, from: BeadId, to: BeadId): BeadId[] | null {
  const seen = new Set<BeadId>();
  const walk = (id: BeadId): BeadId[] | null => {
    if (id === to) return [id];
    if (seen.has(id)) return null;
    seen.add(id);
    const bead = runtime.state.liveBead(id);
    if (!bead || isFinished(bead)) return null;
    for (const blocker of bead.blockedBy) {
      const rest = walk(blocker);
      if (rest) return [id, ...rest];
    }
    return null;
  };
  return walk(from);
}

export interface BulkOutcome {
  /** Beads this call took up (at most the limit; ids that name no bead are among the skipped). */
  readonly matched: number;
  readonly applied: number;
  readonly skipped: ReadonlyArray<{ readonly id: string; readonly code: ErrorCode }>;
  /** More beads match than this call took up: call again. */
  readonly more: boolean;
}

/**
 * One action over many beads (at most MAX_BULK_BEADS a call): those the filter names that the action can
 * apply to — failed beads for retry, unfinished ones for hold, release and cancel — newest change
 * first, each checked as its own route checks it. An id listed that does not fit is skipped with the
 * code its route would answer. The commands of one call are applied together, in one transaction.
 */
export function bulk(runtime: TownRuntime, input: BulkInput, newId: string, now: number): Result<BulkOutcome> {
  const limit = input.limit ?? MAX_BULK_BEADS;
  const skipped: Array<{ id: string; code: ErrorCode }> = [];
  let candidates: Bead[];
  let more = false;
  if (input.filter.ids) {
    const ids = [...new Set(input.filter.ids)];
    more = ids.length > limit;
    candidates = [];
    for (const id of ids.slice(0, limit)) {
      const bead = storedBead(runtime, id);
      if (bead) candidates.push(bead);
      else skipped.push({ id, code: "bead_not_found" });
    }
  } else {
    const found = eligible(runtime, input.action, input.filter, limit + 1);
    more = found.length > limit;
    candidates = found.slice(0, limit);
  }
  const commands: Command[] = [];
  for (const bead of candidates) {
    const planned = PLANS[input.action](runtime, bead, `${newId}:${bead.id}`);
    if (!planned.ok) skipped.push({ id: bead.id, code: planned.error.code });
    else if (planned.value) commands.push(planned.value);
  }
  runCommands(runtime, commands, now);
  return ok({ matched: candidates.length, applied: commands.length, skipped, more });
}

/**
 * The beads the filter names that `action` applies to, newest change first: failed beads are read
 * from storage by index (most have left the working set); unfinished ones are the working set.
 */
function eligible(runtime: TownRuntime, action: BulkInput["action"], filter: BulkInput["filter"], limit: number): Bead[] {
  const { status, rig, type } = filter;
  if (action === "retry") {
    if (status !== undefined && status !== "failed") return [];
    return runtime.store.state.listBeads({ status: "failed", ...(rig ? { rig } : {}), ...(type ? { type } : {}) } satisfies BeadFilter, null, limit);
  }
  const wanted = (bead: Bead) =>
    !isFinished(bead) &&
    (status === undefined || bead.status === status) &&
    (rig === undefined || bead.rigId === rig) &&
    (type === undefined || bead.type === type) &&
    (action !== "hold" || !bead.held) &&
    (action !== "release" || bead.held);
  return [...runtime.state.beads()]
    .filter(wanted)
    .sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : -1))
    .slice(0, limit);
}

/** Deletes a rig: 409 while it has unfinished work, unless that work is cancelled with it (`cancel`). */
export function deleteRig(runtime: TownRuntime, rigId: RigId, cancel: boolean, newId: string, now: number): Result<{ deleted: RigId; cancelled: BeadId[] }> {
  const { state } = runtime;
  if (!state.rig(rigId)) return rigNotFound(rigId);
  const work = [...state.beads()].filter((bead) => bead.rigId === rigId && !isFinished(bead)).map((bead) => bead.id);
  if (work.length > 0 && !cancel) {
    const shown = work.slice(0, 5).join(", ");
    return fail(
      "rig_has_live_work",
      `rig ${rigId} has ${work.length} unfinished bead(s) (${shown}); cancel them first, or delete with ?cancel=true to cancel them with it`,
    );
  }
  runCommand(runtime, command(`rig-deleted:${rigId}:${newId}`, { type: "rig_deleted", agentId: null, beadId: null, payload: { rigId, cancel } }), now);
  return ok({ deleted: rigId, cancelled: work });
}

/** Pauses the town (an operator's pause); pausing a town an operator paused answers the same pause. */
export function pauseTown(runtime: TownRuntime, reason: string, newId: string, now: number): Result<{ paused: Pause }> {
  const current = runtime.state.town.paused;
  if (current?.by === "operator") return ok({ paused: current });
  runCommand(runtime, command(`pause:${newId}`, { type: "town_paused", agentId: null, beadId: null, payload: { by: "operator", reason } }), now);
  return ok({ paused: runtime.state.town.paused! });
}

/** Resumes the town, whoever paused it; a town that is not paused answers the same. */
export function resumeTown(runtime: TownRuntime, newId: string, now: number): Result<{ paused: null }> {
  if (runtime.state.town.paused)
    runCommand(runtime, command(`resume:${newId}`, { type: "town_resumed", agentId: null, beadId: null, payload: { by: "operator" } }), now);
  return ok({ paused: null });
}

function planRetry(bead: Bead, newId: string): Planned {
  if (bead.status !== "failed") return fail("not_failed", `bead ${bead.id} is ${bead.status}; only a failed bead can be retried`);
  if (bead.type === "merge_request") {
    return fail("invalid_request", `${bead.id} is a merge request: retry the issue it delivers (${bead.sourceBeadId ?? "none"}), whose review makes a new one`);
  }
  return ok(command(`retry:${bead.id}:${newId}`, { type: "bead_retried", agentId: null, beadId: bead.id, payload: { bead: { ...bead } } }));
}

function planHold(bead: Bead, held: boolean, reason: string | undefined, newId: string): Planned {
  if (isFinished(bead)) return fail("bead_finished", `bead ${bead.id} is ${bead.status}; only an unfinished bead is held or released`);
  if (bead.held === held) return held ? ok(null) : fail("not_held", `bead ${bead.id} is not held`);
  return ok(
    held
      ? command(`hold:${bead.id}:${newId}`, { type: "bead_held", agentId: null, beadId: bead.id, payload: reason === undefined ? {} : { reason } })
      : command(`release:${bead.id}:${newId}`, { type: "bead_released", agentId: null, beadId: bead.id, payload: {} }),
  );
}

function planCancel(runtime: TownRuntime, bead: Bead, input: CancelBeadInput, newId: string): Planned {
  if (isFinished(bead)) return fail("bead_finished", `bead ${bead.id} is already ${bead.status}; there is nothing to cancel`);
  const payload = { status: input.status ?? "failed", ...(input.reason === undefined ? {} : { reason: input.reason }) } as const;
  if (bead.type === "convoy" && payload.status === "closed") {
    // A closed convoy means its work is done (invariant 5): while it is not, it can only be given up on.
    const unfinished = runtime.state.unfinishedTracked(bead);
    if (unfinished.length > 0) {
      const shown = unfinished.slice(0, 5).join(", ");
      return fail(
        "convoy_unfinished",
        `convoy ${bead.id} tracks ${unfinished.length} unfinished bead(s) (${shown}); cancel it with status failed, or wait for them`,
      );
    }
  }
  return ok(command(`cancel:${bead.id}:${newId}`, { type: "bead_cancelled", agentId: null, beadId: bead.id, payload }));
}

/** Checks a bead with `plan` and runs what it plans; answers the bead as it is then. */
function single(runtime: TownRuntime, beadId: BeadId, now: number, plan: (bead: Bead) => Planned): Result<Bead> {
  const bead = storedBead(runtime, beadId);
  if (!bead) return beadNotFound(beadId);
  const planned = plan(bead);
  if (!planned.ok) return planned;
  if (planned.value) runCommand(runtime, planned.value, now);
  // A bead that finished leaves the working set at once, and the archive's copy in memory keeps no
  // relations: the answer is read as GET reads it, blockers and tracked beads included.
  return ok(storedBead(runtime, beadId) ?? bead);
}

const command = (eventId: string, body: Command["body"]): Command => ({ eventId, body });
