/**
 * A token bucket: up to `perMinute` requests in a burst, refilled at `perMinute` per minute. Kept in
 * the town object's memory (an eviction refills it, which errs on the generous side).
 */
export class RateLimiter {
  private tokens: number | null = null;
  private updatedAt = 0;

  /** Takes a token, or says how many seconds until one is free. */
  take(now: number, perMinute: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const refillPerMs = perMinute / 60_000;
    this.tokens = this.tokens === null ? perMinute : Math.min(perMinute, this.tokens + Math.max(0, now - this.updatedAt) * refillPerMs);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / refillPerMs / 1000)) };
  }
}
