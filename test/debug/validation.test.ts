import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { packSnapshot } from "../../src/db/snapshot-codec";
import { TownStore } from "../../src/db/town-store";
import { REPLAY_LIMITS } from "../../src/replay/replay-window";
import { api, createTown, sling, tick, TOKENS, uniqueTownId, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const replay = (town: TestTown | string, body: unknown, token: string = TOKENS.debug) =>
  api("POST", `/api/towns/${typeof town === "string" ? town : town.townId}/debug/replay-events`, { token, body });

describe("debug route validation", () => {
  it("rejects missing, unparsable and reversed dates (400) and changes nothing", async () => {
    const town = await createTown();
    const before = await town.stub.testDump();
    for (const body of [
      {},
      { from: "2100-01-01T00:00:00Z" },
      { from: "yesterday", to: "2100-01-01T00:00:00Z" },
      { from: "2100-01-02T00:00:00Z", to: "2100-01-01T00:00:00Z" },
      { from: 1, to: 2 },
    ]) {
      const response = await replay(town, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe("invalid_request");
    }
    expect(await town.stub.testDump()).toBe(before);
  });

  it("rejects a window over the limit (413) and one before the retained history (400)", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    const tooLong = await replay(town, { from: new Date(now - REPLAY_LIMITS.maxWindowMs - 1).toISOString(), to: new Date(now).toISOString() });
    expect(tooLong.status).toBe(413);
    expect(tooLong.body.error).toMatchObject({ code: "replay_too_large", message: expect.stringContaining("24 h") });
    // Before the town existed, replay starts at its creation.
    const beforeCreation = await replay(town, { from: new Date(now - 3_600_000).toISOString(), to: new Date(now).toISOString() });
    expect(beforeCreation.status).toBe(200);
    expect(beforeCreation.body.snapshot.tickId).toBe(0);
    // With the creation snapshot pruned, the history before the oldest kept snapshot is gone.
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE snapshots SET tick_id = 1, taken_at = taken_at + 1000");
    });
    const beforeHistory = await replay(town, { from: new Date(now - 3_600_000).toISOString(), to: new Date(now).toISOString() });
    expect(beforeHistory.status).toBe(400);
    expect(beforeHistory.body.error.code).toBe("history_unavailable");
    const future = await replay(town, { from: new Date(now).toISOString(), to: new Date(now + 60_000).toISOString() });
    expect(future.status).toBe(400);
  });

  it("bounds a replay by the bytes it would read and the work it would do (413 naming the limit), before it reads them", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    const window = { from: new Date(now).toISOString(), to: new Date(now).toISOString() };
    expect((await replay(town, window)).status).toBe(200);
    // 40 events of a megabyte each after the snapshot (made in SQLite: the limit reads the sizes stored).
    await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO town_events (event_id, type, payload, created_at, status, attempts) SELECT 'big-' || i, 'rig_added', replace(hex(zeroblob(500000)), '0', 'x'), ?, 'processed', 0 FROM n`,
        now,
      ),
    );
    const bytes = await replay(town, window);
    expect(bytes.status).toBe(413);
    expect(bytes.body.error).toEqual({
      code: "replay_too_large",
      message: expect.stringMatching(/reads more than 16 MiB \(snapshot, events and tick records\); the limit is 16 MiB/),
    });
    expect(REPLAY_LIMITS.maxBytesRead).toBe(16 * 1024 * 1024);

    // Work: ticks that recorded more actions than a replay may decide again.
    const other = await createTown();
    await sling(other, { id: "b1", title: "x" });
    await tick(other);
    await runInDurableObject(other.stub, (_instance, state) => state.storage.sql.exec("UPDATE ticks SET actions_emitted = 600000"));
    const at = new Date(await other.stub.testNow()).toISOString();
    const work = await replay(other, { from: at, to: at });
    expect(work.status).toBe(413);
    expect(work.body.error).toEqual({
      code: "replay_too_large",
      message: expect.stringMatching(/does about 600,00\d units of work \(ticks, events and the actions they recorded\); the limit is 500,000/),
    });
  });

  it("needs the debug token, and answers 404 for an unknown town", async () => {
    const town = await createTown();
    const body = { from: "2100-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" };
    expect((await replay(town, body, TOKENS.read)).status).toBe(403);
    expect((await replay(town, body, "nope")).status).toBe(401);
    expect((await replay(town, body, town.agentToken)).status).toBe(403);
    expect((await replay(uniqueTownId("missing"), body)).status).toBe(404);
    expect((await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.read })).status).toBe(403);
    expect((await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug, body: { surprise: 1 } })).status).toBe(400);
    expect((await api("GET", `/api/towns/${town.townId}/debug/events?status=dead`, { token: TOKENS.read })).status).toBe(403);
  });

  it("rate-limits debug requests per town with 429 and Retry-After, and refills over time", async () => {
    const town = await createTown({ debugRequestsPerMinute: 3 });
    const other = await createTown({ debugRequestsPerMinute: 3 });
    const dryRun = (t: TestTown) => api("POST", `/api/towns/${t.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug });
    for (let i = 0; i < 3; i++) expect((await dryRun(town)).status).toBe(200);
    const limited = await dryRun(town);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBe(20);
    // Another town has its own budget; after the wait, this one answers again.
    expect((await dryRun(other)).status).toBe(200);
    await town.stub.testAdvance(20_000);
    expect((await dryRun(town)).status).toBe(200);
  });

  it("lists dead-lettered events with their errors", async () => {
    const town = await createTown({ maxEventAttempts: 1 });
    await sling(town, { id: "b1", title: "x" });
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts) VALUES ('bad', 'agent_done', 'a', 'nope', 0, 'pending', 0)",
      );
      new TownStore(state.storage).events.recountTotals();
    });
    await tick(town);
    const response = await api("GET", `/api/towns/${town.townId}/debug/events?status=dead`, { token: TOKENS.debug });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: "dead",
      count: 1,
      events: [expect.objectContaining({ eventId: "bad", attempts: 1, lastError: expect.stringContaining("payload is not JSON") })],
    });
    logged.expect("event dead-lettered");
  });
});

