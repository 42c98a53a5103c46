import { FLEET_ALERTS, type FleetAlertField } from "./fleet-alerts";
import { SILENT_AFTER_MS } from "./fleet-row";
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
    stuck_work INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    container_seconds_today INTEGER NOT NULL DEFAULT 0
  )`,
  // The watchdog reads the towns whose next tick is overdue, most overdue first.
  "CREATE INDEX IF NOT EXISTS summaries_due ON summaries (next_alarm_at, town_id) WHERE next_alarm_at IS NOT NULL",
  // Towns deleted (by the creation they had): a row handed over after the deletion must not bring one back.
  "CREATE TABLE IF NOT EXISTS departed (town_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, departed_at INTEGER NOT NULL)",
];

/** When this shard handed the town's row over to the town's shard under a new count (null: it is this shard's, or not handed yet). */
const HANDED_OVER = "ALTER TABLE summaries ADD COLUMN handed_over_at INTEGER";

/**
 * A paged fleet read is a view of the fleet as of one moment, its snapshot (src/fleet/reads.ts): the
 * start of the window of SNAPSHOT_WINDOW_MS in which its first page was read. Each town is ranked and
 * shown there by the summary it had just before that moment, whatever it reported since, and a town
 * that was not here then is left out. So that any snapshot up to two windows old can be answered, each
 * row keeps beside its last summary the summary it had at the start of the last summary's window
 * (`prev_…`) and at the start of the window before (`prev2_…`; null: the row was not here then). They
 * are columns of the same row, so a report still writes one row.
 */
export const SNAPSHOT_WINDOW_MS = 30_000;
/** The summary's columns after town_id, in declaration order (every one an integer). */
const SUMMARY_COLUMNS = allColumns(summaries)
  .slice(1)
  .map((key) => summaries[key].name);
/** The two summaries a row keeps beside its last: at the start of the last one's window, and of the window before. */
const HISTORY = ["prev", "prev2"] as const;
type HistorySlot = (typeof HISTORY)[number];
const historyColumn = (slot: HistorySlot, column: string): string => `${slot}_${column}`;

/** Columns summaries gained after their table was first created, each added to an older shard's table once. */
const ADDED_COLUMNS: ReadonlyArray<[string, string]> = [
  ["handed_over_at", HANDED_OVER],
  ["paused", "ALTER TABLE summaries ADD COLUMN paused INTEGER NOT NULL DEFAULT 0"],
  ["container_seconds_today", "ALTER TABLE summaries ADD COLUMN container_seconds_today INTEGER NOT NULL DEFAULT 0"],
  ...HISTORY.flatMap((slot) =>
    SUMMARY_COLUMNS.map((column): [string, string] => [
      historyColumn(slot, column),
      `ALTER TABLE summaries ADD COLUMN "${historyColumn(slot, column)}" INTEGER`,
    ]),
  ),
];

/**
 * When a shard's table gains the history: each row's summary is taken to have held since its town was
 * registered (what the row knew is all there is), so a paged read begun just before the upgrade still
 * finds every town.
 */
const HISTORY_BACKFILL = `UPDATE summaries SET ${HISTORY.map((slot) =>
  SUMMARY_COLUMNS.map((column) =>
    column === "reported_at"
      ? `"${historyColumn(slot, column)}" = MIN(reported_at, COALESCE((SELECT created_at FROM towns WHERE id = summaries.town_id), reported_at))`
      : `"${historyColumn(slot, column)}" = "${column}"`,
  ).join(", "),
).join(", ")}`;

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
/**
 * Only for a registered town (a late report of a deleted town must not bring it back), and never older
 * than what is kept. A report taken is this shard's news: if the row had been handed over, it is to be
 * handed over again.
 */
const windowOf = (at: string): string => `CAST(${at} / ${SNAPSHOT_WINDOW_MS} AS INTEGER)`;
const SAME_WINDOW = `${windowOf("excluded.reported_at")} = ${windowOf("summaries.reported_at")}`;
const NEXT_WINDOW = `${windowOf("excluded.reported_at")} = ${windowOf("summaries.reported_at")} + 1`;
/**
 * The history a report leaves (every right-hand side reads the row as it was): a report in the window
 * of the last summary keeps the history; in the next window, the last summary is what the row had at
 * the start of this window, and the one it had at the start of the last is what it had at the start of
 * the window before; later still, the last summary is what it had at the start of both.
 */
const SHIFT_HISTORY = SUMMARY_COLUMNS.flatMap((column) => [
  `"${historyColumn("prev2", column)}" = CASE WHEN ${SAME_WINDOW} THEN summaries."${historyColumn("prev2", column)}" WHEN ${NEXT_WINDOW} THEN summaries."${historyColumn("prev", column)}" ELSE summaries."${column}" END`,
  `"${historyColumn("prev", column)}" = CASE WHEN ${SAME_WINDOW} THEN summaries."${historyColumn("prev", column)}" ELSE summaries."${column}" END`,
]).join(", ");
const REPORT = `INSERT INTO summaries (${SUMMARY.columns}) SELECT ${PLACEHOLDERS} WHERE EXISTS (SELECT 1 FROM towns WHERE id = ?)
  ON CONFLICT (town_id) DO UPDATE SET ${UPDATES}, ${SHIFT_HISTORY}, handed_over_at = NULL WHERE excluded.reported_at >= summaries.reported_at`;

/** A row written whole, its history with it (a row entering a shard, or handed over to it). */
const WRITE_WITH_HISTORY = `UPDATE summaries SET ${[
  ...SUMMARY_COLUMNS,
  ...HISTORY.flatMap((slot) => SUMMARY_COLUMNS.map((column) => historyColumn(slot, column))),
]
  .map((column) => `"${column}" = ?`)
  .join(", ")}, handed_over_at = NULL WHERE town_id = ?`;
const HISTORY_SELECT = HISTORY.flatMap((slot) => SUMMARY_COLUMNS.map((column) => `s."${historyColumn(slot, column)}"`)).join(", ");

/**
 * The rows as of the snapshot `at` (a placeholder): each town's summary just before that moment — its
 * last, else the history's — and only the towns this shard held then.
 */
const summariesAt = (at: string): string => {
  const version = `CASE WHEN reported_at < ${at} THEN 0 WHEN "${historyColumn("prev", "reported_at")}" < ${at} THEN 1 WHEN "${historyColumn("prev2", "reported_at")}" < ${at} THEN 2 END`;
  const columns = SUMMARY_COLUMNS.map(
    (column) => `CASE v WHEN 0 THEN "${column}" WHEN 1 THEN "${historyColumn("prev", column)}" ELSE "${historyColumn("prev2", column)}" END AS "${column}"`,
  ).join(", ");
  return `(SELECT town_id, handed_over_at, ${columns} FROM (SELECT *, ${version} AS v FROM summaries) WHERE v IS NOT NULL)`;
};

/**
 * The fleet row's alert fields in SQL, at `?1` (now), exactly as fleetRow computes them, so a page can
 * be filtered, ordered and cut by the storage: `problems` counts the conditions of FLEET_ALERTS. (A
 * number bound from JavaScript may arrive as a REAL: seconds are truncated explicitly, as Math.floor does.)
 */
const FIELD_SQL: Record<FleetAlertField, string> = {
  silent: `(CASE WHEN s.next_alarm_at IS NOT NULL AND ?1 - s.next_alarm_at > ${SILENT_AFTER_MS} THEN 1 ELSE 0 END)`,
  violationsOpen: "s.violations_open",
  stuckWork: "s.stuck_work",
  queueDepth: "s.queue_depth",
  oldestPendingAgeSeconds: "(CASE WHEN s.oldest_pending_at IS NULL THEN 0 ELSE CAST(MAX(0, ?1 - s.oldest_pending_at) / 1000 AS INTEGER) END)",
  deadLetters: "s.dead_letters",
  breakerOpen: "s.breaker_open",
  tickWallClockMs: "s.tick_wall_clock_ms",
};
const PROBLEMS_SQL = FLEET_ALERTS.map((alert) => `(${FIELD_SQL[alert.field]} > ${alert.above})`).join(" + ");
const OVERDUE_SQL = "(CASE WHEN s.next_alarm_at IS NULL THEN 0 ELSE CAST(MAX(0, ?1 - s.next_alarm_at) / 1000 AS INTEGER) END)";
const RANKED = (source: string): string => `SELECT ${SUMMARY_KEYS.map((key) => `s."${summaries[key].name}"`).join(", ")}, t.created_at, s.handed_over_at,
  ${PROBLEMS_SQL} AS problems, ${OVERDUE_SQL} AS overdue FROM towns t JOIN ${source} s ON s.town_id = t.id`;

/** Where a page of the fleet, worst first, stopped: the last row's problems, overdue seconds and town. */
export interface RankKey {
  readonly problems: number;
  readonly overdue: number;
  readonly town: string;
}

export interface RegisteredSummary {
  readonly summary: TownSummary;
  readonly registeredAt: number;
  /** When this shard handed the row over to the town's shard under a new count (null: not handed over). */
  readonly handedOverAt: number | null;
  /** The row's history (SNAPSHOT_WINDOW_MS), handed over with it: absent or null, none. */
  readonly history?: readonly [TownSummary | null, TownSummary | null];
}

export interface RankedSummary extends RegisteredSummary {
  readonly rank: RankKey;
}

export class RegistryStore {
  constructor(private readonly sql: SqlStorage) {
    const summariesExisted = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'summaries'").toArray().length > 0;
    for (const statement of SCHEMA) sql.exec(statement);
    if (!summariesExisted) sql.exec(BACKFILL);
    const columns = sql.exec<{ name: string }>("PRAGMA table_info(summaries)").toArray();
    const hadHistory = columns.some((column) => column.name === historyColumn("prev", "reported_at"));
    for (const [name, statement] of ADDED_COLUMNS) if (!columns.some((column) => column.name === name)) sql.exec(statement);
    if (!hadHistory) sql.exec(HISTORY_BACKFILL);
  }

  /**
   * Adds a town with the summary it starts with (nothing if it is listed already). Unless `fromTown`
   * (the town itself registering: it exists, whatever was deleted before), not a town deleted since:
   * one whose creation is no later than a deletion this shard saw (returns false).
   */
  register(townId: string, createdAt: number, fromTown = false): boolean {
    const departed = this.sql.exec<{ created_at: number }>("SELECT created_at FROM departed WHERE town_id = ?", townId).toArray()[0];
    if (departed && !fromTown && departed.created_at >= createdAt) return false;
    if (departed) this.sql.exec("DELETE FROM departed WHERE town_id = ?", townId);
    this.sql.exec("INSERT INTO towns (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", townId, createdAt);
    this.sql.exec(
      `INSERT INTO summaries (${SUMMARY.columns}) VALUES (${PLACEHOLDERS}) ON CONFLICT (town_id) DO NOTHING`,
      ...VALUES(registrationSummary(townId, createdAt)),
    );
    return true;
  }

  /**
   * A town that now reports here (its shard under a new count): registered, and its summary kept. A row
   * new here has no history: a paged read begun before it came finds the town in the shard that held
   * it then (which keeps it until the handover's grace has passed).
   */
  enter(townId: string, createdAt: number, summary: TownSummary): boolean {
    const held = this.holds(townId);
    if (!this.register(townId, createdAt)) return false;
    if (held) return this.report(summary);
    this.writeWithHistory(summary, [null, null]);
    return true;
  }

  private holds(townId: string): boolean {
    return this.sql.exec("SELECT 1 FROM summaries WHERE town_id = ?", townId).toArray().length > 0;
  }

  /** Overwrites the town's row (it is registered here) with a summary and the history beside it. */
  private writeWithHistory(summary: TownSummary, history: readonly [TownSummary | null, TownSummary | null]): void {
    const values = VALUES(summary).slice(1);
    for (const kept of history) values.push(...(kept ? VALUES(kept).slice(1) : SUMMARY_COLUMNS.map(() => null)));
    this.sql.exec(WRITE_WITH_HISTORY, ...values, summary.town);
  }

  /** Removes the town, and remembers the deletion of the town created at `createdAt` (null: whatever this shard holds, or any). */
  deregister(townId: string, createdAt: number | null, at: number): void {
    const held = this.sql.exec<{ created_at: number }>("SELECT created_at FROM towns WHERE id = ?", townId).toArray()[0];
    const created = Math.max(createdAt ?? held?.created_at ?? at, held?.created_at ?? 0);
    this.sql.exec("DELETE FROM summaries WHERE town_id = ?", townId);
    this.sql.exec("DELETE FROM towns WHERE id = ?", townId);
    this.sql.exec(
      "INSERT INTO departed (town_id, created_at, departed_at) VALUES (?, ?, ?) ON CONFLICT (town_id) DO UPDATE SET created_at = MAX(created_at, excluded.created_at), departed_at = excluded.departed_at",
      townId,
      created,
      at,
    );
  }

  /** Forgets deletions older than `before` (a row handed over cannot be in flight that long). */
  pruneDeparted(before: number): void {
    this.sql.exec("DELETE FROM departed WHERE departed_at < ?", before);
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
    return this.decodeAll(
      this.sql.exec(`SELECT ${SUMMARY.columns}, t.created_at, s.handed_over_at FROM towns t JOIN summaries s ON s.town_id = t.id ORDER BY t.id`),
    );
  }

  /** The summaries of these towns that this shard holds (with `snapshot`: as of it, those it held then). */
  summariesOf(towns: readonly string[], snapshot: number | null = null): RegisteredSummary[] {
    const rows = this.withHistory(towns);
    if (snapshot === null) return rows.map(({ history: _history, ...row }) => row);
    const out: RegisteredSummary[] = [];
    for (const { history, ...row } of rows) {
      // As summariesAt picks it, by the ids' primary key (a subquery over the table is not narrowed by the ids).
      const summary = [row.summary, ...(history ?? [])].find((kept) => kept !== null && kept.reportedAt < snapshot);
      if (summary) out.push({ ...row, summary });
    }
    return out;
  }

  /** The rows of these towns as a handover sends them: each summary with its history. */
  handoverRows(towns: readonly string[]): RegisteredSummary[] {
    return this.withHistory(towns);
  }

  private withHistory(towns: readonly string[]): RegisteredSummary[] {
    const out: RegisteredSummary[] = [];
    const n = SUMMARY_KEYS.length;
    const width = SUMMARY_COLUMNS.length;
    for (let i = 0; i < towns.length; i += 90) {
      const ids = towns.slice(i, i + 90);
      const rows = this.sql.exec(
        `SELECT ${SUMMARY_KEYS.map((key) => `s."${summaries[key].name}"`).join(", ")}, t.created_at, s.handed_over_at, ${HISTORY_SELECT} FROM towns t JOIN summaries s ON s.town_id = t.id WHERE t.id IN (${placeholders(ids.length)})`,
        ...ids,
      );
      for (const raw of rows.raw()) {
        const summary = SUMMARY.decode(raw);
        const kept = HISTORY.map((_, slot) => {
          const values = raw.slice(n + 2 + slot * width, n + 2 + (slot + 1) * width);
          return values[0] === null ? null : SUMMARY.decode([summary.town, ...values]);
        });
        out.push({ summary, registeredAt: raw[n] as number, handedOverAt: (raw[n + 1] as number | null) ?? null, history: [kept[0]!, kept[1]!] });
      }
    }
    return out;
  }

  /**
   * A page of the fleet at `now`, worst first (most problems, then most overdue, then by town id), after
   * `after`, of at most `limit` rows (null: all); `problemsOnly` keeps the towns with a problem. With
   * `snapshot`, the rows as of it (SNAPSHOT_WINDOW_MS): each town's summary just before that moment,
   * and only the towns held here then; without, the last summaries.
   */
  ranked(now: number, options: { problemsOnly: boolean; after: RankKey | null; limit: number | null; snapshot?: number | null }): RankedSummary[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [now];
    const param = (value: SqlStorageValue): string => `?${args.push(value)}`;
    if (options.problemsOnly) where.push("problems > 0");
    if (options.after) {
      const [problems, overdue, town] = [param(options.after.problems), param(options.after.overdue), param(options.after.town)];
      where.push(`(problems < ${problems} OR (problems = ${problems} AND (overdue < ${overdue} OR (overdue = ${overdue} AND town_id > ${town}))))`);
    }
    const source = options.snapshot == null ? "summaries" : summariesAt(param(options.snapshot));
    const limit = options.limit === null ? "" : ` LIMIT ${Math.floor(options.limit)}`;
    const cursor = this.sql.exec(
      `SELECT * FROM (${RANKED(source)}) ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY problems DESC, overdue DESC, town_id${limit}`,
      ...args,
    );
    const out: RankedSummary[] = [];
    const n = SUMMARY_KEYS.length;
    for (const raw of cursor.raw()) {
      const summary = SUMMARY.decode(raw);
      out.push({
        summary,
        registeredAt: raw[n] as number,
        handedOverAt: (raw[n + 1] as number | null) ?? null,
        rank: { problems: raw[n + 2] as number, overdue: raw[n + 3] as number, town: summary.town },
      });
    }
    return out;
  }

  /**
   * Takes rows another shard hands over (the towns are this shard's under a new count): registers each
   * town not deleted meanwhile and keeps its summary unless a fresher one is here. Returns, per town,
   * the freshness this shard now holds (absent: refused).
   */
  adopt(rows: readonly RegisteredSummary[]): Record<string, number> {
    const held: Record<string, number> = {};
    for (const row of rows) {
      const here = this.holds(row.summary.town);
      if (!this.register(row.summary.town, row.registeredAt)) continue;
      // A row new here comes with its history (a paged read as of a moment before the handover reads it here the same).
      if (here) this.report(row.summary);
      else this.writeWithHistory(row.summary, row.history ?? [null, null]);
      const kept = this.sql.exec<{ reported_at: number }>("SELECT reported_at FROM summaries WHERE town_id = ?", row.summary.town).toArray()[0];
      if (kept) held[row.summary.town] = kept.reported_at;
    }
    return held;
  }

  /** Marks rows handed over at `at`, unless a fresher report arrived here meanwhile (then it is handed over again later). */
  markHandedOver(towns: ReadonlyArray<{ town: string; reportedAt: number }>, at: number): void {
    for (const { town, reportedAt } of towns)
      this.sql.exec("UPDATE summaries SET handed_over_at = ? WHERE town_id = ? AND reported_at <= ?", at, town, reportedAt);
  }

  /** Drops the rows handed over before `before` (their town's shard has them), at most `limit`. Returns how many. */
  dropHandedOver(before: number, limit: number): number {
    const ids = this.sql
      .exec<{ town_id: string }>(
        "SELECT town_id FROM summaries WHERE handed_over_at IS NOT NULL AND handed_over_at < ? LIMIT ?",
        before,
        Math.max(0, Math.floor(limit)),
      )
      .toArray()
      .map((row) => row.town_id);
    for (const id of ids) {
      this.sql.exec("DELETE FROM summaries WHERE town_id = ?", id);
      this.sql.exec("DELETE FROM towns WHERE id = ?", id);
    }
    return ids.length;
  }

  /** Every town held here, with whether its row was handed over (what a shard scans when the count changed). */
  heldTowns(): Array<{ id: string; handedOver: boolean }> {
    const out: Array<{ id: string; handedOver: boolean }> = [];
    for (const [id, handed] of this.sql.exec("SELECT t.id, s.handed_over_at FROM towns t JOIN summaries s ON s.town_id = t.id").raw())
      out.push({ id: id as string, handedOver: handed !== null });
    return out;
  }

  /**
   * Towns whose next tick was due before `dueBefore`, most overdue first, after the position `after`
   * (a page of at most `limit`): what the watchdog sweeps. Not rows handed over: their town's shard sweeps them.
   */
  overdue(dueBefore: number, after: { at: number; town: string } | null, limit: number): Array<{ town: string; at: number }> {
    const rows = after
      ? this.sql.exec<{ town_id: string; next_alarm_at: number }>(
          "SELECT town_id, next_alarm_at FROM summaries WHERE next_alarm_at IS NOT NULL AND next_alarm_at < ? AND (next_alarm_at, town_id) > (?, ?) AND handed_over_at IS NULL ORDER BY next_alarm_at, town_id LIMIT ?",
          dueBefore,
          after.at,
          after.town,
          limit,
        )
      : this.sql.exec<{ town_id: string; next_alarm_at: number }>(
          "SELECT town_id, next_alarm_at FROM summaries WHERE next_alarm_at IS NOT NULL AND next_alarm_at < ? AND handed_over_at IS NULL ORDER BY next_alarm_at, town_id LIMIT ?",
          dueBefore,
          limit,
        );
    return rows.toArray().map((row) => ({ town: row.town_id, at: row.next_alarm_at }));
  }

  private decodeAll(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>): RegisteredSummary[] {
    const out: RegisteredSummary[] = [];
    const n = SUMMARY_KEYS.length;
    for (const raw of cursor.raw())
      out.push({ summary: SUMMARY.decode(raw), registeredAt: raw[n] as number, handedOverAt: (raw[n + 1] as number | null) ?? null });
    return out;
  }
}
