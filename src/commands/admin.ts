import type { AddRigInput, CancelBeadInput, CreateConvoyInput, SlingBeadInput } from "../api/schemas";
import { applyEvent } from "../domain/apply-event";
import type { TownConfigOverrides } from "../domain/config";
import type { EventBody } from "../domain/events";
import type { BeadId, RigId } from "../domain/ids";
import type { Bead, Rig } from "../domain/model";
import { isFinished } from "../domain/model";
import { toNewEvent } from "../db/event-rows";
import { beadNotFound, fail, ok, type Result } from "../domain/result";
import { inTransaction, persistChanges, type TownRuntime } from "../town/runtime";

/**
 * Admin commands. Each is checked against the current state, then logged as a processed event and
 * applied in the same transaction, so the caller reads its own write and replay finds it in the log.
 */

export interface Created<T> {
  readonly created: boolean;
  readonly value: T;
}

/** New config overrides for the town, logged so replay runs each tick under the config of its time. */
export function configureTown(runtime: TownRuntime, overrides: TownConfigOverrides, newId: string, now: number): void {
  command(runtime, `config:${newId}`, { type: "town_configured", agentId: null, beadId: null, payload: { overrides } }, now);
}

export function addRig(
  runtime: TownRuntime,
  input: AddRigInput,
  newId: string,
  now: number,
  onCreated?: (created: Created<Rig>) => void,
): Result<Created<Rig>> {
  const rigId = (input.id ?? newId) as RigId;
  const payload = { rigId, name: input.name, gitUrl: input.gitUrl, defaultBranch: input.defaultBranch ?? "main" };
  const existing = runtime.state.rig(rigId);
  if (existing) {
    const same = existing.name === payload.name && existing.gitUrl === payload.gitUrl && existing.defaultBranch === payload.defaultBranch;
    return same ? ok({ created: false, value: existing }) : fail("rig_exists", `rig ${rigId} already exists with different settings; pick another id`);
  }
  command(runtime, `rig:${rigId}`, { type: "rig_added", agentId: null, beadId: null, payload }, now, () =>
    onCreated?.({ created: true, value: runtime.state.rig(rigId)! }),
  );
  return ok({ created: true, value: runtime.state.rig(rigId)! });
}

export function slingBead(
  runtime: TownRuntime,
  input: SlingBeadInput,
  newId: string,
  now: number,
  onCreated?: (created: Created<Bead>) => void,
): Result<Created<Bead>> {
  const { state, store } = runtime;
  const beadId = (input.id ?? newId) as BeadId;
  if (!state.rig(input.rigId)) return fail("rig_not_found", `rig ${input.rigId} does not exist in this town; add it with POST …/rigs`);
  const blockedBy = [...new Set(input.blockedBy ?? [])];
  if (blockedBy.includes(beadId)) return fail("invalid_request", `bead ${beadId} cannot block itself`);
  const missing = blockedBy.find((id) => !state.bead(id));
  if (missing) return fail("bead_not_found", `blockedBy names bead ${missing}, which does not exist in this town`);
  const payload = {
    rigId: input.rigId,
    title: input.title,
    ...(input.body === undefined ? {} : { body: input.body }),
    priority: input.priority ?? 2,
    blockedBy,
    held: input.held ?? false,
  };
  const existing = stored(runtime, beadId);
  if (existing) {
    const same =
      existing.type === "issue" &&
      existing.rigId === payload.rigId &&
      existing.title === payload.title &&
      existing.priority === payload.priority &&
      existing.held === payload.held &&
      sameList(existing.blockedBy, blockedBy) &&
      (store.state.beadBody(beadId) ?? undefined) === payload.body;
    return same ? ok({ created: false, value: existing }) : fail("bead_exists", `bead ${beadId} already exists with different content; pick another id`);
  }
  // The body stays on disk (it is not part of the state the reconciler reads).
  command(runtime, `bead:${beadId}`, { type: "bead_created", agentId: null, beadId, payload }, now, () => {
    if (payload.body !== undefined) store.state.setBeadBody(beadId, payload.body);
    onCreated?.({ created: true, value: state.bead(beadId)! });
  });
  return ok({ created: true, value: state.bead(beadId)! });
}

