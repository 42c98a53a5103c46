import { CREDENTIAL_GRACE_MS, keyEpoch, type DispatchClaims } from "../auth/dispatch-credential";
import type { AgentId } from "../domain/ids";
import { isLive } from "../domain/model";
import { fail, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";

/** The town's half of a dispatch credential's check (the Worker checked its signature): its epoch, and that its generation has not ended. */
export function credentialDenied(runtime: TownRuntime | null, claims: DispatchClaims, now: number): Result<never> | null {
  const hash = runtime?.store.state.agentTokenHash() ?? null;
  if (!runtime || runtime.state.town.id !== claims.townId || hash === null || keyEpoch(hash) !== claims.epoch) {
    return fail("invalid_token", "the dispatch credential is not valid here: the town's agent token was rotated since it was made, or the town is gone");
  }
  const agent = runtime.state.agent(claims.agentId as AgentId);
  const ended = !agent || agent.generation !== claims.generation || (!isLive(agent) && now - agent.statusSince > CREDENTIAL_GRACE_MS);
  if (ended) {
    return fail(
      "generation_ended",
      `this credential is for generation ${claims.generation} of ${claims.agentId}, which has ended; a container may report for ${CREDENTIAL_GRACE_MS / 60_000} minutes after its generation ended, not later`,
    );
  }
  return null;
}
