/** Rows a piece of work read and wrote, as Durable Object SQLite bills them (each index update is a row). */
export interface Rows {
  readonly read: number;
  readonly written: number;
}

export const NO_ROWS: Rows = Object.freeze({ read: 0, written: 0 });

export const addRows = (a: Rows, b: Rows): Rows => ({ read: a.read + b.read, written: a.written + b.written });

/**
 * Counts the rows every SQL statement of a town reads and writes — the one place they all go through
 * (the stores' raw statements and drizzle's alike). A cursor's counts grow as it is read, so a statement is
 * counted when the rows are taken, after its caller has read what it needed. Writes outside SQL (`setAlarm`,
 * a key `put`), billed as a row each, are told to it.
 */
export class RowMeter {
  private cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  /** Counts of cursors already let go of, and alarms set, since the last `take`. */
  private folded = { read: 0, written: 0 };
  /** The SQL interface to give the stores: `exec` as the storage's, each cursor kept until counted. */
  readonly sql: SqlStorage;

  constructor(inner: SqlStorage) {
    // Looked up on each call: a test that replaces the storage's `exec` to inject a fault still reaches it.
    this.sql = Object.create(inner, {
      exec: {
        value: <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): SqlStorageCursor<T> => {
          const cursor = inner.exec<T>(query, ...bindings);
          this.cursors.push(cursor);
          if (this.cursors.length > KEPT_CURSORS) this.fold(this.cursors.length / 2);
          return cursor;
        },
      },
      databaseSize: { get: () => inner.databaseSize },
    }) as SqlStorage;
  }

  /** Rows written outside SQL (an alarm set, a key put), each billed as one. */
  writtenOutsideSql(written: number): void {
    this.folded = { ...this.folded, written: this.folded.written + written };
  }

  /** The rows of the statements (and alarms) since the last call. */
  take(): Rows {
    this.fold(this.cursors.length);
    const rows = this.folded;
    this.folded = { read: 0, written: 0 };
    return rows;
  }

  /** Counts the oldest `n` cursors and lets go of them (every caller reads its cursor before the next statement but a few). */
  private fold(n: number): void {
    let { read, written } = this.folded;
    for (const cursor of this.cursors.splice(0, n)) {
      read += cursor.rowsRead;
      written += cursor.rowsWritten;
    }
    this.folded = { read, written };
  }
}

/** Cursors kept uncounted at most: a long run of statements between two `take`s costs bounded memory. */
const KEPT_CURSORS = 512;
