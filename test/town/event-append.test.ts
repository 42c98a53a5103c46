import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import bundle from "../../migrations/migrations.js";
import { EventStore, type NewEvent } from "../../src/db/event-store";
import { migrate } from "../../src/db/migrate";
import { townStub } from "../support/town";

/**
 * The log's append writes a run of plain events as one statement (their rows as one JSON value) and
 * any other event with bound values: either way each row holds exactly what was given, in the batch's
 * order, an id already in the log is skipped without using up a seq, and the totals count what the
 * rows weigh.
 */

const event = (eventId: string, over: Partial<NewEvent> = {}): NewEvent => ({
  eventId,
  type: "container_status",
  agentId: "rig-0:polecat:0",
  beadId: null,
  payload: '{"generation":1,"status":"running"}',
  createdAt: 1_700_000_000_123,
  ...over,
});

/** Texts JSON must carry to SQLite unchanged: quotes, escapes, control characters, other scripts, pairs of surrogates. */
const ODD_TEXTS = [
  '"quoted"',
  "back\\slash",
  "line\nbreak\ttab\u0001\u001f",
  "ünïcødé 漢字 ﷽",
  "emoji 🏳️‍🌈 𝄞",
  "'single' -- ; DROP",
  "  spaced  ",
  '{"json":[1,2]}',
];

describe("the event log's append", () => {
  it("stores each row as a binding would, in the batch's order, a lone surrogate and a NUL included", async () => {
    const found = await runInDurableObject(townStub("event-append-exact"), (_i, state) => {
      migrate(state.storage, bundle);
      const events = new EventStore(state.storage.sql);
      const sql = state.storage.sql;
      events.append([event("already-1"), event("already-2")], null);
      const batch: NewEvent[] = [];
      for (let i = 0; i < 2_600; i++) {
        const odd = ODD_TEXTS[i % ODD_TEXTS.length]!;
        batch.push(
          event(`e-${i}-${odd}`, {
            type: i % 5 === 0 ? "agent_done" : "container_status",
            agentId: i % 7 === 0 ? null : `agent-${i % 3}`,
            beadId: i % 11 === 0 ? `bead-${i}` : null,
            payload: JSON.stringify({ generation: i, summary: odd }),
            createdAt: 1_700_000_000_000 + i,
          }),
        );
        // Now and then texts JSON escapes unlike a binding (a lone surrogate, a NUL), one already in the
        // log, a payload large enough to end a chunk.
        if (i === 40) batch.push(event("lone \ud800 surrogate"), event("nul \u0000 in it"), event("already-1"));
        if (i === 1_200) batch.push(event("large", { payload: JSON.stringify({ summary: "x".repeat(300_000) }) }));
      }
      const inserted = events.append(batch, null, "own");
      const rows = sql
        .exec<{
          seq: number;
          event_id: string;
          type: string;
          agent_id: string | null;
          bead_id: string | null;
          payload: string;
          created_at: number;
          status: string;
          lane: string | null;
          processed_at: number | null;
          attempts: number;
        }>(
          "SELECT seq, event_id, type, agent_id, bead_id, payload, created_at, status, lane, processed_at, attempts FROM town_events WHERE event_id NOT LIKE 'already-%' ORDER BY seq",
        )
        .toArray();
      const bound = (text: string) => sql.exec<{ v: string }>("SELECT ? AS v", text).one().v;
      const before = events.totals();
      return { batch, inserted, rows, totals: before, recounted: events.recountTotals(), lone: bound("lone \ud800 surrogate"), nul: bound("nul \u0000 in it") };
    });
    const expected = found.batch.filter((e) => e.eventId !== "already-1");
    expect(found.rows).toHaveLength(expected.length);
    const seqs = found.rows.map((r) => r.seq);
    // Consecutive from the two already there: the skipped repeat used up no seq.
    expect(seqs).toEqual(expected.map((_e, i) => 3 + i));
    found.rows.forEach((row, i) => {
      const e = expected[i]!;
      const id = e.eventId === "lone \ud800 surrogate" ? found.lone : e.eventId === "nul \u0000 in it" ? found.nul : e.eventId;
      expect(row).toEqual({
        seq: 3 + i,
        event_id: id,
        type: e.type,
        agent_id: e.agentId,
        bead_id: e.beadId,
        payload: e.payload,
        created_at: e.createdAt,
        status: "pending",
        lane: "own",
        processed_at: null,
        attempts: 0,
      });
    });
    expect(found.inserted.map((r) => r.seq)).toEqual(seqs);
    expect(found.totals).toEqual(found.recounted);
    expect(found.totals.pending).toBe(expected.length + 2);
  });

  it("skips an id already in the log, or given twice in one batch, and marks commands processed", async () => {
    const found = await runInDurableObject(townStub("event-append-repeats"), (_i, state) => {
      migrate(state.storage, bundle);
      const events = new EventStore(state.storage.sql);
      const first = events.append([event("a"), event("b")], 5);
      const second = events.append([event("b"), event("c"), event("c"), event("d")], 5);
      const rows = state.storage.sql
        .exec<{ seq: number; event_id: string; status: string; processed_at: number }>(
          "SELECT seq, event_id, status, processed_at FROM town_events ORDER BY seq",
        )
        .toArray();
      return { first, second, rows, totals: events.totals(), recounted: events.recountTotals() };
    });
    expect(found.first).toEqual([
      { seq: 1, eventId: "a" },
      { seq: 2, eventId: "b" },
    ]);
    expect(found.second).toEqual([
      { seq: 3, eventId: "c" },
      { seq: 4, eventId: "d" },
    ]);
    expect(found.rows.map((r) => [r.seq, r.event_id, r.status, r.processed_at])).toEqual([
      [1, "a", "processed", 5],
      [2, "b", "processed", 5],
      [3, "c", "processed", 5],
      [4, "d", "processed", 5],
    ]);
    expect(found.totals).toEqual(found.recounted);
  });
});
