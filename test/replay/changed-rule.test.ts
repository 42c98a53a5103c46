import { afterEach, describe, expect, it } from "vitest";
import { RULES } from "../../src/domain/reconcile";
import type { Plan } from "../../src/domain/plan";
import { stopStalled } from "../../src/domain/rules/agents";
import * as beads from "../../src/domain/rules/beads";
import { BundleHistory } from "../../src/replay/bundle-history";
import { readBundle } from "../../src/replay/bundle-reader";
import { divergenceText } from "../../src/replay/report-text";
import { replayHistory } from "../../src/replay/replay";
import { bundleText } from "./recorded";

/**
 * A test build: the rules with one of them deliberately changed (the list is the reconciler's own,
 * changed in this process only). Replaying a recorded bundle shows the past decisions it changes.
 */
const rules = RULES as Array<(plan: Plan) => void>;
const original = [...rules];
afterEach(() => rules.splice(0, rules.length, ...original));

function change(rule: (plan: Plan) => void, into: (plan: Plan) => void): void {
  const index = rules.indexOf(rule);
  expect(index).toBeGreaterThanOrEqual(0);
  rules[index] = into;
}

async function replay(name: string) {
  const bundle = await readBundle(bundleText(name));
  return { bundle, report: replayHistory(new BundleHistory(bundle), bundle.window.from, { shown: Number.POSITIVE_INFINITY }) };
}

const recordedRules = (tick: { actions: readonly unknown[] | null }) => (tick.actions ?? []).map((a) => (a as { rule: string }).rule);

describe("replaying a recorded bundle with a deliberately changed rule", () => {
  it("reports the tick whose decision it changes: stalled agents are no longer stopped", async () => {
    change(stopStalled, () => {});
    const { bundle, report } = await replay("failures");
    // The recorded tick that stopped the stalled agent is the first to diverge.
    const stopped = bundle.ticks.find((tick) => recordedRules(tick).includes("agents.stopStalled"))!;
    expect(report.divergence.ticks).toBeGreaterThan(0);
    const first = report.divergence.shown[0]!;
    expect(first).toMatchObject({ tickId: stopped.id, at: stopped.at });
    expect(first.onlyRecorded).toEqual(expect.arrayContaining([expect.objectContaining({ type: "stop_agent", rule: "agents.stopStalled" })]));
    // What an engineer reads: the tick, its time, the action only recorded with its rule.
    const text = divergenceText(first);
    expect(text).toContain(`tick ${stopped.id} at ${new Date(stopped.at).toISOString()}`);
    expect(text).toMatch(/- recorded {2}agents\.stopStalled +stop_agent agentId=/);
  });

  it("shows the replayed decisions with the rule and reason that made them: one dispatch per pass", async () => {
    change(beads.dispatch, (plan) => {
      plan.dispatchBudget = Math.min(plan.dispatchBudget, 1);
      beads.dispatch(plan);
    });
    const { bundle, report } = await replay("demo");
    expect(report.divergence.ticks).toBeGreaterThan(0);
    // Nothing diverges before the first tick that dispatched more than one bead at once.
    const firstBatch = bundle.ticks.find((tick) => recordedRules(tick).filter((rule) => rule === "beads.dispatch").length > 1)!;
    expect(report.divergence.shown[0]!.tickId).toBeGreaterThanOrEqual(firstBatch.id);
    const replayedOnly = report.divergence.shown.flatMap((d) => d.onlyReplayed);
    expect(replayedOnly.length).toBeGreaterThan(0);
    for (const action of replayedOnly) expect(action.reason.length).toBeGreaterThan(5);
    expect(report.divergence.shown.map(divergenceText).join("\n")).toMatch(/\+ replayed {2}\S+ +\w+ .*\n +reason: \S/);
  });

  it("agrees with the recording again once the rule is put back", async () => {
    expect((await replay("demo")).report.divergence.ticks).toBe(0);
    expect((await replay("failures")).report.divergence.ticks).toBe(0);
  });
});
