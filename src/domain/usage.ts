import type { RigId } from "./ids";
import type { AgentRole } from "./model";

/**
 * The usage meter (DESIGN §4.7): container time, from a dispatch's success to the agent leaving
 * working/stalled, per UTC day, rig and role. Metered in the transition itself (mutations.ts), so it is
 * stored in the transaction that stores the transition: exactly once, whatever crashes, and replay
 * computes it again from the same inputs.
 */

export const DAY_MS = 86_400_000;

/** A UTC day as `YYYY-MM-DD` (what usage is kept and budgeted by). */
export const utcDay = (at: number): string => new Date(Math.floor(at / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

/** When the UTC day of `at` began. */
export const dayStart = (at: number): number => Math.floor(at / DAY_MS) * DAY_MS;

/** Container time of one rig and role on one day (or, `day` = `TOTAL`, ever). */
export interface UsageRow {
  readonly day: string;
  readonly rigId: RigId;
  readonly role: AgentRole;
  readonly containerMs: number;
  /** Dispatches that started a container. */
  readonly dispatches: number;
}

/** The `day` of the rows that sum every day. */
export const TOTAL = "total";

/** Container time and dispatches, summed over whatever the caller sums. */
export interface UsageSum {
  readonly containerMs: number;
  readonly dispatches: number;
}

export const NO_USAGE: UsageSum = Object.freeze({ containerMs: 0, dispatches: 0 });

/** `[from, to)` cut at UTC midnights: `[day, ms]` per day it touches. */
export function byDay(from: number, to: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let start = from; start < to; ) {
    const end = Math.min(to, dayStart(start) + DAY_MS);
    out.push([utcDay(start), end - start]);
    start = end;
  }
  return out;
}

const keyOf = (row: { day: string; rigId: string; role: string }): string => `${row.day}|${row.rigId}|${row.role}`;

/** `a` plus `b` (same day, rig and role). */
const plus = (a: UsageRow, b: UsageSum): UsageRow => ({ ...a, containerMs: a.containerMs + b.containerMs, dispatches: a.dispatches + b.dispatches });

/**
 * What a town has metered, in memory: the sums ever and those of the latest day, per rig and role, as
 * stored, and what the changes since the last commit add to them (undone with them). Storage holds every
 * day; memory holds only what status, metrics and the budget read.
 */
export class UsageLedger {
  private readonly totals = new Map<string, UsageRow>();
  private latestDay = "";
  private latest = new Map<string, UsageRow>();
  private pending: UsageRow[] = [];

  /** From stored rows: the totals, and the rows of the latest day (older days are not needed in memory). */
  constructor(rows: Iterable<UsageRow> = []) {
    for (const row of rows) {
      if (row.day === TOTAL) addTo(this.totals, row);
      else this.addToDay(row);
    }
  }

  /** Container time metered since the last commit. */
  add(row: UsageRow): void {
    this.pending.push(row);
  }

  /** How many rows wait for the commit (a point to undo to). */
  get pendingCount(): number {
    return this.pending.length;
  }

  undoTo(count: number): void {
    this.pending.length = count;
  }

  /** The rows metered since the last commit, one per day, rig and role: what storage adds to its rows. */
  changes(): UsageRow[] {
    const out = new Map<string, UsageRow>();
    for (const row of this.pending) addTo(out, row);
    return [...out.values()];
  }

  commit(): void {
    for (const row of this.pending) {
      addTo(this.totals, { ...row, day: TOTAL });
      this.addToDay(row);
    }
    this.pending = [];
  }

  /** What `day` used so far, closed intervals only (the caller adds the containers still running). */
  day(day: string): UsageSum {
    let containerMs = 0;
    let dispatches = 0;
    const rows = day === this.latestDay ? [...this.latest.values(), ...this.pending] : this.pending;
    for (const row of rows) {
      if (row.day !== day) continue;
      containerMs += row.containerMs;
      dispatches += row.dispatches;
    }
    return { containerMs, dispatches };
  }

  /** The sums ever, per rig and role (closed intervals only). */
  allTime(): UsageRow[] {
    const out = new Map(this.totals);
    for (const row of this.pending) addTo(out, { ...row, day: TOTAL });
    return [...out.values()];
  }

  /** What a snapshot keeps: the totals and the latest day's rows, as committed. */
  rows(): UsageRow[] {
    return [...this.totals.values(), ...this.latest.values()];
  }

  /** A day's row: the latest day's are kept (a newer day replaces them), older ones only counted in the totals. */
  private addToDay(row: UsageRow): void {
    if (row.day > this.latestDay) {
      this.latestDay = row.day;
      this.latest = new Map();
    }
    if (row.day === this.latestDay) addTo(this.latest, row);
  }
}

function addTo(into: Map<string, UsageRow>, row: UsageRow): void {
  const key = keyOf(row);
  const had = into.get(key);
  into.set(key, had ? plus(had, row) : row);
}
