/**
 * Token handling shared by the Worker (scope tokens from the environment) and the town object (its
 * agent token). Tokens are compared as SHA-256 digests in constant time, so neither their content nor
 * their length leaks through timing.
 */

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time equality of two tokens (by their digests). */
export async function tokensEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256Hex(presented), sha256Hex(expected)]);
  return digestsEqual(a, b);
}

/** Constant-time equality of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  if (left.byteLength !== right.byteLength) return false;
  return crypto.subtle.timingSafeEqual(left, right);
}

/**
 * A town's agent token: `<townId>.<secret>`. The town id in front lets a request with another town's
 * token be told apart (403) from a wrong token (401) without looking anything up.
 */
export function newAgentToken(townId: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  return `${townId}.${secret}`;
}

/** An agent token: a town id, a dot, and 32 random bytes in base64url (43 characters). */
const AGENT_TOKEN = /^([a-z0-9][a-z0-9_-]{0,62})\.[A-Za-z0-9_-]{43}$/;

/** The town an agent token claims to belong to, or null if it is not shaped like one. */
export function agentTokenTown(token: string): string | null {
  return AGENT_TOKEN.exec(token)?.[1] ?? null;
}

/** What every refused agent token hears: the same words whether the town exists or not. */
export const INVALID_AGENT_TOKEN = "the agent token is not valid here; use the token returned when the town was created (or last rotated)";
