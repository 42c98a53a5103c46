import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { advance, api, bead, createTown, sendEvents, sling, status, tick, TOKENS, type TestTown } from "../support/town";

/**
 * Bounded intake (DESIGN §4.8, issue 21 items 2 and 3): no token holder can stall or fill a town. Every
 * bound refuses a batch whole, before anything is stored, with 429, Retry-After and its figures.
 */

/** Agents that do not finish on their own: the tests send every callback. */
const MANUAL = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };
const AGENT = "web:polecat:1";

/** A town with one polecat at work on b1 (generation 1), and that dispatch's credential. */
async function workingTown(config: Record<string, unknown> = {}) {
  const town = await createTown({ ...MANUAL, ...config });
  await sling(town, { id: "b1", title: "Work" });
  await tick(town);
  expect((await bead(town, "b1")).bead.status).toBe("in_progress");
  // The dispatch's own result is applied: nothing waits.
  await advance(town, 100);
  await tick(town);
  expect(await pending(town)).toBe(0);
  return { town, credential: await town.stub.testCredential(AGENT, 1) };
}

/** Ticks a moment apart until nothing waits (not following the alarm: the agents' deadlines stay far). */
async function drain(town: TestTown, maxTicks: number) {
  for (let i = 0; i < maxTicks && (await pending(town)) > 0; i++) {
    await advance(town, 100);
    await tick(town);
  }
  expect(await pending(town)).toBe(0);
}

/**
 * Idle, then a bound of retention lowered: cancelled work first, so the town owes nothing else, then
 * ticks as its alarm asks — while it asks for retention. Returns the ticks retention took.
 */
async function pruneIdle(town: TestTown, config: Record<string, unknown>) {
  expect((await api("POST", `/api/towns/${town.townId}/beads/b1/cancel`, { token: TOKENS.admin, body: {} })).status).toBe(202);
  await drain(town, 5);
  for (let i = 0; i < 5 && (await status(town)).alarm.inMs !== null && (await status(town)).alarm.inMs < 1_000; i++) {
    await advance(town, 100);
    await tick(town);
  }
  const reconfigured = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config } });
  expect(reconfigured.status).toBe(200);
  await advance(town, 100);
  await tick(town);
  let ticks = 1;
  while ((await status(town)).alarm.reason.startsWith("retention: ") && ticks < 10) {
    await advance(town, 100);
    await tick(town);
    ticks += 1;
  }
  // Back within its bounds, it owes retention nothing more: no tick soon.
  const after = await status(town);
  expect(after.alarm.reason).not.toMatch(/^retention/);
  expect(after.alarm.inMs === null || after.alarm.inMs > 60_000, JSON.stringify(after.alarm)).toBe(true);
  return ticks;
}

let flood = 0;
/** `n` container statuses of a generation long gone, each with an id of its own: what the flood sent. */
const staleStatuses = (n: number) =>
  Array.from({ length: n }, () => ({ eventId: `flood-${flood++}`, type: "container_status", agentId: AGENT, payload: { generation: 999, status: "running" } }));

/** `n` stale completions, each carrying a reason of `reasonChars` characters: what the filler sent. */
const bulkyCompletions = (n: number, reasonChars: number) =>
  Array.from({ length: n }, () => ({
    eventId: `bulk-${flood++}`,
    type: "agent_completed",
    agentId: AGENT,
    payload: { generation: 999, status: "failed", reason: "x".repeat(reasonChars) },
  }));

const pending = async (town: TestTown) => (await status(town)).queue.pending as number;

/** The log as SQLite holds it, counted the slow way, beside the totals the town keeps. */
const logFigures = (town: TestTown) =>
  runInDurableObject(town.stub, (_instance, state) => {
    const sql = state.storage.sql;
    const counted = sql
      .exec<{ events: number; pending: number; bytes: number | null }>(
        `SELECT count(*) AS events, coalesce(sum(status = 'pending'), 0) AS pending,
           sum(length(CAST(payload AS BLOB)) + length(CAST(event_id AS BLOB)) + length(type) + coalesce(length(CAST(agent_id AS BLOB)), 0) + coalesce(length(CAST(bead_id AS BLOB)), 0) + 24) AS bytes
         FROM town_events`,
      )
      .one();
    const kept = sql.exec<{ events: number; pending: number; bytes: number }>("SELECT events, pending, bytes FROM event_totals").one();
    return { counted: { events: counted.events, pending: counted.pending, bytes: counted.bytes ?? 0 }, kept: { ...kept } };
  });

