import type { TownSummary } from "./town-summary";
import { allColumns, rowCodec } from "../db/codec";
import { summaries } from "./registry-schema";
import { placeholders } from "../db/sql";
import { registrationSummary } from "./town-summary";

/**
 * The registry's storage (plain SQL: two tables and a handful of statements do not need a second
 * drizzle schema and migration set). `towns` is the list; `summaries` holds each town's last summary.
 */
const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS towns (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)",
  `CREATE TABLE IF NOT EXISTS summaries (
    town_id TEXT PRIMARY KEY,
    reported_at INTEGER NOT NULL,
    last_tick_at INTEGER,
    tick_wall_clock_ms INTEGER NOT NULL,
    next_alarm_at INTEGER,
    queue_depth INTEGER NOT NULL,
    oldest_pending_at INTEGER,
    dead_letters INTEGER NOT NULL,
    breaker_open INTEGER NOT NULL,
    violations_open INTEGER NOT NULL,
    stuck_work INTEGER NOT NULL
  )`,
  // The watchdog reads the towns whose next tick is overdue, most overdue first.
  "CREATE INDEX IF NOT EXISTS summaries_due ON summaries (next_alarm_at, town_id) WHERE next_alarm_at IS NOT NULL",
];

/**
 * Towns registered before summaries existed are due at once: the watchdog asks each to report. Run when
 * the summaries table is created, not on every start: from then on a town is listed and summarised in one
 * write, and leaves both in one.
 */
const BACKFILL = `INSERT INTO summaries (town_id, reported_at, tick_wall_clock_ms, next_alarm_at, queue_depth, dead_letters, breaker_open, violations_open, stuck_work)
  SELECT id, created_at, 0, created_at, 0, 0, 0, 0, 0 FROM towns WHERE NOT EXISTS (SELECT 1 FROM summaries WHERE town_id = towns.id)`;

/** Summaries are written and read back through the declared columns, in one order. */
const SUMMARY = rowCodec(summaries, allColumns(summaries));
const SUMMARY_KEYS = allColumns(summaries);
const VALUES = (summary: TownSummary) => SUMMARY_KEYS.map((key) => summary[key]);
const PLACEHOLDERS = placeholders(SUMMARY_KEYS.length);
const UPDATES = SUMMARY_KEYS.slice(1)
  .map((key) => `"${summaries[key].name}" = excluded."${summaries[key].name}"`)
  .join(", ");
/** Only for a registered town (a late report of a deleted town must not bring it back), and never older than what is kept. */
const REPORT = `INSERT INTO summaries (${SUMMARY.columns}) SELECT ${PLACEHOLDERS} WHERE EXISTS (SELECT 1 FROM towns WHERE id = ?)
  ON CONFLICT (town_id) DO UPDATE SET ${UPDATES} WHERE excluded.reported_at >= summaries.reported_at`;

export interface RegisteredSummary {
  readonly summary: TownSummary;
  readonly registeredAt: number;
}

export class RegistryStore {
  constructor(private readonly sql: SqlStorage) {
    const summariesExisted = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'summaries'").toArray().length > 0;
    for (const statement of SCHEMA) sql.exec(statement);
    if (!summariesExisted) sql.exec(BACKFILL);
  }

  /** Adds a town with the summary it starts with (nothing if it is listed already). */
  register(townId: string, createdAt: number): void {
    this.sql.exec("INSERT INTO towns (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", townId, createdAt);
    this.sql.exec(
      `INSERT INTO summaries (${SUMMARY.columns}) VALUES (${PLACEHOLDERS}) ON CONFLICT (town_id) DO NOTHING`,
      ...VALUES(registrationSummary(townId, createdAt)),
    );
  }

  deregister(townId: string): void {
    this.sql.exec("DELETE FROM summaries WHERE town_id = ?", townId);
    this.sql.exec("DELETE FROM towns WHERE id = ?", townId);
  }

  list(): Array<{ id: string; createdAt: number }> {
    return this.sql
      .exec<{ id: string; created_at: number }>("SELECT id, created_at FROM towns ORDER BY id")
      .toArray()
      .map((row) => ({ id: row.id, createdAt: row.created_at }));
  }

  /** Keeps a town's summary if it is registered and the summary is not older than the one kept. Returns whether it was kept. */
  report(summary: TownSummary): boolean {
    const cursor = this.sql.exec(REPORT, ...VALUES(summary), summary.town);
    cursor.toArray();
    return cursor.rowsWritten > 0;
  }

  /** Every registered town's summary, by town id. */
  summaries(): RegisteredSummary[] {
    // The summary's columns as declared, then when the town was registered (read after them).
    const cursor = this.sql.exec(`SELECT ${SUMMARY.columns}, t.created_at FROM towns t JOIN summaries s ON s.town_id = t.id ORDER BY t.id`);
    const out: RegisteredSummary[] = [];
    for (const raw of cursor.raw()) out.push({ summary: SUMMARY.decode(raw), registeredAt: raw[SUMMARY_KEYS.length] as number });
    return out;
  }

  /**
   * Towns whose next tick was due before `dueBefore`, most overdue first, after the position `after`
   * (a page of at most `limit`): what the watchdog sweeps.
   */
  overdue(dueBefore: number, after: { at: number; town: string } | null, limit: number): Array<{ town: string; at: number }> {
    const rows = after
      ? this.sql.exec<{ town_id: string; next_alarm_at: number }>(
          "SELECT town_id, next_alarm_at FROM summaries WHERE next_alarm_at IS NOT NULL AND next_alarm_at < ? AND (next_alarm_at, town_id) > (?, ?) ORDER BY next_alarm_at, town_id LIMIT ?",
          dueBefore,
          after.at,
          after.town,
          limit,
        )
      : this.sql.exec<{ town_id: string; next_alarm_at: number }>(
          "SELECT town_id, next_alarm_at FROM summaries WHERE next_alarm_at IS NOT NULL AND next_alarm_at < ? ORDER BY next_alarm_at, town_id LIMIT ?",
          dueBefore,
          limit,
        );
    return rows.toArray().map((row) => ({ town: row.town_id, at: row.next_alarm_at }));
  }
}