describe("snapshots", () => {
  const bigState = () => JSON.stringify({ beads: Array.from({ length: 2_000 }, (_, i) => ({ id: `bead-${i}`, title: "✓ ".repeat(200) })) });

  it("are stored gzip-compressed, in chunks under the row limit, and read back whole", async () => {
    const town = await createTown();
    const round = await runInDurableObject(town.stub, async (_instance, state) => {
      const snapshots = new TownStore(state.storage).snapshots;
      const json = bigState();
      const packed = await packSnapshot(JSON.stringify({ pending: [[3, 3, 1]], state: JSON.parse(json) }), 1_000);
      const utf8 = new TextEncoder().encode(json).length;
      snapshots.save({ takenAt: 5_000_000_000_000, tickId: 7, logSeq: 9, firstPendingSeq: 3, baseId: null, bytes: utf8 }, packed);
      const ref = snapshots.refAtOrBefore(5_000_000_000_000)!;
      const back = (await snapshots.atOrBefore(5_000_000_000_000))!;
      const rows = state.storage.sql
        .exec<{ type: string; size: number }>(
          "SELECT typeof(data) AS type, length(data) AS size FROM snapshot_chunks WHERE snapshot_id = ? ORDER BY part",
          back.id,
        )
        .toArray();
      return { same: JSON.stringify(back.state) === json, pending: back.pending, utf8, ref, packed, rows };
    });
    expect(round).toMatchObject({ same: true, pending: [[3, 1]] });
    // Its size is the JSON's (what reading it holds), known without reading it, and so is its oldest pending event.
    expect(round.ref).toMatchObject({ encoding: "frame", bytes: round.utf8, parts: round.rows.length, firstPendingSeq: 3, baseId: null });
    // Stored as bytes, a small share of the JSON, in chunks of at most the size asked for.
    expect(round.packed.storedBytes).toBeLessThan(round.utf8 / 20);
    expect(round.rows.length).toBe(Math.ceil(round.packed.storedBytes / 1_000));
    expect(round.rows.every((r) => r.type === "blob" && r.size <= 1_000)).toBe(true);
    expect(round.rows.reduce((sum, r) => sum + r.size, 0)).toBe(round.packed.storedBytes);
  });

  it("written compressed before frames (the pending list in the row) still load, and are pruned like the others", async () => {
    const town = await createTown();
    const round = await runInDurableObject(town.stub, async (_instance, state) => {
      const sql = state.storage.sql;
      const json = bigState();
      // A row as the build of migration 0012 wrote it: the state's JSON gzipped in chunks, the pending list in the row.
      const packed = await packSnapshot(json, 1_000);
      const id = sql
        .exec<{ id: number }>(
          "INSERT INTO snapshots (taken_at, tick_id, log_seq, pending, parts, bytes, encoding) VALUES (?, 7, 9, '[[4,0],[3,1]]', ?, ?, 'gzip') RETURNING id",
          4_500_000_000_000,
          packed.chunks.length,
          packed.bytes,
        )
        .one().id;
      for (const [part, data] of packed.chunks.entries()) sql.exec("INSERT INTO snapshot_chunks (snapshot_id, part, data) VALUES (?, ?, ?)", id, part, data);
      const snapshots = new TownStore(state.storage).snapshots;
      const ref = snapshots.refAtOrBefore(4_500_000_000_000)!;
      const back = await snapshots.read(ref);
      const empty = await packSnapshot(JSON.stringify({ pending: [], state: {} }));
      for (const at of [4_500_000_000_001, 4_500_000_000_002])
        snapshots.save({ takenAt: at, tickId: 8, logSeq: 9, firstPendingSeq: null, baseId: null, bytes: 2 }, empty);
      snapshots.prune(4_500_000_000_002);
      const left = sql.exec<{ n: number }>("SELECT count(*) AS n FROM snapshot_chunks WHERE snapshot_id = ?", id).one().n;
      return { ref, same: JSON.stringify(back.state) === json, pending: back.pending, left };
    });
    expect(round).toMatchObject({
      same: true,
      pending: [
        [4, 0],
        [3, 1],
      ],
      left: 0,
      ref: { encoding: "gzip", firstPendingSeq: 3, baseId: null },
    });
  });

  it("written before compression (text in parts) still load, and are pruned like the others", async () => {
    const town = await createTown();
    const round = await runInDurableObject(town.stub, async (_instance, state) => {
      const sql = state.storage.sql;
      const json = bigState();
      // A row as a build before migration 0012 wrote it: no encoding of its own, the JSON as text in two parts.
      const half = json.length / 2;
      const id = sql
        .exec<{ id: number }>(
          "INSERT INTO snapshots (taken_at, tick_id, log_seq, pending, parts, bytes) VALUES (?, 7, 9, '[[3,1]]', 2, ?) RETURNING id",
          4_000_000_000_000,
          json.length,
        )
        .one().id;
      sql.exec("INSERT INTO snapshot_parts (snapshot_id, part, data) VALUES (?, 0, ?), (?, 1, ?)", id, json.slice(0, half), id, json.slice(half));
      const snapshots = new TownStore(state.storage).snapshots;
      const ref = snapshots.refAtOrBefore(4_000_000_000_000)!;
      const back = JSON.stringify((await snapshots.read(ref)).state) === json;
      // A newer one makes it prunable: retention drops its parts with it.
      const empty = await packSnapshot(JSON.stringify({ pending: [], state: {} }));
      snapshots.save({ takenAt: 4_000_000_000_001, tickId: 8, logSeq: 9, firstPendingSeq: null, baseId: null, bytes: 2 }, empty);
      snapshots.save({ takenAt: 4_000_000_000_002, tickId: 9, logSeq: 9, firstPendingSeq: null, baseId: null, bytes: 2 }, empty);
      snapshots.prune(4_000_000_000_002);
      const partsLeft = sql.exec<{ n: number }>("SELECT count(*) AS n FROM snapshot_parts WHERE snapshot_id = ?", id).one().n;
      return { ref, back, utf8: new TextEncoder().encode(json).length, partsLeft };
    });
    expect(round).toMatchObject({ back: true, partsLeft: 0, ref: { encoding: "json", parts: 2, firstPendingSeq: 3 } });
    expect(round.ref.bytes).toBe(round.utf8);
  });
});
