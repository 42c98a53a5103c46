import { recordable, withoutReason, type Action } from "../domain/actions";

/** A tick whose replayed actions differ from the ones it recorded. */
export interface Divergence {
  readonly tickId: number;
  readonly at: number;
  /** Every action the tick recorded, and every action the replay decided, both as ticks record them. */
  readonly recorded: readonly unknown[];
  readonly replayed: readonly unknown[];
  /**
   * The difference, as a multiset: recorded actions the replay did not decide (with their rule, but no
   * reason, as older ticks stored them, or with the reason the tick recorded) and replayed actions the tick did not record (with the rule
   * and the reason that decided them). Both empty: the same actions, in another order.
   */
  readonly onlyRecorded: readonly unknown[];
  readonly onlyReplayed: readonly Action[];
}

/** Compares one tick's recorded actions with the replayed ones; null when they agree, order included. */
export function compareTick(
  tick: { readonly id: number; readonly at: number },
  recorded: readonly unknown[],
  replayedActions: readonly Action[],
): Divergence | null {
  const replayed = recordable(replayedActions.map((action) => ({ action })));
  const recordedKeys = recorded.map((action) => JSON.stringify(action !== null && typeof action === "object" ? withoutReason(action) : action));
  const replayedKeys = replayed.map((action) => JSON.stringify(action));
  if (recordedKeys.length === replayedKeys.length && recordedKeys.every((key, i) => key === replayedKeys[i])) return null;

  const unmatched = new Map<string, number>();
  for (const key of recordedKeys) unmatched.set(key, (unmatched.get(key) ?? 0) + 1);
  const onlyReplayed: Action[] = [];
  replayedKeys.forEach((key, i) => {
    const left = unmatched.get(key) ?? 0;
    if (left > 0) unmatched.set(key, left - 1);
    else onlyReplayed.push(replayedActions[i]!);
  });
  const onlyRecorded: unknown[] = [];
  // Walk backwards so that, of equal recorded actions, the last ones are those left over.
  for (let i = recorded.length - 1; i >= 0; i--) {
    const left = unmatched.get(recordedKeys[i]!) ?? 0;
    if (left === 0) continue;
    unmatched.set(recordedKeys[i]!, left - 1);
    onlyRecorded.unshift(recorded[i]);
  }
  return { tickId: tick.id, at: tick.at, recorded, replayed, onlyRecorded, onlyReplayed };
}
