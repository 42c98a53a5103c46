import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { stallDeadline } from "../../src/domain/deadlines";
import { iso, seconds } from "../../src/domain/format";
import type { Plan } from "../../src/domain/plan";
import { RULES } from "../../src/domain/reconcile";
import { stopStalled } from "../../src/domain/rules/agents";
import { BundleHistory } from "../../src/replay/bundle-history";
import { readBundle } from "../../src/replay/bundle-reader";
import { replayReportText } from "../../src/replay/report-text";
import { replayHistory } from "../../src/replay/replay";
import { bundleText } from "./recorded";

/**
 * docs/replay.md shows what `npm run replay` prints for the recorded `failures` bundle with one change
 * made to a rule: a stalled agent stopped a minute later. This makes that change (in this process
 * only) and holds the sample to what the replay prints, all but the seconds it took.
 */
const rules = RULES as Array<(plan: Plan) => void>;
const original = [...rules];
afterEach(() => rules.splice(0, rules.length, ...original));

/** `stopStalled` as the page says to change it: `stallDeadline(agent, config) + 60_000`. */
function stopStalledAMinuteLater(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of plan.agentsWith("stalled")) {
    if (now < stallDeadline(agent, config) + 60_000 || !plan.claimAgent(agent.id)) continue;
    plan.emit("agents.stopStalled", `stalled since ${iso(agent.statusSince)}, over the ${seconds(config.stallTimeoutMs)} stall timeout`, {
      type: "stop_agent",
      agentId: agent.id,
      from: "stalled",
      generation: agent.generation,
    });
  }
}

/** The sample of the page: the ```text replay-sample block, without its command line. */
function sample(): string {
  const page = readFileSync("docs/replay.md", "utf8");
  const block = /```text replay-sample\n([\s\S]*?)\n```/.exec(page);
  if (!block) throw new Error("docs/replay.md has no ```text replay-sample block");
  const [command, ...output] = block[1]!.split("\n");
  expect(command).toBe("$ npm run -s replay -- test/replay/bundles/failures.json");
  return output.join("\n");
}

const withoutTime = (text: string) => text.replace(/ in \d+\.\d\d s\.$/, " in … s.");

describe("the replay sample of docs/replay.md", () => {
  it("is what npm run replay prints for the failures bundle with stalled agents stopped a minute later", async () => {
    rules[rules.indexOf(stopStalled)] = stopStalledAMinuteLater;
    const bundle = await readBundle(bundleText("failures"));
    const report = replayHistory(new BundleHistory(bundle), bundle.window.from, { shown: Number.POSITIVE_INFINITY });
    const printed = replayReportText(bundle, report, 0);
    expect(report.divergence.ticks, "the change diverges").toBeGreaterThan(0);
    // On a mismatch, the message is the text to paste into the page (with its real time).
    expect(withoutTime(sample()), `docs/replay.md should show:\n\n${printed}\n`).toBe(withoutTime(printed));
  });
});
