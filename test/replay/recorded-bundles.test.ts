import { describe, expect, it } from "vitest";
import { BundleHistory } from "../../src/replay/bundle-history";
import { readBundle } from "../../src/replay/bundle-reader";
import { divergenceText } from "../../src/replay/report-text";
import { replayHistory } from "../../src/replay/replay";
import { WorkBudget } from "../../src/replay/work-budget";
import { bundleText, RECORDED } from "./recorded";

/**
 * The recorded bundles (npm run record-bundles) replayed with this checkout's code: a change that
 * alters a decision the recorded towns made fails here, with the ticks it changes.
 */
const ACCEPT =
  'If the change is deliberate: `npm run record-bundles`, then review the diff of test/replay/bundles in the commit (docs/replay.md, "Recorded bundles in CI").';

describe.each(RECORDED)("the recorded bundle %s", (name) => {
  it("replays with this build exactly as it was recorded", async () => {
    const bundle = await readBundle(bundleText(name));
    const report = replayHistory(new BundleHistory(bundle), bundle.window.from, { shown: Number.POSITIVE_INFINITY });
    const diff = report.divergence.shown.map(divergenceText).join("\n\n");
    expect(report.divergence.ticks, `${report.divergence.ticks} tick(s) of ${name} decide differently with this build:\n\n${diff}\n\n${ACCEPT}\n`).toBe(0);
    expect(report.ticksInWindow).toBeGreaterThan(0);
  });
});

describe("the recorded bundles", () => {
  it("are the scenarios they say: the demo, the scripted failures, a window over the archive", async () => {
    expect(RECORDED).toEqual(["archive", "demo", "failures"]);
    const actions = (text: string) => (JSON.parse(text).ticks as Array<{ actions: Array<{ rule: string }> }>).flatMap((t) => t.actions.map((a) => a.rule));
    // The demo: a container that died and was released, a convoy closed, work dispatched and merged.
    expect(actions(bundleText("demo"))).toEqual(
      expect.arrayContaining(["agents.recoverLostContainer", "convoys.close", "beads.dispatch", "review.closeMergedSource"]),
    );
    // The scripted failures: a silent hang stopped after the stall timeout, a lost container released.
    expect(actions(bundleText("failures"))).toEqual(expect.arrayContaining(["agents.detectStall", "agents.stopStalled", "agents.recoverLostContainer"]));
    // The archive window: a blocker that left the working set before the snapshot, and a dead letter retried then discarded.
    const archive = JSON.parse(bundleText("archive"));
    expect(archive.snapshot.state.beads.map((b: { id: string }) => b.id)).not.toContain("old");
    expect(archive.archive.beads.map((b: { id: string }) => b.id)).toContain("old");
    expect(archive.events.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining(["bead_created", "dead_letter_retried", "dead_letter_discarded"]),
    );
  });

  it("stop a replay that does more work than its budget, naming the limit", async () => {
    const bundle = await readBundle(bundleText("demo"));
    expect(() => replayHistory(new BundleHistory(bundle), bundle.window.from, { budget: new WorkBudget(40) })).toThrow(/units of work; the limit is 40 /);
    expect(() => replayHistory(new BundleHistory(bundle), bundle.window.from, { budget: new WorkBudget(10_000) })).not.toThrow();
  });
});
