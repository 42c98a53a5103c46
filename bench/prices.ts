/**
 * The published price list the benchmark turns rows, requests and bytes into dollars with (DESIGN §4.7):
 * Cloudflare Durable Objects, SQLite storage backend, Workers Paid plan. Read on 2026-12-02 from the
 * stored copy of the page's source (cloudflare/cloudflare-docs,
 * src/content/partials/durable-objects/durable-objects-pricing.mdx at commit 07e200b7; the copy is
 * older than the reading date and carries no date of its own). Check the page before quoting a bill.
 */
export const PRICES = {
  source: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  read: "2026-12-02",
  /** Requests: HTTP requests, RPC sessions (every RPC method call on a stub), alarm invocations. */
  requests: { includedPerMonth: 1_000_000, dollarsPerMillion: 0.15 },
  /** Duration, billed for the 128 MB an object is allocated, while it is active and cannot hibernate. */
  duration: { includedGbSecondsPerMonth: 400_000, dollarsPerMillionGbSeconds: 12.5, gbPerObject: 0.128 },
  rowsRead: { includedPerMonth: 25_000_000_000, dollarsPerMillion: 0.001 },
  /** Every index update, `setAlarm()` and key-value `put()` is a row written; deletes are rows written too. */
  rowsWritten: { includedPerMonth: 50_000_000, dollarsPerMillion: 1.0 },
  storedData: { includedGbMonths: 5, dollarsPerGbMonth: 0.2 },
} as const;

/** What a town uses in a month. */
export interface MonthlyUse {
  readonly requests: number;
  readonly gbSeconds: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  /** Average stored bytes over the month. */
  readonly storedBytes: number;
}

/** Dollars by line for one month's use, at list price with nothing included (the per-town cost of one more town on an account past its allowances). */
export function dollars(use: MonthlyUse): { requests: number; duration: number; rowsRead: number; rowsWritten: number; storage: number; total: number } {
  const requests = (use.requests / 1e6) * PRICES.requests.dollarsPerMillion;
  const duration = (use.gbSeconds / 1e6) * PRICES.duration.dollarsPerMillionGbSeconds;
  const rowsRead = (use.rowsRead / 1e6) * PRICES.rowsRead.dollarsPerMillion;
  const rowsWritten = (use.rowsWritten / 1e6) * PRICES.rowsWritten.dollarsPerMillion;
  const storage = (use.storedBytes / 1e9) * PRICES.storedData.dollarsPerGbMonth;
  return { requests, duration, rowsRead, rowsWritten, storage, total: requests + duration + rowsRead + rowsWritten + storage };
}

/** Dollars for one town alone on an account: the plan's included amounts taken off first. */
export function dollarsAlone(use: MonthlyUse): number {
  return dollars({
    requests: Math.max(0, use.requests - PRICES.requests.includedPerMonth),
    gbSeconds: Math.max(0, use.gbSeconds - PRICES.duration.includedGbSecondsPerMonth),
    rowsRead: Math.max(0, use.rowsRead - PRICES.rowsRead.includedPerMonth),
    rowsWritten: Math.max(0, use.rowsWritten - PRICES.rowsWritten.includedPerMonth),
    storedBytes: Math.max(0, use.storedBytes - PRICES.storedData.includedGbMonths * 1e9),
  }).total;
}
