import type { Env } from "../env";
import { HttpError } from "./errors";

/** The period of the UNAUTHENTICATED rate limit in wrangler.toml (`simple = { limit = 30, period = 60 }`). */
const PERIOD_MS = 60_000;
/** Addresses remembered as limited at once: past it the oldest are forgotten (memory stays bounded). */
const MAX_REMEMBERED = 10_000;

/**
 * The limit on requests without a valid token (DESIGN §4.8). Refusals for want of a valid token count
 * against the client's address, whatever path or town they name (the UNAUTHENTICATED binding). Once
 * the binding says an address is over, the address is remembered as limited until the period is over,
 * and every request from it is refused before any token is checked — the right token too, so being
 * limited stops a guesser rather than telling it which guesses were wrong.
 *
 * "Remembered" is this isolate's memory: another isolate learns of it at the address's next refusal
 * there (the binding's count is shared), so a guesser gains at most one try per isolate.
 */
export class FailedTokenLimit {
  private readonly limitedUntil = new Map<string, number>();

  /** A 429 for an address that is limited now, or null. */
  refusal(address: string, now: number): HttpError | null {
    const until = this.limitedUntil.get(address);
    if (until === undefined) return null;
    if (until <= now) {
      this.limitedUntil.delete(address);
      return null;
    }
    return limited(Math.ceil((until - now) / 1000));
  }

  /** Counts a refusal for want of a valid token: the refusal itself, or a 429 once the address is over the limit. */
  async count(refusal: HttpError, address: string, env: Env, now: number): Promise<HttpError> {
    const limiter = env.UNAUTHENTICATED;
    if (!limiter) return refusal;
    const { success } = await limiter.limit({ key: address });
    if (success) return refusal;
    this.remember(address, now + PERIOD_MS);
    return limited(PERIOD_MS / 1000);
  }

  private remember(address: string, until: number): void {
    this.limitedUntil.delete(address);
    this.limitedUntil.set(address, until);
    if (this.limitedUntil.size > MAX_REMEMBERED) this.limitedUntil.delete(this.limitedUntil.keys().next().value!);
  }
}

const limited = (retryAfter: number) =>
  new HttpError(
    429,
    "rate_limited",
    `too many requests without a valid token from this address; every request from it is refused until the limit is over: try again in ${retryAfter} s`,
    retryAfter,
  );

/** The client's address as Cloudflare reports it. */
export const clientAddress = (request: Request): string => request.headers.get("cf-connecting-ip") ?? "unknown";
