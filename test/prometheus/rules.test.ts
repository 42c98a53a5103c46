/**
 * The Prometheus alert rules (grafana/prometheus/): valid for Prometheus's own checker, right by its
 * own unit tests (`promtool test rules`), and the same conditions as the fleet's (src/fleet/fleet-alerts.ts),
 * which the Grafana rules follow too (test/grafana/dashboard-contract.test.ts). Runs in Node.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FLEET_ALERTS } from "../../src/fleet/fleet-alerts";
import { ensurePrometheusTool } from "../support/node/host-tools";

const DIR = fileURLToPath(new URL("../../grafana/prometheus/", import.meta.url));
const promtool = ensurePrometheusTool("promtool");
const run = (...args: string[]) => spawnSync(promtool, args, { cwd: DIR, encoding: "utf8" });

describe("the Prometheus alert rules", () => {
  it("pass promtool check rules", () => {
    const result = run("check", "rules", "town-reconciler.rules.yaml");
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${FLEET_ALERTS.length} rules found`);
  });

  it("pass their unit tests (promtool test rules): each fires for the town past its threshold, after its 2 minutes, and for no other", () => {
    const result = run("test", "rules", "town-reconciler.rules.test.yaml");
    expect(result.status, result.stdout + result.stderr).toBe(0);
    // Every rule is tested.
    const tests = parse(readFileSync(`${DIR}/town-reconciler.rules.test.yaml`, "utf8")).tests as Array<{ alert_rule_test: Array<{ alertname: string }> }>;
    const tested = new Set(tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
    expect([...tested].sort()).toEqual(FLEET_ALERTS.map((a) => `TownReconciler${a.id}`).sort());
  });

  it("are the fleet's alert conditions: one rule each, on its metric and threshold, with its runbook", () => {
    const rules = parse(readFileSync(`${DIR}/town-reconciler.rules.yaml`, "utf8")).groups.flatMap((g: any) => g.rules);
    expect(rules.map((r: any) => r.alert).sort()).toEqual(FLEET_ALERTS.map((a) => `TownReconciler${a.id}`).sort());
    for (const alert of FLEET_ALERTS) {
      const rule = rules.find((r: any) => r.alert === `TownReconciler${alert.id}`);
      expect(rule.expr, alert.id).toContain(alert.metric);
      expect(rule.expr, alert.id).toMatch(new RegExp(`> ${alert.metricAbove.toString().replace(".", "\\.")}$`));
      expect(rule.annotations.runbook_url).toBe(`docs/runbooks/${alert.runbook}`);
      expect(readFileSync(new URL(`../../docs/runbooks/${alert.runbook}`, import.meta.url), "utf8").length).toBeGreaterThan(100);
    }
  });
});
