import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * The registry object's summaries table, declared for writing and reading rows by name (see src/db/codec.ts). They are created
 * by plain statements in registry-store.ts — the registry's two tables need no migration set of their own.
 */
/** Each town's last summary: the keys are those of `TownSummary`. */
export const summaries = sqliteTable("summaries", {
  town: text("town_id").primaryKey(),
  reportedAt: integer("reported_at").notNull(),
  lastTickAt: integer("last_tick_at"),
  tickWallClockMs: integer("tick_wall_clock_ms").notNull(),
  nextAlarmAt: integer("next_alarm_at"),
  queueDepth: integer("queue_depth").notNull(),
  oldestPendingAt: integer("oldest_pending_at"),
  deadLetters: integer("dead_letters").notNull(),
  breakerOpen: integer("breaker_open").notNull(),
  violationsOpen: integer("violations_open").notNull(),
  stuckWork: integer("stuck_work").notNull(),
  paused: integer("paused").notNull().default(0),
  containerSecondsToday: integer("container_seconds_today").notNull().default(0),
});
