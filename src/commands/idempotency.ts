import { fail, ok, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";

/** A creating request's `Idempotency-Key`, with a digest of what it asked for. */
export interface IdempotentRequest {
  readonly key: string;
  readonly requestHash: string;
}

/**
 * Runs a creating command at most once per `Idempotency-Key`: a retry with the same key and request
 * gets the first answer again; the same key with another request is refused (409). `run` records the
 * answer with `remember` inside the command's own transaction, so a crash cannot keep the work and
 * lose the key; an answer that created nothing (the same rig again) is recorded after.
 */
export function once<T>(
  runtime: TownRuntime,
  request: IdempotentRequest | undefined,
  route: string,
  now: number,
  run: (remember: ((answer: T) => void) | undefined) => Result<T>,
): Result<T> {
  if (!request) return run(undefined);
  const { store } = runtime;
  const found = store.idempotency.find(request.key);
  if (found) {
    if (found.route === route && found.requestHash === request.requestHash) return ok(found.answer as T);
    return fail(
      "idempotency_key_reused",
      `Idempotency-Key "${request.key}" was already used for another request (${found.route}); use a new key for a new request`,
    );
  }
  let remembered = false;
  const remember = (answer: T) => {
    store.idempotency.save({ key: request.key, route, requestHash: request.requestHash, answer, createdAt: now });
    remembered = true;
  };
  const result = run(remember);
  if (result.ok && !remembered) store.transaction(() => remember(result.value));
  return result;
}
