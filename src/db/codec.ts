import { getTableColumns, getTableName, type Column, type InferSelectModel, type Table } from "drizzle-orm";

/**
 * Reading rows with the Durable Object SQL API's raw arrays (far cheaper than objects for thousands of
 * rows), decoded through the drizzle schema's own columns: the column list and the decoding come from
 * the same declaration, so a select can never be read back in the wrong order, and JSON and boolean
 * columns are decoded the way drizzle writes them.
 */
export interface RowCodec<Row> {
  /** The table's name, quoted. */
  readonly table: string;
  /** The selected columns, quoted, in the order `decode` reads them: `"id", "rig_id", …`. */
  readonly columns: string;
  decode(raw: readonly SqlStorageValue[]): Row;
}

type ColumnKey<T extends Table> = keyof T["_"]["columns"] & string;

export function rowCodec<T extends Table, K extends ColumnKey<T>>(table: T, keys: readonly K[]): RowCodec<Pick<InferSelectModel<T>, K>> {
  const all = getTableColumns(table) as Record<string, Column>;
  const columns = keys.map((key) => {
    const column = all[key];
    if (!column) throw new Error(`${getTableName(table)} has no column ${key}`);
    return column;
  });
  // Plain integers and text are read as they are; only columns with a mode (json, boolean) need mapping.
  const mapped = columns.map((column) => column.columnType !== "SQLiteInteger" && column.columnType !== "SQLiteText" && column.columnType !== "SQLiteReal");
  return {
    table: `"${getTableName(table)}"`,
    columns: columns.map((column) => `"${column.name}"`).join(", "),
    decode(raw) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const value = raw[i] ?? null;
        row[keys[i]!] = value === null || !mapped[i] ? value : columns[i]!.mapFromDriverValue(value);
      }
      return row as Pick<InferSelectModel<T>, K>;
    },
  };
}

/** Every column of a table, in declaration order. */
export function allColumns<T extends Table>(table: T): Array<ColumnKey<T>> {
  return Object.keys(getTableColumns(table)) as Array<ColumnKey<T>>;
}
