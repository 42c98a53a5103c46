import { CONTAINER_EVENT_TYPES, isDispatchCredential, verifyDispatchCredential, type AgentCaller } from "../auth/dispatch-credential";
import { agentTokenSigned, agentTokenTown, INVALID_AGENT_TOKEN, tokensEqual } from "../auth/tokens";
import { signingKeyOf } from "../auth/signing";
import { article } from "../domain/format";
import type { Env } from "../env";
import { HttpError } from "./errors";

/** Operator scopes; the agent scope is per town and checked by the town itself. */
export type Scope = "admin" | "read" | "debug";

const TOKEN_VARS: Record<Scope, "ADMIN_TOKEN" | "READ_TOKEN" | "DEBUG_TOKEN"> = {
  admin: "ADMIN_TOKEN",
  read: "READ_TOKEN",
  debug: "DEBUG_TOKEN",
};

/**
 * The value a scope token had before its rotation, still accepted while the callers move to the new
 * one: set `<SCOPE>_TOKEN_PREVIOUS` to the old value and `<SCOPE>_TOKEN` to the new, then unset the
 * previous one once nobody uses it. Rotation without downtime (DESIGN §4.8).
 */
const PREVIOUS_TOKEN_VARS: Record<Scope, "ADMIN_TOKEN_PREVIOUS" | "READ_TOKEN_PREVIOUS" | "DEBUG_TOKEN_PREVIOUS"> = {
  admin: "ADMIN_TOKEN_PREVIOUS",
  read: "READ_TOKEN_PREVIOUS",
  debug: "DEBUG_TOKEN_PREVIOUS",
};

/** Which tokens a route of each scope accepts: admin can do everything, debug can also read. */
const ACCEPTED: Record<Scope, readonly Scope[]> = {
  admin: ["admin"],
  debug: ["debug", "admin"],
  read: ["read", "debug", "admin"],
};

/**
 * The request's bearer token: `absent` without an Authorization header, `malformed` when the header is
 * there but is not `Bearer <token>` with one token (a header with spaces in the token, another scheme,
 * an empty value). A malformed header is a bad token (401 invalid_token), not a missing one: the caller
 * did send credentials, and "missing" would send them looking for the wrong mistake.
 */
export function bearerToken(request: Request): { token: string } | "absent" | "malformed" {
  const header = request.headers.get("authorization");
  if (header === null) return "absent";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? { token: match[1]! } : "malformed";
}

const MALFORMED = 'the Authorization header must be "Bearer <token>": the word Bearer, a space, then the token, which has no spaces';

/**
 * The operator scope this token holds, or null. Compared against every configured value (the current
 * and the previous of each scope) in constant time, all of them every time.
 */
async function scopeOf(token: string, env: Env): Promise<Scope | null> {
  let found: Scope | null = null;
  for (const scope of ["admin", "debug", "read"] as const) {
    for (const expected of [env[TOKEN_VARS[scope]], env[PREVIOUS_TOKEN_VARS[scope]]]) {
      if (expected && (await tokensEqual(token, expected)) && found === null) found = scope;
    }
  }
  return found;
}

/** A browser page's token: `?token=` or the cookie the page set (never logged, never echoed). */
export function pageToken(request: Request): string | null {
  const fromQuery = new URL(request.url).searchParams.get("token");
  if (fromQuery) return fromQuery;
  const cookie = request.headers.get("cookie") ?? "";
  const match = new RegExp(`(?:^|;\\s*)${PAGE_COOKIE}=([^;]+)`).exec(cookie);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    // Not what the page set: as a token it is simply not valid (401), whatever it holds.
    return match[1]!;
  }
}

export const PAGE_COOKIE = "town_read_token";

/**
 * Checks the request holds a token of (or above) `scope`; returns the token. `pageToken` is a browser
 * page's token (`?token=` or its cookie), taken when there is no Authorization header: only the read
 * token is accepted that way — an admin or debug token in an address would end up in the browser's
 * history, in proxies' logs and in the page's day-long cookie.
 */
