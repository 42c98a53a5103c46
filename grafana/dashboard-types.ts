/**
 * What a dashboard of grafana/dashboards/ must be: a Grafana dashboard as Grafana's own schema
 * (`@grafana/schema`) describes it, whose queries are the Infinity datasource's JSON queries with the
 * backend parser (the one that supports alerting). `npm run typecheck` holds every dashboard to it
 * (scripts/check-dashboards.ts).
 */
import type { Dashboard, DataQuery, Panel, VariableModel } from "@grafana/schema";

/** The Infinity datasource of grafana/provisioning/datasources. */
export interface InfinityDatasource {
  readonly type: "yesoreyeram-infinity-datasource";
  readonly uid: string;
}

/** An Infinity query: JSON from a URL of the Worker, parsed by the backend parser into columns. */
export interface InfinityQuery extends DataQuery {
  datasource?: InfinityDatasource;
  type: "json";
  source: "url";
  parser: "backend";
  url: string;
  url_options?: { method: "GET" | "POST"; data?: string };
  root_selector: string;
  columns: Array<{ selector: string; text: string; type: "string" | "number" | "timestamp" | "timestamp_epoch" | "timestamp_epoch_s" | "boolean" }>;
  format: "table" | "timeseries" | "dataframe" | "as-is";
}

/**
 * A type as JSON spells it: Grafana's schema declares its string choices as TypeScript enums, which a
 * string in a JSON file can never be; here each enum is the union of its values (`${ThresholdsMode}` is
 * `"absolute" | "percentage"`), and everything else is as the schema has it.
 */
export type AsJson<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<AsJson<U>>
      : T extends object
        ? { [K in keyof T]: AsJson<T[K]> }
        : T;

type InfinityPanel = Omit<Panel, "targets" | "datasource"> & { datasource?: InfinityDatasource; targets?: InfinityQuery[] };
type InfinityVariable = Omit<VariableModel, "datasource" | "query"> & {
  datasource?: InfinityDatasource;
  /** The query as the variable editor shows it: Grafana writes it for query variables, its schema leaves it out. */
  definition?: string;
  query?: string | { refId: string; queryType: "infinity"; infinityQuery: InfinityQuery };
};

/** A dashboard of this project, as its JSON file holds it. */
export type TownDashboard = AsJson<Omit<Dashboard, "panels" | "templating"> & { panels: InfinityPanel[]; templating?: { list?: InfinityVariable[] } }>;
