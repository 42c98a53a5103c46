import type { AddRigInput, CreateConvoyInput, SlingBeadInput } from "../api/schemas";
import type { TownConfigOverrides } from "../domain/config";
import type { BeadId, RigId } from "../domain/ids";
import type { Bead, Rig } from "../domain/model";
import { fail, ok, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";
import { runCommand, storedBead } from "./command";

/**
 * Admin commands that make things: the town's config, rigs, beads and convoys; and the dead letters
 * (steering.ts steers what exists). Each is checked against the current state, then run as a command (command.ts).
 */

export interface Created<T> {
  readonly created: boolean;
  readonly value: T;
}

/** New config overrides for the town, logged so replay runs each tick under the config of its time. */
export function configureTown(runtime: TownRuntime, overrides: TownConfigOverrides, newId: string, now: number): void {
  runCommand(runtime, { eventId: `config:${newId}`, body: { type: "town_configured", agentId: null, beadId: null, payload: { overrides } } }, now);
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
  runCommand(runtime, { eventId: `rig:${rigId}:${newId}`, body: { type: "rig_added", agentId: null, beadId: null, payload } }, now, () =>
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
  const existing = storedBead(runtime, beadId);
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
  runCommand(runtime, { eventId: `bead:${beadId}`, body: { type: "bead_created", agentId: null, beadId, payload } }, now, () => {
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
  const existing = storedBead(runtime, convoyId);
  if (existing) {
    const same = existing.type === "convoy" && existing.title === input.title && sameList(existing.tracked, beadIds);
    return same ? ok({ created: false, value: existing }) : fail("bead_exists", `bead ${convoyId} already exists with different content; pick another id`);
  }
  runCommand(
    runtime,
    { eventId: `convoy:${convoyId}`, body: { type: "convoy_created", agentId: null, beadId: convoyId, payload: { title: input.title, beadIds } } },
    now,
    () => onCreated?.({ created: true, value: state.bead(convoyId)! }),
  );
  return ok({ created: true, value: state.bead(convoyId)! });
}

/** A dead-lettered event goes back in the queue (its attempts reset); logged so replay sees it. */
export function retryDeadLetter(runtime: TownRuntime, seq: number, newId: string, now: number): Result<{ seq: number; status: "pending" }> {
  const checked = deadLetter(runtime, seq);
  if (!checked.ok) return checked;
  runCommand(runtime, { eventId: `retry:${newId}`, body: { type: "dead_letter_retried", agentId: null, beadId: null, payload: { seq } } }, now, () =>
    runtime.store.events.revive(seq),
  );
  return ok({ seq, status: "pending" });
}

/** A dead-lettered event is dropped for good; logged so replay sees it. */
export function discardDeadLetter(runtime: TownRuntime, seq: number, newId: string, now: number): Result<{ seq: number; status: "discarded" }> {
  const checked = deadLetter(runtime, seq);
  if (!checked.ok) return checked;
  runCommand(runtime, { eventId: `discard:${newId}`, body: { type: "dead_letter_discarded", agentId: null, beadId: null, payload: { seq } } }, now, () =>
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

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}
