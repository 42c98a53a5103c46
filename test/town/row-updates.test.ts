/**
 * Many rows updated at once (DESIGN §4.2 persist): known rows' changed columns go as one JSON value a
 * statement (`json_each`), a row with a text JSON would not carry as a binding does goes bound. Either
 * way each row must read back as a binding would have stored it — in the Workers runtime, real SQLite.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BeadId, RigId } from "../../src/domain/ids";
import { newBead } from "../../src/domain/model";
import { inTransaction, persistChanges, type TownRuntime } from "../../src/town/runtime";
import { createTown, status } from "../support/town";

/** Texts JSON must carry as a binding does: quotes, escapes, control characters, other scripts, a lone surrogate, a NUL. */
const TEXTS = [
  '"quoted"',
  "back\\slash",
  "line\nbreak\ttab\u0001",
  "ünïcødé 漢字",
  "emoji 🏳️‍🌈 𝄞",
  "'single' -- ;",
  '{"json":[1]}',
  "lone \ud800 surrogate",
  "nul \u0000 in it",
];
/** More beads than one JSON statement takes (1,000), so the update is split. */
const BEADS = 1_250;

describe("a bulk update of known rows", () => {
  it("stores every changed column as a binding would, through JSON chunks and bound values alike, and loads it back", async () => {
    const town = await createTown();
    const stored = await runInDurableObject(town.stub, (instance, state) => {
      const { runtime } = instance as unknown as { runtime: TownRuntime };
      const now = Date.now();
      const ids = Array.from({ length: BEADS }, (_, i) => `bulk-${i}` as BeadId);
      for (const id of ids) runtime.state.putBead(newBead({ id, rigId: "web" as RigId, type: "issue", title: "first", held: true }, now));
      inTransaction(runtime, () => persistChanges(runtime));
      for (const [i, id] of ids.entries()) {
        const bead = runtime.state.bead(id)!;
        // One row with a large text, to end a chunk early.
        const title = i === 600 ? "x".repeat(300_000) : `${TEXTS[i % TEXTS.length]} ${i}`;
        runtime.state.putBead({
          ...bead,
          title,
          branch: TEXTS[i % TEXTS.length]!,
          priority: i % 4,
          usage: { containerMs: i, dispatches: 1 },
          updatedAt: now + i,
        });
      }
      inTransaction(runtime, () => persistChanges(runtime));
      const bound = (text: string) => state.storage.sql.exec<{ v: string }>("SELECT ? AS v", text).one().v;
      const rows = state.storage.sql
        .exec<{ id: string; title: string; branch: string; priority: number; usage: string; updated_at: number }>(
          "SELECT id, title, branch, priority, usage, updated_at FROM beads WHERE id LIKE 'bulk-%'",
        )
        .toArray();
      const expected = ids.map((id) => {
        const bead = runtime.state.bead(id)!;
        return {
          id,
          title: bound(bead.title),
          branch: bound(bead.branch!),
          priority: bead.priority,
          usage: JSON.stringify(bead.usage),
          updated_at: bead.updatedAt,
        };
      });
      return { rows, expected, now };
    });
    const byId = new Map(stored.rows.map((row) => [row.id, row]));
    expect(stored.rows).toHaveLength(BEADS);
    for (const want of stored.expected) expect(byId.get(want.id), want.id).toEqual(want);
    // A binding replaces a lone surrogate; that row was bound, not sent through JSON.
    expect(byId.get("bulk-7")!.title).toMatch(/^lone \ufffd+ surrogate 7$/);
    expect(byId.get("bulk-8")!.title).toBe(`nul \u0000 in it 8`);
    // Loaded afresh, the working set is what was stored.
    await evictDurableObject(town.stub);
    await status(town);
    const loaded = await runInDurableObject(town.stub, (instance) => {
      const bead = (instance as unknown as { runtime: TownRuntime }).runtime.state.bead("bulk-3" as BeadId)!;
      return [bead.title, bead.branch, bead.usage];
    });
    expect(loaded).toEqual([`${TEXTS[3]} 3`, TEXTS[3], { containerMs: 3, dispatches: 1 }]);
  });
});
