/** Small helpers the stores share. */

/** Bound parameters per statement are capped at 100 in Durable Object SQLite. */
export const MAX_PARAMS = 100;

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `?, ?, ?` for `n` parameters. */
export const placeholders = (n: number): string => Array.from({ length: n }, () => "?").join(", ");

/** Sorted numbers as runs of consecutive values: [1,2,3,7,8] → [[1,3],[7,8]]. */
export function runs(sorted: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

/**
 * Rows bound as one JSON value, for a statement that reads them back with `json_each`: one statement
 * for a thousand rows, where bound values allow a handful (the parameter limit of 100). Each statement
 * costs the runtime a call and a cursor, which for many small rows costs more than the rows themselves.
 * JSON carries texts as a binding does, a lone surrogate and a NUL included (test/town/row-updates).
 * A chunk is at most 1,000 rows and, unless one row is larger, about 256 KiB of text: well under the
 * runtime's 2 MB for a value.
 */
export function jsonRowChunks(rows: readonly (readonly unknown[])[]): string[] {
  const out: string[] = [];
  let chunk: (readonly unknown[])[] = [];
  let chars = 0;
  for (const row of rows) {
    const weight = row.reduce<number>((n, v) => n + (typeof v === "string" ? v.length : 0) + 8, 0);
    if (chunk.length > 0 && (chunk.length >= JSON_ROWS_MAX || chars + weight > JSON_ROWS_CHARS)) {
      out.push(JSON.stringify(chunk));
      chunk = [];
      chars = 0;
    }
    chunk.push(row);
    chars += weight;
  }
  if (chunk.length > 0) out.push(JSON.stringify(chunk));
  return out;
}
const JSON_ROWS_MAX = 1_000;
const JSON_ROWS_CHARS = 256 * 1024;

/** Rows of a raw query, decoded. */
export function allRows<Row>(sql: SqlStorage, query: string, codec: { decode(raw: readonly SqlStorageValue[]): Row }, ...params: unknown[]): Row[] {
  const out: Row[] = [];
  for (const raw of sql.exec(query, ...params).raw()) out.push(codec.decode(raw));
  return out;
}

/** The first row of a raw query, decoded. */
export function firstRow<Row>(sql: SqlStorage, query: string, codec: { decode(raw: readonly SqlStorageValue[]): Row }, ...params: unknown[]): Row | undefined {
  for (const raw of sql.exec(query, ...params).raw()) return codec.decode(raw);
  return undefined;
}

/** Rows changed by the last statement. */
export const changes = (sql: SqlStorage): number => sql.exec<{ n: number }>("SELECT changes() AS n").one().n;
