import type { Alert } from "./alerts";
import type { TownConfig } from "./config";

/**
 * What a town's storage may hold (DESIGN §4.7). A Durable Object's SQLite database holds at most
 * 10 GB; past it every write fails with `SQLITE_FULL`. Counted in decimal gigabytes, the smaller
 * reading of "10 GB", so a share of it is never reached late.
 */
export const STORAGE_LIMIT_BYTES = 10_000_000_000;

/** Whether an error is SQLite saying the database is full (the runtime's message ends `: SQLITE_FULL`). */
export function isStorageFull(error: unknown): boolean {
  return error instanceof Error && error.message.includes("SQLITE_FULL");
}

/** Where the town starts to alert: its `storageAlertShare` of the limit. */
export function storageAlertAt(config: TownConfig): number {
  return Math.floor(config.storageAlertShare * STORAGE_LIMIT_BYTES);
}

/**
 * The alert a database of `databaseBytes` is due, if any: when it first reaches the town's share of
 * the limit, then again each `violationReportCooldownMs` while it stays there (`lastAlertAt`: when it
 * was last raised, null when the database has not been there since the town loaded).
 */
export function storageAlertDue(databaseBytes: number, config: TownConfig, lastAlertAt: number | null, now: number): Alert | null {
  if (databaseBytes < storageAlertAt(config)) return null;
  if (lastAlertAt !== null && now - lastAlertAt < config.violationReportCooldownMs) return null;
  return { kind: "storage_high", databaseBytes, limitBytes: STORAGE_LIMIT_BYTES, alertShare: config.storageAlertShare };
}
