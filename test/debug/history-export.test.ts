import { runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { BundleHistory } from "../../src/replay/bundle-history";
import { BundleRefused, readBundle } from "../../src/replay/bundle-reader";
import { checksumOf } from "../../src/replay/bundle-format";
import { replayHistory } from "../../src/replay/replay";
import { archiveTown, scriptedTown } from "../support/scenarios";
import { api, createTown, heartbeat, sendEvents, sling, tick, TOKENS, uniqueTownId, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const iso = (ms: number) => new Date(ms).toISOString();
const exportHistory = (town: TestTown | string, query: string, token: string = TOKENS.debug) =>
  api("GET", `/api/towns/${typeof town === "string" ? town : town.townId}/debug/history?${query}`, { token, raw: true });
const replayLive = (town: TestTown, from: number, to: number) =>
  api("POST", `/api/towns/${town.townId}/debug/replay-events`, { token: TOKENS.debug, body: { from: iso(from), to: iso(to) } });

/** `npm run replay` in Node (via the host tools of globalSetup) on a bundle exported here. */
async function replayInNode(bundle: string, json = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const response = await fetch(`${inject("hostToolsUrl")}/replay${json ? "?json=1" : ""}`, { method: "POST", body: bundle });
  return (await response.json()) as { code: number; stdout: string; stderr: string };
}

/** A bundle edited and sealed again, as an exporter that forgot something would have written it. */
async function resealed(text: string, edit: (bundle: any) => void): Promise<string> {
  const { checksum: _checksum, ...content } = JSON.parse(text);
  edit(content);
  return JSON.stringify({ ...content, checksum: await checksumOf(JSON.stringify(content)) });
}

describe("GET /api/towns/:townId/debug/history", () => {
  it("exports windows that this build replays offline with zero divergence, ending in the state that was live", async () => {
    const { town, checkpoints } = await scriptedTown();
    const start = checkpoints[0]!.at;
    const end = checkpoints.at(-1)!;
    const middle = checkpoints[Math.floor(checkpoints.length / 2)]!;
    // From the creation, from a later snapshot, and a short window at the end.
    for (const [from, to] of [
      [start, end.at],
      [middle.at + 60_000, end.at],
      [end.at - 60_000, end.at],
      [start, middle.at],
    ] as const) {
      const exported = await exportHistory(town, `from=${iso(from)}&to=${iso(to)}`);
      expect(exported.status, exported.body.slice(0, 300)).toBe(200);
      expect(exported.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(exported.headers.get("content-disposition")).toMatch(
        new RegExp(`^attachment; filename="${town.townId}-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.replay\\.json"$`),
      );
      const bundle = await readBundle(exported.body);
      // One record per line: a re-recorded bundle diffs line by line.
      expect(exported.body.split("\n").length).toBeGreaterThan(bundle.events.length + bundle.ticks.length);
      if (from > start) expect(bundle.snapshot.tickId).toBeGreaterThan(0);

      const offline = replayHistory(new BundleHistory(bundle), bundle.window.from, { shown: Number.POSITIVE_INFINITY });
      expect(offline.divergence, `window ${iso(from)} … ${iso(to)}`).toEqual({ ticks: 0, shown: [] });
      expect(offline.ticksInWindow).toBeGreaterThan(0);
      const live = checkpoints.filter((c) => c.at <= to).at(-1)!;
      expect(offline.state).toEqual(live.summary);
      // The live route runs the same replay over the town's storage: the same answer.
      const online = await replayLive(town, from, to);
      expect(online.status).toBe(200);
      expect(online.body).toEqual(JSON.parse(JSON.stringify(offline)));
    }
  }, 120_000);

  it("is replayed by `npm run replay` in Node with zero divergence", async () => {
    const { town, checkpoints } = await scriptedTown();
    const exported = await exportHistory(town, `from=${checkpoints[0]!.at}&to=${checkpoints.at(-1)!.at}`);
    expect(exported.status).toBe(200);
    const text = await replayInNode(exported.body);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.trimEnd().split("\n").at(-1)).toMatch(/^0 of \d+ ticks in the window diverge; replayed \d+ ticks and \d+ events in /);
    const json = await replayInNode(exported.body, true);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ townId: town.townId, divergentTicks: 0, ticksInWindow: checkpoints.length });
  }, 120_000);

  it("exports and replays a window in which the platform sent an event twice and an unwanted container reported twice", async () => {
    // Resending is what a platform does when an answer was lost; neither repeat is logged again, and
    // neither may make the log look pruned (a skipped insert must not use up a seq).
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    const from = await town.stub.testNow();
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const done = { eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } };
    expect((await sendEvents(town, [done])).body).toEqual({ accepted: 1, duplicates: 0 });
    expect((await sendEvents(town, [done])).body).toEqual({ accepted: 0, duplicates: 1 });
    await tick(town);
    for (let i = 0; i < 2; i++) expect((await heartbeat(town, "web:polecat:1", { generation: 1 })).status).toBe(409);
    await tick(town);
    const to = await town.stub.testNow();
    const exported = await exportHistory(town, `from=${from}&to=${to}`);
    expect(exported.status, exported.body.slice(0, 300)).toBe(200);
    const bundle = await readBundle(exported.body);
    expect(bundle.events.map((e) => e.seq)).toEqual(bundle.events.map((_, i) => bundle.events[0]!.seq + i));
    expect(replayHistory(new BundleHistory(bundle), bundle.window.from, { shown: 10 }).divergence.ticks).toBe(0);
    expect((await replayLive(town, from, to)).status).toBe(200);
  });

  it("carries the finished beads replay looks up — a bead finished long before the window, blocking one in it — and no others", async () => {
    const { town, windowFrom } = await archiveTown();
    const exported = await exportHistory(town, `from=${windowFrom}&to=${await town.stub.testNow()}`);
    expect(exported.status).toBe(200);
    const bundle = await readBundle(exported.body);
    // `old` left the working set before the snapshot; `new` (in the window) is blocked by it.
    expect(bundle.snapshot.state.beads.map((b) => b.id)).not.toContain("old");
    expect(bundle.archive.beads.map((b) => [b.id, b.status])).toEqual([["old", "closed"]]);
    // Its merge request was archived too, but nothing in the window can ask for it: it stays out.
    expect(
      await runInDurableObject(town.stub, (_i, state) => state.storage.sql.exec("SELECT archived_seq FROM beads WHERE id = 'old:mr:1'").one().archived_seq),
    ).not.toBeNull();
    // `new` was looked up (is it taken?) and was not there; its merge-request ids were probed.
    expect(bundle.archive).toMatchObject({ absent: ["new"], mergeRequestPrefixes: ["new"] });
    expect(replayHistory(new BundleHistory(bundle), bundle.window.from).divergence.ticks).toBe(0);

    // Without `old`, the replay stops and says so, instead of dispatching `new` as if unblocked.
    const lacking = await readBundle(
      await resealed(exported.body, (b) => {
        b.archive.beads = [];
        b.counts.archivedBeads = 0;
      }),
    );
    expect(() => replayHistory(new BundleHistory(lacking), lacking.window.from)).toThrow(BundleRefused);
    expect(() => replayHistory(new BundleHistory(lacking), lacking.window.from)).toThrow(/looked up bead old, which the bundle's archive does not cover/);
    logged.expect("event dead-lettered");
  });

  it("leaves bead bodies out unless bodies=1", async () => {
    const town = await createTown({ snapshotIntervalMs: 60_000, simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "In the snapshot", body: "The plan for b1, in full" });
    await town.stub.testAdvance(61_000);
    await tick(town);
    await town.stub.testAdvance(1_000);
    // A title beyond ASCII: the checksum is over UTF-8, written and read the same way.
    await sling(town, { id: "b2", title: "Ünïcödé ✓ 😀 in the window", body: "The plan for b2, in full" });
    await town.stub.testAdvance(1_000);
    await tick(town);
    const window = `from=${(await town.stub.testNow()) - 1_500}&to=${await town.stub.testNow()}`;

    const without = await exportHistory(town, window);
    expect(without.body).not.toContain("The plan for");
    const lean = await readBundle(without.body);
    expect(lean.bodies).toBe("omitted");
    expect(lean.beadBodies).toBeUndefined();
    expect(lean.snapshot.state.beads.map((b) => b.id)).toEqual(["b1"]);

    const withBodies = await exportHistory(town, `${window}&bodies=1`);
    const full = await readBundle(withBodies.body);
    expect(full.bodies).toBe("included");
    expect(full.beadBodies).toEqual([["b1", "The plan for b1, in full"]]);
    expect(JSON.parse(full.events.find((e) => e.beadId === "b2")!.payload)).toMatchObject({
      title: "Ünïcödé ✓ 😀 in the window",
      body: "The plan for b2, in full",
    });
    for (const bundle of [lean, full]) expect(replayHistory(new BundleHistory(bundle), bundle.window.from).divergence.ticks).toBe(0);
  });

  it("needs the debug scope (admin may too), and answers 404 for a town that does not exist", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    const window = `from=${now}&to=${now}`;
    expect((await exportHistory(town, window, TOKENS.read)).status).toBe(403);
    expect((await exportHistory(town, window, town.agentToken)).status).toBe(403);
    expect((await exportHistory(town, window, "nope")).status).toBe(401);
    expect((await exportHistory(town, window, TOKENS.debug)).status).toBe(200);
    expect((await exportHistory(town, window, TOKENS.admin)).status).toBe(200);
    const missing = await exportHistory(uniqueTownId("missing"), window);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error.code).toBe("town_not_found");
  });

  it("rejects bad windows with 400, and one over 24 h with 413, changing nothing", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    const before = await town.stub.testDump();
    for (const query of [
      "",
      `from=${now}`,
      `to=${now}`,
      `from=yesterday&to=${now}`,
      `from=${now}&to=${now - 1}`,
      `from=${now}&to=${now}&bodies=yes`,
      `from=${now}&to=${now}&body=1`,
      `from=${now}&from=${now}&to=${now}`,
      `from=${now}&to=${now + 60_000}`,
    ]) {
      const response = await exportHistory(town, query);
      expect(response.status, query).toBe(400);
      expect(JSON.parse(response.body).error.code, query).toBe("invalid_request");
    }
    const tooLong = await exportHistory(town, `from=${now - 24 * 3_600_000 - 1}&to=${now}`);
    expect(tooLong.status).toBe(413);
    expect(JSON.parse(tooLong.body).error).toEqual({ code: "history_too_large", message: expect.stringContaining("at most 24 h") });
    expect(await town.stub.testDump()).toBe(before);
  });

  it("refuses a bundle over 64 MiB with 413 naming the limit, before sending any of it", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    // 70 events of a megabyte each (made in SQLite: the 413 comes from the sizes stored).
    await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70)
         INSERT INTO town_events (event_id, type, payload, created_at, status, attempts) SELECT 'big-' || i, 'rig_added', replace(hex(zeroblob(500000)), '0', 'x'), ?, 'processed', 0 FROM n`,
        now,
      ),
    );
    const response = await exportHistory(town, `from=${now}&to=${now}`);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).error).toEqual({
      code: "history_too_large",
      message: expect.stringMatching(/would be more than 8\d\.\d MiB; the limit is 64 MiB/),
    });
  });

  it("is rate-limited with the other debug routes", async () => {
    const town = await createTown({ debugRequestsPerMinute: 2 });
    const now = await town.stub.testNow();
    expect((await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug })).status).toBe(200);
    expect((await exportHistory(town, `from=${now}&to=${now}`)).status).toBe(200);
    const limited = await exportHistory(town, `from=${now}&to=${now}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("30");
  });
});
