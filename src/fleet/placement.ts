import { fnv1a } from "../domain/hash";

/** The most registry shards a fleet may have (each fleet read asks every one). */
export const MAX_REGISTRY_SHARDS = 256;
/** Shards when `REGISTRY_SHARDS` is unset: one object takes the fleet up to the budget of docs/benchmarks.md (The fleet). */
export const DEFAULT_REGISTRY_SHARDS = 1;

/**
 * The shard count the environment sets. It is configuration: changing it (a deploy with another
 * `REGISTRY_SHARDS`) moves no town by hand — each town reports to its shard under the count it runs
 * with, the registry hands over what the old shards held, and fleet reads ask every shard that may
 * still hold a town (the layout below). A value that is not a whole number from 1 to 256 is an error
 * (the Worker refuses to guess how its fleet is split).
 */
export function shardCount(env: { readonly REGISTRY_SHARDS?: string }): number {
  const raw = env.REGISTRY_SHARDS;
  if (raw === undefined || raw === "") return DEFAULT_REGISTRY_SHARDS;
  const n = /^[1-9][0-9]{0,3}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(n >= 1 && n <= MAX_REGISTRY_SHARDS)) throw new Error(`REGISTRY_SHARDS must be a whole number from 1 to ${MAX_REGISTRY_SHARDS}, not "${raw}"`);
  return n;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * Jump consistent hash (Lamping and Veach, 2014): the bucket of `key` among `buckets`. When the count
 * grows from n to m, a key moves only to one of the new buckets (a share 1 − n/m of them moves, the
 * least any scheme can); when it shrinks, only the keys of the removed buckets move.
 */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key & MASK64;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor((b + 1) * (2147483648 / Number((k >> 33n) + 1n)));
  }
  return b;
}

/** The shard of a town among `shards`: jump consistent hashing of FNV-1a of its id, stable across runs, processes and deploys. */
export function shardOf(townId: string, shards: number): number {
  return shards <= 1 ? 0 : jumpHash(BigInt(fnv1a(townId)), shards);
}

/** The object of shard `index`: the first keeps the name the single registry always had. */
export const shardName = (index: number): string => (index === 0 ? "registry" : `registry-${index}`);

/**
 * How the fleet is split right now, as shard 0 (the object named `registry`, there under every count)
 * keeps it. `current` is the count the environment sets; `span` is how many shards may still hold
 * towns: when the count changes, shard 0 widens the span to the larger of the old and the new count,
 * and the watchdog narrows it again once the shards past the count hold nothing. Fleet reads and the
 * watchdog ask shards 0 … span − 1, so no town is missed while the old shards hand their rows over.
 * `now` is shard 0's clock: a fleet read computes every shard's rows as of that one moment.
 */
export interface FleetLayout {
  readonly current: number;
  readonly span: number;
  readonly now: number;
  /** 0 … span − 1. */
  readonly shards: readonly number[];
}

/** The stored part of the layout (in shard 0). */
export interface StoredLayout {
  readonly current: number;
  readonly span: number;
}

/** The layout after a caller running with `current` shards looked: a change of count widens the span. */
export function nextLayout(stored: StoredLayout | undefined, current: number): StoredLayout {
  // Before layouts were kept, the fleet had one shard.
  const before = stored ?? { current: 1, span: 1 };
  if (before.current === current) return before;
  return { current, span: Math.max(before.span, before.current, current) };
}
