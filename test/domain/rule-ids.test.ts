import { describe, expect, it } from "vitest";
import { RULE_IDS } from "../../src/domain/actions";
import { RULES } from "../../src/domain/reconcile";
import * as agents from "../../src/domain/rules/agents";
import * as beads from "../../src/domain/rules/beads";
import * as breaker from "../../src/domain/rules/breaker";
import * as budget from "../../src/domain/rules/budget";
import * as convoys from "../../src/domain/rules/convoys";
import * as review from "../../src/domain/rules/review";

const MODULES: Record<string, Record<string, unknown>> = { agents, beads, budget, convoys, review };

describe("rule ids", () => {
  it("name where the rule lives: `group.name` is the function `name` of rules/group.ts, and it runs", () => {
    for (const id of RULE_IDS) {
      const [group, name] = id.split(".") as [string, string];
      // The breaker is one state machine; its rules are its transitions.
      const rule = group === "breaker" ? breaker.transition : MODULES[group]?.[name];
      expect(rule, `${id}: a function ${name} in src/domain/rules/${group}.ts`).toBeTypeOf("function");
      expect(RULES, `${id} is in RULES`).toContain(rule);
    }
  });

  it("leave no rule without an id", () => {
    const named = new Set(RULE_IDS.map((id) => (id.startsWith("breaker.") ? breaker.transition : MODULES[id.split(".")[0]!]![id.split(".")[1]!])));
    for (const rule of RULES) expect(named.has(rule), `${rule.name} has an id in RULE_IDS`).toBe(true);
  });
});
