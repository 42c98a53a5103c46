import { bytesEqual, fromBase64url, hmac, toBase64url } from "./signing";

/**
 * Dispatch credentials (DESIGN §4.8): each dispatch mints one, bound to its town, agent and
 * generation, and the container service hands it to that container, which speaks with it for itself
 * only. `dc1.<claims>.<signature>`: the claims in base64url JSON, the signature 16 bytes of HMAC-SHA256
 * under the Worker's SIGNING_KEY with the claims and the town's key epoch — the first 16 hex digits of
 * the digest of the town's agent token, so a rotation of the agent token retires every credential made
 * before it. The Worker checks the signature (a forged credential wakes no town); the town checks the
 * epoch and that the generation has not ended.
 */
export interface DispatchClaims {
  readonly townId: string;
  readonly agentId: string;
  readonly generation: number;
  readonly epoch: string;
}

const PREFIX = "dc1.";

/** The key epoch of a town: a prefix of its agent token's digest (changes with every rotation). */
export const keyEpoch = (agentTokenHash: string): string => agentTokenHash.slice(0, 16);

const message = (claims: string) => `dispatch-credential\n${claims}`;

export async function mintDispatchCredential(claims: DispatchClaims, signingKey: string): Promise<string> {
  const body = toBase64url(new TextEncoder().encode(JSON.stringify({ t: claims.townId, a: claims.agentId, g: claims.generation, e: claims.epoch })));
  return `${PREFIX}${body}.${toBase64url(await hmac(signingKey, message(body), 16))}`;
}

/** Whether a bearer token is a dispatch credential at all (valid or not). */
export const isDispatchCredential = (token: string): boolean => token.startsWith(PREFIX);

/** The claims of a credential this Worker signed, or null (forged, altered, malformed, or no key). */
export async function verifyDispatchCredential(token: string, signingKey: string | undefined): Promise<DispatchClaims | null> {
  if (!signingKey || !token.startsWith(PREFIX) || token.length > 1_000) return null;
  const [body, signature, ...rest] = token.slice(PREFIX.length).split(".");
  if (!body || !signature || rest.length > 0) return null;
  const given = fromBase64url(signature);
  if (!given || !bytesEqual(given, await hmac(signingKey, message(body), 16))) return null;
  try {
    const raw = JSON.parse(new TextDecoder().decode(fromBase64url(body) ?? new Uint8Array())) as Record<string, unknown>;
    const { t, a, g, e } = raw;
    if (typeof t !== "string" || typeof a !== "string" || typeof g !== "number" || typeof e !== "string") return null;
    return { townId: t, agentId: a, generation: g, epoch: e };
  } catch {
    return null;
  }
}

/** Who speaks on an agent route: the platform with the town's agent token, or one dispatch's container with its credential. */
export type AgentCaller = { readonly kind: "town"; readonly token: string } | { readonly kind: "dispatch"; readonly claims: DispatchClaims };

/** How long after its generation ended a credential still carries its container's final reports. */
export const CREDENTIAL_GRACE_MS = 5 * 60_000;

/** Event types a container reports for itself; the others (pr_status_changed) are the platform's. */
export const CONTAINER_EVENT_TYPES: ReadonlySet<string> = new Set(["agent_done", "agent_completed", "container_status"]);
