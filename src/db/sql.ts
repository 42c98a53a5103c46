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
