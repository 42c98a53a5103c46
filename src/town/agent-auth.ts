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