describe("a flood from the platform's token", () => {
  it("is refused with 429 and Retry-After, whole batches only, while a working agent's agent_done from its credential is applied within two ticks", async () => {
    const { town, credential } = await workingTown();
    // 20 batches of 1,000 at once, as 8 clients of the issue would send them.
    const answers = await Promise.all(Array.from({ length: 20 }, () => sendEvents(town, staleStatuses(1_000))));
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    expect(accepted.length + refused.length).toBe(20);
    // The bucket holds 10,000 (ingestRate.burst): ten batches go in, the other ten are refused whole.
    expect(accepted).toHaveLength(10);
    for (const answer of accepted) expect(answer.body).toEqual({ accepted: 1_000, duplicates: 0 });
    for (const answer of refused) {
      expect(answer.body.error.code).toBe("rate_limited");
      expect(answer.body.error.message).toContain("this batch of 1,000 was refused whole");
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    expect(await pending(town)).toBe(10_000);

    // The agent reports with its own credential behind 10,000 waiting events: it goes first.
    const done = await api("POST", `/api/towns/${town.townId}/events`, {
      token: credential,
      body: { events: [{ eventId: "done", type: "agent_done", agentId: AGENT, payload: { generation: 1, branch: "feat/b1" } }] },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(202);
    let ticks = 0;
    while ((await bead(town, "b1")).bead.status !== "in_review" && ticks < 2) {
      await advance(town, 100);
      await tick(town);
      ticks += 1;
    }
    expect((await bead(town, "b1")).bead.status).toBe("in_review");
    // In seq order it would have waited ten ticks: most of the flood still waits.
    expect(await pending(town)).toBeGreaterThan(8_000);
    // And a tick reads what it drains, not the backlog behind it (counting the queue read all of it).
    const { lastTick } = await status(town);
    expect(lastTick.eventsDrained).toBeGreaterThan(0);
    expect(lastTick.rowsRead, JSON.stringify({ rowsRead: lastTick.rowsRead, drained: lastTick.eventsDrained })).toBeLessThan(3 * lastTick.eventsDrained + 500);

    // The refusals are counted (by the next tick's record, not a row each): ten batches of 1,000.
    const metrics = await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true });
    expect(metrics.body).toMatch(/town_reconciler_events_refused_total\{[^}]*reason="rate_limited"[^}]*\} 10000\n/);

    // Once the bucket has refilled (Retry-After later), the token is taken again.
    const retryAfter = Number(refused[0]!.headers.get("retry-after"));
    await advance(town, retryAfter * 1_000);
    expect((await sendEvents(town, staleStatuses(1_000))).status).toBe(202);
  });

  it("does not hold up the simulated agents either: they report with their dispatch's credential, in the agents' own lane", async () => {
    const town = await createTown({ simulation: { workMs: 5_000, heartbeatIntervalMs: 86_400_000 } });
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    for (let i = 0; i < 10; i++) expect((await sendEvents(town, staleStatuses(1_000))).status).toBe(202);
    // Its run is over: the next tick takes its report and applies it ahead of the flood.
    await advance(town, 5_000);
    await tick(town);
    expect((await bead(town, "b1")).bead.status).toBe("in_review");
    expect(await pending(town)).toBeGreaterThan(9_000);
    const lanes = await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql.exec<{ lane: string | null }>("SELECT lane FROM town_events WHERE event_id LIKE 'agent:simulated:%'").toArray(),
    );
    expect(lanes).toEqual([{ lane: "own" }]);
  });

  it("is refused once the town's queue is at its bound (queue_full, with the figures), and the agent's own callbacks still go in", async () => {
    const { town, credential } = await workingTown({ maxPendingEvents: 5_000 });
    for (let i = 0; i < 5; i++) expect((await sendEvents(town, staleStatuses(1_000))).status).toBe(202);
    const full = await sendEvents(town, staleStatuses(1_000));
    expect(full.status).toBe(429);
    expect(full.body.error.code).toBe("queue_full");
    expect(full.body.error.message).toContain("pending events 5,000 of 5,000");
    expect(Number(full.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Not half-accepted: a batch of one more than the room left is refused too, and nothing of it is stored.
    expect(await pending(town)).toBe(5_000);
    const own = await api("POST", `/api/towns/${town.townId}/events`, {
      token: credential,
      body: { events: [{ eventId: "up", type: "container_status", agentId: AGENT, payload: { generation: 1, status: "running" } }] },
    });
    expect(own.status, JSON.stringify(own.body)).toBe(202);
    expect(await pending(town)).toBe(5_001);
  });

  it("gives each working agent its own share: a container that floods its own lane is refused at maxPendingEventsPerAgent", async () => {
    const { town, credential } = await workingTown();
    const own = (n: number) =>
      Array.from({ length: n }, () => ({ eventId: `own-${flood++}`, type: "container_status", agentId: AGENT, payload: { generation: 1, status: "running" } }));
    const send = (events: unknown[]) => api("POST", `/api/towns/${town.townId}/events`, { token: credential, body: { events } });
    expect((await send(own(1_000))).status).toBe(202);
    const over = await send(own(1));
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("queue_full");
    expect(over.body.error.message).toContain(`pending events of ${AGENT}'s own container 1,000 of 1,000`);
    // The platform's token has a bound of its own, untouched by the agent's lane.
    expect((await sendEvents(town, staleStatuses(1_000))).status).toBe(202);
  });
});

