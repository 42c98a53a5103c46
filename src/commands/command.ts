import { toNewEvent } from "../db/event-rows";
import { applyEvent } from "../domain/apply-event";
import type { EventBody } from "../domain/events";
import type { BeadId } from "../domain/ids";
import type { Bead } from "../domain/model";
import { inTransaction, persistChanges, type TownRuntime } from "../town/runtime";

/**
 * How every operator command reaches the town: checked first by its caller, then logged as a processed
 * event and applied in the same transaction, so the caller reads its own write and replay finds it in
 * the log.
 */
export interface Command {
  /** The event id the town writes for it: in the town's own namespace (a client's ids are prefixed apart). */
  readonly eventId: string;
  readonly body: EventBody;
}

/** Logs the command as a processed event and applies it (plus any `alsoStore` writes), together. */
export function runCommand(runtime: TownRuntime, command: Command, now: number, alsoStore?: () => void): void {
  runCommands(runtime, [command], now, alsoStore);
}

/** Several commands (a bulk action) in one transaction: all of them are logged and applied, or none. */
export function runCommands(runtime: TownRuntime, commands: readonly Command[], now: number, alsoStore?: () => void): void {
  if (commands.length === 0) return;
  inTransaction(runtime, () => {
    const logged = runtime.store.events.append(
      commands.map(({ eventId, body }) => toNewEvent(eventId, body, now)),
      now,
    );
    const seqOf = new Map(logged.map((row) => [row.eventId, row.seq]));
    for (const { eventId, body } of commands) {
      const seq = seqOf.get(eventId);
      // The town's own ids are new for each command: one already in the log would be applied twice.
      if (seq === undefined) throw new Error(`command ${body.type} ${eventId} is in the log already`);
      const outcome = applyEvent(runtime.state, { ...body, seq, eventId, createdAt: now }, now);
      // Commands are checked first, so an ignored one means the check and the domain disagree: a bug.
      if (!outcome.applied) throw new Error(`command ${body.type} was not applied: ${outcome.ignored}`);
    }
    persistChanges(runtime);
    alsoStore?.();
  });
}

/** A bead as stored, with its relations: from memory while it is in play, else from storage. */
export function storedBead(runtime: TownRuntime, id: BeadId): Bead | undefined {
  return runtime.state.liveBead(id) ?? runtime.store.state.storedBead(id);
}
