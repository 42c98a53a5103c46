import { describe, expect, it } from "vitest";
import { bead, createTown, runUntil, sling, status } from "../support/town";

describe("a town's work from sling to merge", () => {
  it("takes three beads through dispatch, completion, review and merge to closed", async () => {
    // A town whose simulated agents take 2 s per task.
    const town = await createTown({ simulation: { workMs: 2_000 } });
    for (const id of ["b1", "b2", "b3"]) await sling(town, { id, title: `Task ${id}` });

    // Let the alarms run: polecats take the work, report done, the refinery merges one MR at a time.
    await runUntil(town, (s) => s.beads.closed === 6, 60);

    const final = await status(town);
    expect(final.beads).toEqual({ open: 0, in_progress: 0, in_review: 0, closed: 6, failed: 0 });
    expect(final.beadsByType).toEqual({ issue: 3, merge_request: 3, convoy: 0 });
    expect(final.agents.working + final.agents.stalled).toBe(0);
    expect(final.queue).toEqual({ pending: 0, oldestPendingAgeMs: null, dead: 0 });
    for (const id of ["b1", "b2", "b3"]) {
      const details = await bead(town, id);
      expect(details.bead.status).toBe("closed");
      expect(details.mergeRequests).toEqual([expect.objectContaining({ status: "closed", merged: true })]);
    }
  });
});