export async function requireScope(request: Request, env: Env, scope: Scope, pageToken: string | null = null): Promise<string> {
  const bearer = bearerToken(request);
  if (bearer === "malformed") throw new HttpError(401, "invalid_token", MALFORMED);
  const token = bearer === "absent" ? pageToken : bearer.token;
  if (!token) throw new HttpError(401, "missing_token", `send "Authorization: Bearer <token>" with ${article(scope)} token`);
  const held = await scopeOf(token, env);
  if (held === null) {
    // A town's agent token is a valid token of another scope: the wrong scope (403), not a bad token.
    // Only a token this Worker signed is worth asking its town about: a made-up one wakes nobody.
    const claimed = agentTokenTown(token);
    if (claimed !== null && (await agentTokenSigned(token, signingKeyOf(env))) && (await env.TOWN.getByName(claimed).verifyAgentToken(token))) {
      throw new HttpError(403, "insufficient_scope", `this route needs ${article(scope)} token; the token sent is the agent token of town ${claimed}`);
    }
    const configured = ACCEPTED[scope].some((s) => env[TOKEN_VARS[s]]);
    throw new HttpError(
      401,
      "invalid_token",
      configured ? `the token is not a valid ${scope} token` : `no ${scope} token is configured on this worker; set ${TOKEN_VARS[scope]}`,
    );
  }
  if (!ACCEPTED[scope].includes(held)) {
    throw new HttpError(403, "insufficient_scope", `this route needs ${article(scope)} token; the token sent is ${article(held)} token`);
  }
  if (bearer === "absent" && held !== "read") {
    throw new HttpError(
      403,
      "insufficient_scope",
      `a page takes only the read token in ?token= or its cookie; the token sent is ${article(held)} token, which must not sit in an address or a cookie: open the page with the read token`,
    );
  }
  return token;
}

/**
 * Agent routes take the town's agent token or a dispatch credential (checked by its signature here, by
 * its generation in the town); an operator token here is the wrong scope. A token that
 * is not shaped like an agent token, or not signed by this Worker, is refused here, at no cost to any
 * town. One that claims another town is
 * checked with that town: valid there is 403 (the wrong town), not valid at all is 401. One that
 * claims this town is checked by the town itself — which, if it does not exist, refuses it the same way.
 */
export async function requireAgentToken(request: Request, env: Env, pathTownId: string): Promise<AgentCaller> {
  const bearer = bearerToken(request);
  if (bearer === "malformed") throw new HttpError(401, "invalid_token", MALFORMED);
  if (bearer === "absent")
    throw new HttpError(401, "missing_token", 'send "Authorization: Bearer <agent token>" with the token returned when the town was created');
  const token = bearer.token;
  if (isDispatchCredential(token)) {
    // Checked here, by its signature: a forged credential wakes no town.
    const claims = await verifyDispatchCredential(token, signingKeyOf(env));
    if (!claims) throw new HttpError(401, "invalid_token", "the dispatch credential is not valid: use the one the dispatch handed your container");
    if (claims.townId !== pathTownId) throw new HttpError(403, "wrong_town", `this dispatch credential belongs to town ${claims.townId}, not ${pathTownId}`);
    return { kind: "dispatch", claims };
  }
  const held = await scopeOf(token, env);
  if (held !== null) throw new HttpError(403, "insufficient_scope", `this route needs the town's agent token; the token sent is ${article(held)} token`);
  const claimed = agentTokenTown(token);
  // Not signed by this Worker: refused here, and no town is woken for it.
  if (claimed === null || !(await agentTokenSigned(token, signingKeyOf(env)))) throw new HttpError(401, "invalid_token", INVALID_AGENT_TOKEN);
  if (claimed !== pathTownId) {
    if (!(await env.TOWN.getByName(claimed).verifyAgentToken(token))) throw new HttpError(401, "invalid_token", INVALID_AGENT_TOKEN);
    throw new HttpError(403, "wrong_town", `this agent token belongs to town ${claimed}, not ${pathTownId}`);
  }
  return { kind: "town", token };
}

/**
 * What a dispatch credential may say (DESIGN §4.8): only its own agent's heartbeats and callbacks, of
 * its own generation. Another agent's → 403 wrong_agent; a platform event (pr_status_changed) → 403
 * insufficient_scope. The town's agent token may say everything.
 */
export function requireOwnReports(
  caller: AgentCaller,
  /** Read only for a dispatch credential: a batch's may be given as a generator, never walked for the agent token. */
  reports: Iterable<{ readonly eventId?: string; readonly type: string; readonly agentId?: string | null; readonly generation?: number }>,
): void {
  if (caller.kind !== "dispatch") return;
  const { agentId, generation } = caller.claims;
  for (const report of reports) {
    const what = report.eventId === undefined ? "a heartbeat" : `event ${report.eventId}`;
    if (!CONTAINER_EVENT_TYPES.has(report.type)) {
      throw new HttpError(
        403,
        "insufficient_scope",
        `${what}: a dispatch credential cannot send ${report.type}, which only the platform's agent token may send`,
      );
    }
    if (report.agentId !== agentId) {
      throw new HttpError(403, "wrong_agent", `${what} speaks for ${report.agentId ?? "no agent"}; this dispatch credential speaks for ${agentId} only`);
    }
    if (report.generation !== generation) {
      throw new HttpError(
        403,
        "wrong_agent",
        `${what} names generation ${report.generation}; this dispatch credential is for generation ${generation} of ${agentId} only`,
      );
    }
  }
}
