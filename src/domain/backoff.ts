/**
 * The one backoff of the town: after the n-th failure in a row wait `baseMs`, doubling each time, never
 * more than `maxMs` (0 before any failure). Dispatches, stops, side effects, alerts and failed ticks
 * all back off this way, each with its own base and cap from the config.
 */
export const doublingDelay = (failures: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY): number =>
  failures <= 0 ? 0 : Math.min(baseMs * 2 ** (failures - 1), maxMs);
