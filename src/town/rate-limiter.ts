/** Buckets kept at most: past it, the full ones (tokens no longer in use) are forgotten first. */
const MAX_BUCKETS = 10_000;

/**
 * Token buckets by key, each up to `burst` and refilled at `eventsPerSecond`: one per token that sends
 * events (the town's agent token, each dispatch credential), counted in events, and one for the town's
 * debug requests, counted in requests. Kept in the town object's memory: an eviction refills them,
 * which errs on the generous side.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes `n` at once or none: the seconds until `n` are there when they are not (a batch is refused whole). */
  take(key: string, n: number, now: number, rate: { eventsPerSecond: number; burst: number }): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const perMs = rate.eventsPerSecond / 1000;
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(rate.burst, bucket.tokens + Math.max(0, now - bucket.at) * perMs) : rate.burst;
    if (tokens < n) {
      this.buckets.set(key, { tokens, at: now });
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((n - tokens) / perMs / 1000)) };
    }
    if (!bucket && this.buckets.size >= MAX_BUCKETS) this.forgetFull(now, rate);
    this.buckets.set(key, { tokens: tokens - n, at: now });
    return { ok: true };
  }

  private forgetFull(now: number, rate: { eventsPerSecond: number; burst: number }): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * (rate.eventsPerSecond / 1000) >= rate.burst) this.buckets.delete(key);
    }
    // All in use: the oldest goes (a Map keeps insertion order).
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
