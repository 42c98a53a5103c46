/**
 * What a town's storage may hold (DESIGN §4.7). A Durable Object's SQLite database holds at most
 * 10 GB; past it every write fails with `SQLITE_FULL`. Counted in decimal gigabytes, the smaller
 * reading of "10 GB", so a share of it is never reached late.
 */
export const STORAGE_LIMIT_BYTES = 10_000_000_000;
