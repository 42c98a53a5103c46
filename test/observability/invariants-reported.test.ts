import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { agentRow, beadRow, eventRow, seed } from "../support/seed";
import { SWEEP_BUCKETS } from "../../src/domain/work-index";
import { advance, createTown, status, tick, tickUntilFound, type TestTown } from "../support/town";

const sentryUrl = inject("sentryUrl");
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, coldStartGraceMs: 86_400_000, idleAlarmMs: 3_600_000 };

async function sentryEvents(town: TestTown): Promise<any[]> {
  return (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json();
}

/**
 * Each invariant: a violating state built row by row (outside any tick, as a bug or a hand edit would),
 * found by the rolling sweep within its bound of SWEEP_BUCKETS ticks.
 */
const CASES: Array<{ invariant: number; rows: string[]; repaired: boolean }> = [
  { invariant: 1, rows: [agentRow("ghost", { status: "dead", hook: "missing" })], repaired: true },
  {
    invariant: 2,
    rows: [
      beadRow("b1", { status: "in_progress", assignee: "a1" }),
      agentRow("a1", { hook: "b1" }),
      agentRow("a2", { hook: "b1", dispatchedAt: "4102444900000" }),
    ],
    repaired: false,
  },
  {
    invariant: 3,
    rows: [
      beadRow("m1", { type: "merge_request", status: "in_progress", assignee: "r1", source: "x" }),
      beadRow("m2", { type: "merge_request", status: "in_progress", assignee: "r2", source: "y" }),
      agentRow("r1", { role: "refinery", hook: "m1" }),
      agentRow("r2", { role: "refinery", hook: "m2" }),
    ],
    repaired: false,
  },
  { invariant: 4, rows: [beadRow("b1", { status: "in_review" })], repaired: true },
  { invariant: 5, rows: [beadRow("c1", { type: "convoy", status: "in_progress", rigId: null })], repaired: false },
  {
    invariant: 6,
    rows: [
      beadRow("b1", { status: "in_progress", assignee: "a1" }),
      agentRow("a1", { hook: "b1" }),
      agentRow("a2", { hook: "b1", dispatchedAt: "4102444900000" }),
    ],
    repaired: true,
  },
  { invariant: 7, rows: [agentRow("a1", { hook: null })], repaired: true },
  { invariant: 8, rows: [eventRow("old", { createdAt: "4102443000000" })], repaired: false },
  { invariant: 9, rows: [eventRow("dead", { status: "dead" })], repaired: false },
  { invariant: 10, rows: [beadRow("b1", { status: "in_progress", assignee: "someone" }), agentRow("a1", { hook: "b1" })], repaired: false },
];

describe.each(CASES)("invariant $invariant", ({ invariant, rows, repaired }) => {
  it(`is detected${repaired ? ", repaired" : ""} and reported to Sentry`, async () => {
    const town = await createTown(SILENT);
    await seed(town, rows);
    const after = await tickUntilFound(town, (s) => s.violations.list.some((v: any) => v.invariant === invariant) || s.lastTick.repairs > 0, SWEEP_BUCKETS);
    const mine = after.violations.list.filter((v: any) => v.invariant === invariant);
    if (repaired) {
      // Repaired in the tick that found it: counted as a repair, and gone by the next tick.
      expect(after.lastTick.repairs).toBeGreaterThan(0);
      expect(after.totals.repairs).toBeGreaterThan(0);
      await advance(town, 1_000);
      await tick(town);
      expect((await status(town)).violations.list.filter((v: any) => v.invariant === invariant)).toEqual([]);
    } else {
      expect(mine).toEqual([expect.objectContaining({ invariant, message: expect.any(String) })]);
    }
    expect(after.totals.violations).toBeGreaterThanOrEqual(1);

    const reported = (await sentryEvents(town)).filter((e) => e.tags.alert === "violation_started" && e.tags.invariant === String(invariant));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({
      town: town.townId,
      level: "error",
      fingerprint: [`invariant:${invariant}`, town.townId],
      tags: { town: town.townId, tick: String(after.lastTick.id), invariant: String(invariant) },
      message: expect.stringContaining(`Invariant ${invariant} violated`),
    });
    expect(reported[0].contexts.town).toMatchObject({
      townId: town.townId,
      tickId: after.lastTick.id,
      invariant,
      key: expect.stringMatching(new RegExp(`^${invariant}:`)),
    });
    if (repaired) {
      const resolved = (await sentryEvents(town)).filter((e) => e.tags.alert === "violation_resolved" && e.tags.invariant === String(invariant));
      expect(resolved).toHaveLength(1);
    }
  });
});
