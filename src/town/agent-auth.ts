import type { AgentCaller } from "../auth/dispatch-credential";
import { credentialDenied } from "../commands/credentials";
import { agentTokenTown, digestsEqual, INVALID_AGENT_TOKEN, sha256Hex } from "../auth/tokens";
import { fail, type Result } from "../domain/result";
import type { TownRuntime } from "./runtime";

/** Whether a token is this town's agent token (false where there is no town). */
export async function isAgentToken(runtime: TownRuntime | null, token: string): Promise<boolean> {
  if (!runtime || agentTokenTown(token) !== runtime.state.town.id) return false;
  const expected = runtime.store.state.agentTokenHash();
  return expected !== null && digestsEqual(await sha256Hex(token), expected);
}

/** Null for this town's agent token; else a 401 that says the same whether the town exists or not. */
export async function agentTokenDenied(runtime: TownRuntime | null, token: string): Promise<Result<never> | null> {
  return (await isAgentToken(runtime, token)) ? null : fail("invalid_token", INVALID_AGENT_TOKEN);
}

/**
 * Null when the caller may speak here: the town's agent token, or a dispatch credential (its signature
 * checked by the Worker) of this town's current key epoch whose generation is its agent's current one
 * and has not ended — or ended less than the grace ago, for its final reports.
 */
export async function agentCallerDenied(runtime: TownRuntime | null, caller: AgentCaller | string, now: number): Promise<Result<never> | null> {
  if (typeof caller === "string") return agentTokenDenied(runtime, caller);
  if (caller.kind === "town") return agentTokenDenied(runtime, caller.token);
  return credentialDenied(runtime, caller.claims, now);
}