describe("the event log's byte budget", () => {
  it("refuses a batch that would pass eventBytesBudget (429 event_budget_full, with the figures) and stores nothing of it", async () => {
    const { town } = await workingTown({ eventBytesBudget: 1_500_000 });
    // 50 completions of ~10 KB each: about 505 KB a batch.
    for (let i = 0; i < 2; i++) expect((await sendEvents(town, bulkyCompletions(50, 10_000))).status).toBe(202);
    const before = await logFigures(town);
    const refused = await sendEvents(town, bulkyCompletions(50, 10_000));
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("event_budget_full");
    expect(refused.body.error.message).toMatch(/^event bytes [\d,]+ of 1,500,000: this batch of [\d,]+ bytes/);
    expect(refused.headers.get("retry-after")).toBe("60");
    const after = await logFigures(town);
    expect(after).toEqual(before);
    // The totals the bound reads are the log's, byte for byte.
    expect(after.kept).toEqual(after.counted);
  });
});

describe("retention", () => {
  it("prunes an idle town back within eventRetentionCount: it ticks for it, 5,000 rows a tick, then sleeps", async () => {
    const { town } = await workingTown({ ingestRate: { burst: 20_000 } });
    for (let i = 0; i < 12; i++) expect((await sendEvents(town, staleStatuses(1_000))).status).toBe(202);
    await drain(town, 20);
    expect((await logFigures(town)).counted.events).toBeGreaterThan(12_000);
    const ticks = await pruneIdle(town, { eventRetentionCount: 1_000 });
    const figures = await logFigures(town);
    expect(figures.counted.events).toBeLessThanOrEqual(1_000);
    expect(figures.kept).toEqual(figures.counted);
    // Bounded batches: 11,000 rows and more take three runs at least.
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it("prunes an idle town back within eventRetentionBytes, oldest first, no more than it must", async () => {
    const { town } = await workingTown();
    for (let i = 0; i < 6; i++) expect((await sendEvents(town, bulkyCompletions(50, 10_000))).status).toBe(202);
    await drain(town, 5);
    expect((await logFigures(town)).counted.bytes).toBeGreaterThan(3_000_000);
    await pruneIdle(town, { eventRetentionBytes: 1_000_000 });
    const figures = await logFigures(town);
    expect(figures.counted.bytes).toBeLessThanOrEqual(1_000_000);
    // Within one of those events of the bound.
    expect(figures.counted.bytes).toBeGreaterThan(1_000_000 - 11_000);
    expect(figures.kept).toEqual(figures.counted);
  });
});
