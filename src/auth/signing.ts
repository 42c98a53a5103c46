/**
 * Signatures the Worker can check on its own, before any town object is woken: HMAC-SHA256 under the
 * Worker's SIGNING_KEY, with a purpose in every message so a signature made for one use is never
 * valid for another. Agent tokens and dispatch credentials are signed this way; what a signature
 * cannot say (a token rotated away, a generation that ended) the town checks after.
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

/** The first `bytes` bytes of HMAC-SHA256(secret, message). */
export async function hmac(secret: string, message: string, bytes = 32): Promise<Uint8Array> {
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(message));
  return new Uint8Array(signature, 0, bytes);
}

/** Constant-time equality of two byte strings. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

export function toBase64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Bytes of a base64url text, or null if it is not one. */
export function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** What to say when SIGNING_KEY is not set: nothing signed can be made or checked. */
export const SIGNING_KEY_MISSING =
  "no SIGNING_KEY is configured on this worker, so agent tokens and dispatch credentials can be neither made nor checked; set it (wrangler secret put SIGNING_KEY)";

/**
 * The key agent tokens and dispatch credentials are signed with: `SIGNING_KEY`, or, where a deployment
 * sets none, one derived from `ADMIN_TOKEN` (every deployment has it), so a Worker configured as before
 * keeps creating towns. Set SIGNING_KEY in production: with the derived key, rotating the admin token
 * invalidates every agent token and credential signed before.
 */
export function signingKeyOf(env: { readonly SIGNING_KEY?: string | undefined; readonly ADMIN_TOKEN?: string | undefined }): string | undefined {
  if (env.SIGNING_KEY) return env.SIGNING_KEY;
  return env.ADMIN_TOKEN ? `derived from ADMIN_TOKEN:${env.ADMIN_TOKEN}` : undefined;
}
