import { getTableColumns, getTableName, type Table } from "drizzle-orm";

/**
 * Hand-built statements for the hot paths (a tick writes hundreds of rows; building each statement
 * through drizzle's query builder costs more than SQLite takes to run it). The SQL text is derived
 * from the drizzle schema once, so it cannot drift from it, and it is constant, so the runtime reuses
 * the prepared statement.
 */
export interface Upsert<Row> {
  readonly sql: string;
  readonly params: (row: Row) => unknown[];
}

/** `INSERT … ON CONFLICT (key) DO UPDATE SET every other column`, for the given table. */
export function upsertFor<Row extends object>(table: Table, key: readonly string[], columnKeys: readonly (keyof Row & string)[]): Upsert<Row> {
  const columns = getTableColumns(table);
  const names = columnKeys.map((k) => {
    const column = columns[k];
    if (!column) throw new Error(`${getTableName(table)} has no column ${k}`);
    return column.name;
  });
  const keyNames = key.map((k) => columns[k]!.name);
  const updates = names.filter((n) => !keyNames.includes(n)).map((n) => `"${n}" = excluded."${n}"`);
  const sql =
    `INSERT INTO "${getTableName(table)}" (${names.map((n) => `"${n}"`).join(", ")}) VALUES (${names.map(() => "?").join(", ")}) ` +
    `ON CONFLICT (${keyNames.map((n) => `"${n}"`).join(", ")}) DO UPDATE SET ${updates.join(", ")}`;
  return { sql, params: (row) => columnKeys.map((k) => toSqlValue(row[k])) };
}

/** Many rows updated by one statement: their params as one JSON value (`UPDATE … FROM json_each(?)`; see jsonRowChunks). */
export interface UpdateMany<Row> {
  readonly sql: string;
  /** The key first, then the columns. */
  params(row: Row): unknown[];
}

export function updateManyFor<Row extends object>(table: Table, key: keyof Row & string, columnKeys: readonly (keyof Row & string)[]): UpdateMany<Row> {
  const columns = getTableColumns(table);
  for (const k of columnKeys) if (!columns[k]) throw new Error(`${getTableName(table)} has no column ${k}`);
  const tableName = getTableName(table);
  const others = columnKeys.filter((k) => k !== key);
  // Each row is [key, ...others]: the key at 0, the columns from 1.
  const sets = others.map((k, i) => `"${columns[k]!.name}" = r.value ->> ${i + 1}`).join(", ");
  return {
    sql: `UPDATE "${tableName}" SET ${sets} FROM json_each(?) AS r WHERE "${tableName}"."${columns[key]!.name}" = r.value ->> 0`,
    // Built in one pass: a tick binds hundreds of rows through here.
    params: (row) => {
      const values = new Array<unknown>(others.length + 1);
      values[0] = toSqlValue(row[key]);
      for (let i = 0; i < others.length; i++) values[i + 1] = toSqlValue(row[others[i]!]);
      return values;
    },
  };
}

/** How a value is bound: booleans as 0/1, objects and arrays as JSON, undefined as NULL. */
export function toSqlValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value;
}

/** A row as it is now and as it was at the last commit. */
export interface RowChange<Row> {
  readonly row: Row;
  readonly was: Row;
}

/**
 * Updates that write only the columns that changed: rows whose changed columns are the same go several
 * to a statement (`updateManyFor` of those columns). Fewer columns bind and copy less, and an index
 * whose columns did not change is left alone — SQLite rewrites an index entry whenever an UPDATE sets
 * one of its columns, even to the value it had. JSON columns compare by their stored text.
 */
export function changedColumnsUpdate<Row extends object>(table: Table, key: keyof Row & string, columnKeys: readonly (keyof Row & string)[]) {
  const others = columnKeys.filter((k) => k !== key);
  const statements = new Map<string, UpdateMany<Row>>();
  const same = (a: unknown, b: unknown) =>
    a === b || (a !== null && b !== null && typeof a === "object" && typeof b === "object" && toSqlValue(a) === toSqlValue(b));
  return {
    /** The statements to run: each with the rows it writes (none for rows with nothing changed). */
    plan(changes: ReadonlyArray<RowChange<Row>>): Array<{ statement: UpdateMany<Row>; rows: Row[] }> {
      const groups = new Map<string, Row[]>();
      for (const { row, was } of changes) {
        const changed = others.filter((k) => !same(row[k], was[k]));
        if (changed.length === 0) continue;
        const signature = changed.join(",");
        if (!statements.has(signature)) statements.set(signature, updateManyFor<Row>(table, key, [key, ...changed]));
        const group = groups.get(signature);
        if (group) group.push(row);
        else groups.set(signature, [row]);
      }
      return [...groups].map(([signature, rows]) => ({ statement: statements.get(signature)!, rows }));
    },
  };
}
