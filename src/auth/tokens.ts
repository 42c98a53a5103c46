/**
 * Token handling shared by the Worker (scope tokens from the environment) and the town object (its
 * agent token). Tokens are compared as SHA-256 digests in constant time, so neither their content nor
 * their length leaks through timing.
 */

import { bytesEqual, fromBase64url, hmac, toBase64url } from "./signing";

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
 * A town's agent token: `<townId>.<secret>`, the secret 16 random bytes and 16 bytes of their HMAC
 * under the Worker's signing key (with the town id). The town id in front lets a request with another
 * town's token be told apart (403) from a wrong token (401); the signature lets the Worker refuse a
 * made-up token without waking any town. The town keeps only the digest of the token it issued last,
 * so a rotated-away token, though signed, is refused by the town.
 */
export async function newAgentToken(townId: string, signingKey: string): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const signature = await hmac(signingKey, agentTokenMessage(townId, nonce), 16);
  const secret = new Uint8Array(32);
  secret.set(nonce);
  secret.set(signature, 16);
  return `${townId}.${toBase64url(secret)}`;
}

const agentTokenMessage = (townId: string, nonce: Uint8Array) => `agent-token\n${townId}\n${toBase64url(nonce)}`;

/** Whether an agent token was made by this Worker (with this signing key) for the town it names. */
export async function agentTokenSigned(token: string, signingKey: string | undefined): Promise<boolean> {
  const match = AGENT_TOKEN.exec(token);
  if (!match || !signingKey) return false;
  const secret = fromBase64url(token.slice(match[1]!.length + 1));
  if (secret?.byteLength !== 32) return false;
  const expected = await hmac(signingKey, agentTokenMessage(match[1]!, secret.slice(0, 16)), 16);
  return bytesEqual(secret.slice(16), expected);
}

/** An agent token: a town id, a dot, and 32 bytes in base64url (43 characters). */
const AGENT_TOKEN = /^([a-z0-9][a-z0-9_-]{0,62})\.[A-Za-z0-9_-]{43}$/;

/** The town an agent token claims to belong to, or null if it is not shaped like one. */
export function agentTokenTown(token: string): string | null {
  return AGENT_TOKEN.exec(token)?.[1] ?? null;
}

/** What every refused agent token hears: the same words whether the town exists or not. */
export const INVALID_AGENT_TOKEN = "the agent token is not valid here; use the token returned when the town was created (or last rotated)";