export function createConvoy(
  runtime: TownRuntime,
  input: CreateConvoyInput,
  newId: string,
  now: number,
  onCreated?: (created: Created<Bead>) => void,
): Result<Created<Bead>> {
  const { state } = runtime;
  const convoyId = (input.id ?? newId) as BeadId;
  const beadIds = [...new Set(input.beadIds)];
  if (beadIds.includes(convoyId)) return fail("invalid_request", `convoy ${convoyId} cannot track itself`);
  const missing = beadIds.find((id) => !state.bead(id));
  if (missing) return fail("bead_not_found", `beadIds names bead ${missing}, which does not exist in this town`);
  const existing = stored(runtime, convoyId);
  if (existing) {
    const same = existing.type === "convoy" && existing.title === input.title && sameList(existing.tracked, beadIds);
    return same ? ok({ created: false, value: existing }) : fail("bead_exists", `bead ${convoyId} already exists with different content; pick another id`);
  }
  command(runtime, `convoy:${convoyId}`, { type: "convoy_created", agentId: null, beadId: convoyId, payload: { title: input.title, beadIds } }, now, () =>
    onCreated?.({ created: true, value: state.bead(convoyId)! }),
  );
  return ok({ created: true, value: state.bead(convoyId)! });
}

export function cancelBead(runtime: TownRuntime, beadId: BeadId, input: CancelBeadInput, now: number): Result<Bead> {
  const bead = runtime.state.bead(beadId);
  if (!bead) return beadNotFound(beadId);
  if (isFinished(bead)) return fail("bead_finished", `bead ${beadId} is already ${bead.status}; there is nothing to cancel`);
  const payload = { status: input.status ?? "failed", ...(input.reason === undefined ? {} : { reason: input.reason }) } as const;
  if (bead.type === "convoy" && payload.status === "closed") {
    // A closed convoy means its work is done (invariant 5): while it is not, it can only be given up on.
    const unfinished = runtime.state.unfinishedTracked(bead);
    if (unfinished.length > 0) {
      return fail(
        "convoy_unfinished",
        `convoy ${beadId} tracks ${unfinished.length} unfinished bead(s) (${unfinished.slice(0, 5).join(", ")}); cancel it with status failed, or wait for them`,
      );
    }
  }
  command(runtime, `cancel:${beadId}`, { type: "bead_cancelled", agentId: null, beadId, payload }, now);
  // A cancelled bead may leave the working set at once, and the archive's copy in memory keeps no
  // relations (storage does): a cancel changes none, so the answer shows the ones it had, as GET does.
  const after = runtime.state.bead(beadId)!;
  return ok({ ...after, blockedBy: bead.blockedBy, tracked: bead.tracked });
}

/** A dead-lettered event goes back in the queue (its attempts reset); logged so replay sees it. */
export function retryDeadLetter(runtime: TownRuntime, seq: number, newId: string, now: number): Result<{ seq: number; status: "pending" }> {
  const checked = deadLetter(runtime, seq);
  if (!checked.ok) return checked;
  command(runtime, `retry:${newId}`, { type: "dead_letter_retried", agentId: null, beadId: null, payload: { seq } }, now, () =>
    runtime.store.events.revive(seq),
  );
  return ok({ seq, status: "pending" });
}

/** A dead-lettered event is dropped for good; logged so replay sees it. */
export function discardDeadLetter(runtime: TownRuntime, seq: number, newId: string, now: number): Result<{ seq: number; status: "discarded" }> {
  const checked = deadLetter(runtime, seq);
  if (!checked.ok) return checked;
  command(runtime, `discard:${newId}`, { type: "dead_letter_discarded", agentId: null, beadId: null, payload: { seq } }, now, () =>
    runtime.store.events.discard(seq, now),
  );
  return ok({ seq, status: "discarded" });
}

function deadLetter(runtime: TownRuntime, seq: number): Result<null> {
  const event = runtime.store.events.bySeq(seq);
  if (!event)
    return fail(
      "event_not_found",
      `there is no event with seq ${seq} in this town (it may have been pruned); list dead letters with GET …/debug/events?status=dead`,
    );
  if (event.status !== "dead")
    return fail("event_not_dead", `event ${seq} is ${event.status}, not dead-lettered; only dead letters can be retried or discarded`);
  return ok(null);
}

/** A bead as stored, with its relations: from memory while it is in play, else from storage. */
function stored(runtime: TownRuntime, id: BeadId): Bead | undefined {
  return runtime.state.liveBead(id) ?? runtime.store.state.storedBead(id);
}

/** Logs the command as a processed event and applies it (plus any `alsoStore` writes), together. */
function command(runtime: TownRuntime, eventId: string, body: EventBody, now: number, alsoStore?: () => void): void {
  inTransaction(runtime, () => {
    const [logged] = runtime.store.events.append([toNewEvent(eventId, body, now)], now);
    const outcome = applyEvent(runtime.state, { ...body, seq: logged!.seq, eventId, createdAt: now }, now);
    // Commands are checked first, so an ignored one means the check and the domain disagree: a bug.
    if (!outcome.applied) throw new Error(`command ${body.type} was not applied: ${outcome.ignored}`);
    persistChanges(runtime);
    alsoStore?.();
  });
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}
