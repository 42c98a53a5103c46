import { doublingDelay } from "../domain/backoff";
import type { Effect } from "../domain/actions";
import type { TownConfig } from "../domain/config";
import type { OutboxEntry } from "../db/outbox-store";
import type { TownStore } from "../db/town-store";
import type { Clock } from "../domain/clock";
import type { CallOutcome, ContainerPort, DispatchRequest, StopRequest } from "./container-port";

export interface OutboxRun {
  readonly attempted: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Calls that will be tried again later. */
  readonly deferred: number;
  /** Effects dropped unexecuted because the state moved on (e.g. the agent was stopped first). */
  readonly obsolete: number;
  /** Every call made, by kind and outcome (for the side-effect counters). */
  readonly outcomes: ReadonlyArray<{ readonly kind: Effect["kind"]; readonly outcome: CallOutcome["outcome"] }>;
}

export interface OutboxDeps {
  readonly store: TownStore;
  readonly port: ContainerPort;
  readonly clock: Clock;
  readonly config: TownConfig;
  /** The request for an effect, or null when it no longer applies. */
  readonly describe: (effect: Effect) => Promise<DispatchRequest | StopRequest | null>;
  /** Feeds a final outcome back to the town as a `dispatch_result` event (synchronous, in a transaction). */
  readonly report: (entry: OutboxEntry, outcome: CallOutcome) => void;
}

/** Calls in flight at once: enough to hide latency, few enough not to flood the service. */
const CONCURRENCY = 8;
/** Effects taken per run; the rest wait for the next tick. */
const BATCH = 200;

/**
 * Executes due side effects, after the transaction that wrote them committed. Each call has a timeout;
 * a retryable failure is retried with exponential backoff up to `effectMaxAttempts`; the final outcome
 * enters the town as an event. No state is written here: only the outbox row and the event.
 */
export async function runOutbox(deps: OutboxDeps): Promise<OutboxRun> {
  const { store, clock, config } = deps;
  const due = store.outbox.due(clock.now(), BATCH);
  const tally = {
    attempted: 0,
    succeeded: 0,
    failed: 0,
    deferred: 0,
    obsolete: 0,
    outcomes: [] as Array<{ kind: Effect["kind"]; outcome: CallOutcome["outcome"] }>,
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < due.length) {
      const entry = due[next++]!;
      const request = await deps.describe(entry.effect);
      if (!request) {
        store.outbox.complete(entry.effect.id);
        tally.obsolete += 1;
        continue;
      }
      tally.attempted += 1;
      const outcome = await call(deps.port, entry.effect, request, config.effectTimeoutMs);
      tally.outcomes.push({ kind: entry.effect.kind, outcome: outcome.outcome });
      settle(deps, entry, outcome, tally);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, worker));
  return tally;
}

async function call(port: ContainerPort, effect: Effect, request: DispatchRequest | StopRequest, timeoutMs: number): Promise<CallOutcome> {
  // A timer we clear ourselves (not AbortSignal.timeout): a pending timer would keep the object busy.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    return effect.kind === "dispatch" ? await port.dispatch(request as DispatchRequest, controller.signal) : await port.stop(request, controller.signal);
  } catch (error) {
    // An adapter should not throw; if one does, it is a retryable failure, not a lost effect.
    return { outcome: "failed", error: error instanceof Error ? error.message : String(error), retryable: true };
  } finally {
    clearTimeout(timer);
  }
}

function settle(deps: OutboxDeps, entry: OutboxEntry, outcome: CallOutcome, tally: { succeeded: number; failed: number; deferred: number }): void {
  const { store, clock, config } = deps;
  const now = clock.now();
  const attempts = entry.attempts + 1;
  const retryable = outcome.outcome === "timeout" || (outcome.outcome === "failed" && outcome.retryable);
  if (outcome.outcome === "ok") tally.succeeded += 1;
  else tally.failed += 1;
  if (retryable && attempts < config.effectMaxAttempts) {
    store.outbox.defer(entry.effect.id, attempts, now + doublingDelay(attempts, config.effectBackoffBaseMs), outcome.error, now);
    tally.deferred += 1;
    return;
  }
  store.transaction(() => {
    store.outbox.complete(entry.effect.id);
    deps.report(entry, outcome);
  });
}
