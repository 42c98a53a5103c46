import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RULES } from "../../src/domain/reconcile";
import type { Plan } from "../../src/domain/plan";
import * as beads from "../../src/domain/rules/beads";
import { scriptedTown } from "../support/scenarios";
import { api, TOKENS, type TestTown } from "../support/town";

const replay = (town: TestTown, from: number, to: number) =>
  api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
    token: TOKENS.debug,
    body: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
  });

describe("replay", () => {
  it("is faithful: any window reproduces the state that was live at its end, with zero divergence", async () => {
    const { town, checkpoints } = await scriptedTown();
    expect(checkpoints.length).toBeGreaterThan(50);
    // The scenario did what it says: failures, a lost container, several snapshots.
    const facts = await runInDurableObject(town.stub, (_instance, state) => ({
      snapshots: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM snapshots").one().n,
      failures: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE type = 'agent_completed'").one().n,
      released: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ticks WHERE actions LIKE '%release_agent%'").one().n,
      stalled: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ticks WHERE actions LIKE '%agents.stopStalled%'").one().n,
    }));
    expect(facts.snapshots).toBeGreaterThanOrEqual(5);
    expect(facts.failures).toBeGreaterThan(0);
    expect(facts.released).toBe(1);
    expect(facts.stalled).toBe(1);
    const start = checkpoints[0]!.at;
    // Windows of several sizes, starting before, at and between snapshots.
    const ends = [5, 17, 33, checkpoints.length - 20, checkpoints.length - 1].map((i) => checkpoints[Math.min(i, checkpoints.length - 1)]!);
    for (const end of ends) {
      for (const from of [start, end.at - 7 * 60_000, end.at - 60_000]) {
        const window = { from: Math.max(start, from), to: end.at };
        const response = await replay(town, window.from, window.to);
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.divergence, `window ${window.from}..${window.to}`).toEqual({ ticks: 0, shown: [] });
        expect(response.body.state, `window ending ${window.to}`).toEqual(end.summary);
        expect(response.body.ticksInWindow).toBeGreaterThan(0);
      }
    }
  }, 120_000);

  it("reports the ticks that diverge after a deliberate change to a rule", async () => {
    const { town, checkpoints } = await scriptedTown();
    const rules = RULES as Array<(plan: Plan) => void>;
    const index = rules.indexOf(beads.dispatch);
    const original = rules[index]!;
    // The changed rule never dispatches more than one bead per pass.
    rules[index] = (plan) => {
      plan.dispatchBudget = Math.min(plan.dispatchBudget, 1);
      original(plan);
    };
    try {
      const response = await replay(town, checkpoints[0]!.at, checkpoints.at(-1)!.at);
      expect(response.status).toBe(200);
      expect(response.body.divergence.ticks).toBeGreaterThan(0);
      const first = response.body.divergence.shown[0];
      expect(first).toMatchObject({ tickId: expect.any(Number), at: expect.any(Number) });
      expect(first.replayed).not.toEqual(first.recorded);
    } finally {
      rules[index] = original;
    }
    // Put back, the same replay agrees with history again.
    expect((await replay(town, checkpoints[0]!.at, checkpoints.at(-1)!.at)).body.divergence.ticks).toBe(0);
  }, 120_000);
});
