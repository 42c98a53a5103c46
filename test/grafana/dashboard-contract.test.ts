import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import dashboard from "../../grafana/dashboards/town-reconciler.json";
import alertRules from "../../grafana/provisioning/alerting/town-reconciler.yaml?raw";
import datasources from "../../grafana/provisioning/datasources/town-reconciler.yaml?raw";
import { api, createTown, runUntil, sling, TOKENS, type TestTown } from "../support/town";

/**
 * The Grafana contract: every query the dashboard and the alert rules make is called on the Worker,
 * and every field they select must exist with the type they declare — so the dashboard never shows
 * "no data" because a field was renamed.
 */

interface InfinityTarget {
  type: string;
  source: string;
  parser: string;
  url: string;
  root_selector: string;
  columns: Array<{ selector: string; text: string; type: string }>;
}

let town: TestTown;
const FROM = Date.UTC(2099, 0, 1);
const TO = Date.UTC(2101, 0, 1);

beforeAll(async () => {
  town = await createTown({ simulation: { workMs: 2_000 } });
  await sling(town, { id: "b1", title: "Work" });
  await runUntil(town, (s) => s.beads.closed === 2, 30);
});

/** Fills in what Grafana would: the town variable, the time range, the environment of provisioning. */
function resolveUrl(url: string): string {
  return url
    .replace(/\$\$\{/g, "${")
    .replace(/\$\{town\}|\$\{TOWN_ID\}/g, town.townId)
    .replace(/\$\{__from\}/g, String(FROM))
    .replace(/\$\{__to\}/g, String(TO));
}

function select(value: unknown, path: string): unknown {
  if (path === "") return value;
  return path.split(".").reduce<unknown>((v, key) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined), value);
}

/** Calls a target's route and checks its rows and columns; returns the rows. */
async function checkTarget(target: InfinityTarget, where: string): Promise<unknown[]> {
  expect(target, where).toMatchObject({ type: "json", source: "url", parser: "backend" });
  const url = resolveUrl(target.url);
  expect(url, `${where}: unresolved variable`).not.toMatch(/\$\{/);
  const response = await api("GET", url, { token: TOKENS.read });
  expect(response.status, `${where}: GET ${url}`).toBe(200);
  const root = select(response.body, target.root_selector);
  const rows = Array.isArray(root) ? root : [root];
  expect(rows.length, `${where}: no rows at "${target.root_selector}"`).toBeGreaterThan(0);
  for (const column of target.columns) {
    for (const row of rows) {
      const value = select(row, column.selector);
      const expected = column.type === "string" ? "string" : "number";
      expect(typeof value, `${where}: ${column.selector} (${column.type})`).toBe(expected);
      if (column.type === "timestamp_epoch") expect(value as number, `${where}: ${column.selector} is epoch ms`).toBeGreaterThan(1e12);
    }
  }
  return rows;
}

describe("the Grafana dashboard", () => {
  it("is a current dashboard on the Infinity datasource with the panels operators need", () => {
    expect(dashboard.schemaVersion).toBe(42);
    const titles = dashboard.panels.map((p) => `${p.type}: ${p.title}`);
    expect(titles).toEqual(
      expect.arrayContaining([
        "timeseries: Events drained per tick",
        "timeseries: Actions emitted per tick, by type",
        "timeseries: Side effects: attempted, succeeded, failed",
        "stat: Invariant violations open",
        "timeseries: Reconciler wall clock (ms)",
        "gauge: Pending event queue depth",
      ]),
    );
    const byTitle = new Map(dashboard.panels.map((p) => [p.title, p]));
    expect(byTitle.get("Actions emitted per tick, by type")!.fieldConfig.defaults.custom).toMatchObject({ drawStyle: "bars", stacking: { mode: "normal" } });
    expect(byTitle.get("Invariant violations open")!.fieldConfig.defaults.thresholds!.steps.at(-1)).toMatchObject({ value: 1 });
    expect(byTitle.get("Reconciler wall clock (ms)")!.fieldConfig.defaults.thresholds!.steps.at(-1)).toMatchObject({ value: 500 });
    expect(byTitle.get("Pending event queue depth")!.fieldConfig.defaults.thresholds!.steps.at(-1)).toMatchObject({ value: 50 });
  });

  it("fills its town variable from the list-towns route", async () => {
    const variable = dashboard.templating.list.find((v) => v.name === "town")!;
    const rows = await checkTarget(variable.query.infinityQuery as InfinityTarget, "variable town");
    expect(rows).toContainEqual(expect.objectContaining({ id: town.townId }));
  });

  it("queries real routes and real fields in every panel", async () => {
    let checked = 0;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        await checkTarget(target as InfinityTarget, `panel "${panel.title}"`);
        checked += 1;
      }
    }
    expect(checked).toBe(dashboard.panels.length);
  });
});

describe("the Grafana provisioning", () => {
  it("declares the Infinity datasource the dashboard uses, with the read token", () => {
    const parsed = parse(datasources);
    expect(parsed.datasources[0]).toMatchObject({
      uid: dashboard.panels[0]!.datasource.uid,
      type: "yesoreyeram-infinity-datasource",
      jsonData: { httpHeaderName1: "Authorization" },
      secureJsonData: { httpHeaderValue1: "Bearer ${TOWN_RECONCILER_READ_TOKEN}" },
    });
  });

  it("has alert rules that parse, query real fields, and reduce and threshold them", async () => {
    const parsed = parse(alertRules);
    expect(parsed.apiVersion).toBe(1);
    const rules = parsed.groups.flatMap((g: any) => g.rules);
    const thresholds = Object.fromEntries(
      rules.map((rule: any) => {
        const [a, b, c] = rule.data;
        expect(rule.condition).toBe("C");
        expect(a.datasourceUid).toBe("town-reconciler");
        expect(b.model).toMatchObject({ type: "reduce", expression: "A" });
        expect(c.model).toMatchObject({ type: "threshold", expression: "B" });
        return [a.model.columns[0].selector, c.model.conditions[0].evaluator.params[0]];
      }),
    );
    expect(thresholds).toEqual({ "violations.open": 0, durationMs: 500, "queue.pending": 50, "queue.dead": 0, "breaker.open": 0 });
    // Each rule queries the same field a dashboard panel shows, and that field is real.
    const dashboardSelectors = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.columns.map((c) => c.selector))));
    for (const rule of rules) {
      const query = rule.data[0].model as InfinityTarget;
      expect(dashboardSelectors.has(query.columns[0]!.selector), query.columns[0]!.selector).toBe(true);
      await checkTarget(query, `alert "${rule.title}"`);
    }
  });
});
