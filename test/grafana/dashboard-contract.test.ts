import jsonata from "jsonata";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import fleetDashboard from "../../grafana/dashboards/fleet.json";
import dashboard from "../../grafana/dashboards/town-reconciler.json";
import alertRules from "../../grafana/provisioning/alerting/town-reconciler.yaml?raw";
import datasources from "../../grafana/provisioning/datasources/town-reconciler.yaml?raw";
import { FLEET_ALERTS } from "../../src/fleet/fleet-alerts";
import { registry } from "../support/fleet";
import { api, createTown, runUntil, sling, TOKENS, type TestTown } from "../support/town";

/**
 * The Grafana contract: every query the dashboards and the alert rules make is called on the Worker,
 * and every selector is evaluated on the answer with JSONata — the language the Infinity datasource's
 * backend parser runs — so a selector that Grafana could not evaluate, or a field renamed, fails here
 * rather than as "no data" on a dashboard or a silent alert rule.
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
  // The fleet's clock at the town's, so its row reads as a live town's.
  await registry.testSetTime(await town.stub.testNow());
});

/** Fills in what Grafana would: the town variable, the time range, the environment of provisioning. */
function resolveUrl(url: string): string {
  return url
    .replace(/\$\$\{/g, "${")
    .replace(/\$\{town\}|\$\{TOWN_ID\}/g, town.townId)
    .replace(/\$\{__from\}/g, String(FROM))
    .replace(/\$\{__to\}/g, String(TO));
}

/** A selector evaluated as Infinity's backend parser evaluates it: JSONata, an empty one meaning the whole document. */
async function select(value: unknown, selector: string): Promise<unknown> {
  if (selector === "") return value;
  return jsonata(selector).evaluate(value);
}

/** Calls a target's route and checks its rows and columns; returns the rows. */
async function checkTarget(target: InfinityTarget, where: string): Promise<unknown[]> {
  expect(target, where).toMatchObject({ type: "json", source: "url", parser: "backend" });
  const url = resolveUrl(target.url);
  expect(url, `${where}: unresolved variable`).not.toMatch(/\$\{/);
  const response = await api("GET", url, { token: TOKENS.read });
  expect(response.status, `${where}: GET ${url}`).toBe(200);
  const root = await select(response.body, target.root_selector);
  const rows = Array.isArray(root) ? root : [root];
  expect(rows.length, `${where}: no rows at "${target.root_selector}"`).toBeGreaterThan(0);
  for (const column of target.columns) {
    for (const row of rows) {
      const value = await select(row, column.selector);
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
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana expands ${…} from the environment in provisioning files
      secureJsonData: { httpHeaderValue1: "Bearer ${TOWN_RECONCILER_READ_TOKEN}" },
    });
  });

  it("has one fleet-wide alert rule per alert condition: a town column and one number from the fleet status, thresholded", async () => {
    expect(alertRules).not.toContain("TOWN_ID");
    const parsed = parse(alertRules);
    expect(parsed.apiVersion).toBe(1);
    const rules = parsed.groups.flatMap((g: any) => g.rules);
    expect(rules.map((rule: any) => rule.uid).sort()).toEqual(FLEET_ALERTS.map((alert) => `tr-fleet-${alert.id.toLowerCase()}`).sort());
    for (const alert of FLEET_ALERTS) {
      const rule = rules.find((r: any) => r.uid === `tr-fleet-${alert.id.toLowerCase()}`);
      const where = `alert "${rule.title}"`;
      expect(rule.condition, where).toBe("C");
      expect(rule.annotations.runbook_url, where).toBe(`docs/runbooks/${alert.runbook}`);
      const [a, c, ...more] = rule.data;
      expect(more, where).toEqual([]);
      expect(a.datasourceUid, where).toBe("town-reconciler");
      // One string column (each town its own alert instance) and one number: the condition's field.
      expect(a.model.columns, where).toEqual([
        { selector: "town", text: "town", type: "string" },
        { selector: alert.field, text: alert.field, type: "number" },
      ]);
      expect(a.model).toMatchObject({ url: "/api/fleet/status", root_selector: "towns", format: "table" });
      expect(c.model, where).toMatchObject({ type: "threshold", expression: "A", conditions: [{ evaluator: { type: "gt", params: [alert.above] } }] });
      const rows = await checkTarget(a.model as InfinityTarget, where);
      expect(rows, where).toContainEqual(expect.objectContaining({ town: town.townId }));
    }
  });
});

describe("the fleet dashboard", () => {
  it("queries real routes and real fields in every panel", async () => {
    expect(fleetDashboard.schemaVersion).toBe(42);
    for (const panel of fleetDashboard.panels) for (const target of panel.targets) await checkTarget(target as InfinityTarget, `fleet panel "${panel.title}"`);
  });

  it("lists every town worst first, with a column for every alert condition, each town linking to its own dashboard", async () => {
    const table = fleetDashboard.panels.find((p) => p.type === "table")!;
    expect(table.options).toMatchObject({ sortBy: [{ displayName: "problems", desc: true }] });
    const columns = table.targets[0]!.columns.map((c) => c.selector);
    for (const alert of FLEET_ALERTS) expect(columns, alert.field).toContain(alert.field);
    expect(columns).toContain("problems");
    // The route itself answers worst first, so the table is right even before Grafana sorts it.
    const rows = (await api("GET", "/api/fleet/status", { token: TOKENS.read })).body.towns;
    expect(rows.map((r: any) => r.problems)).toEqual([...rows.map((r: any) => r.problems)].sort((x: number, y: number) => y - x));
    // A town's name opens the per-town dashboard with its `town` variable set.
    const townColumn = table.fieldConfig.overrides.find((o: any) => o.matcher.options === "town")!;
    const link = (townColumn.properties.find((p: any) => p.id === "links")!.value as Array<{ url: string }>)[0]!.url;
    expect(link).toMatch(new RegExp(`^/d/${dashboard.uid}/[a-z-]+\\?var-town=\\$\\{__value\\.raw\\}`));
    expect(dashboard.templating.list.map((v) => v.name)).toContain("town");
  });
});
