import { MAX_TICK_ROWS, type TickWindowInput } from "../api/schemas";
import type { TownStore } from "../db/town-store";
import type { TickViewRow } from "../db/tick-store";

/** The window a tick-history request covers when it names none: the last hour. */
export const DEFAULT_TICK_WINDOW_MS = 3_600_000;

export interface TickWindow {
  readonly from: number;
  readonly to: number;
  /** The window's newest ticks (at most the limit asked for, default and most MAX_TICK_ROWS), oldest first. */
  readonly rows: TickViewRow[];
  /** Whether the window held more ticks than were answered. */
  readonly truncated: boolean;
}

/** The newest ticks of a window; one more than asked for is read to tell whether the window held more. */
export function newestTicks(store: TownStore, window: TickWindowInput, now: number): TickWindow {
  const to = window.to ?? now;
  const from = window.from ?? to - DEFAULT_TICK_WINDOW_MS;
  const limit = window.limit ?? MAX_TICK_ROWS;
  const rows = store.ticks.newestBetween(from, to, limit + 1);
  return rows.length > limit ? { from, to, rows: rows.slice(1), truncated: true } : { from, to, rows, truncated: false };
}
