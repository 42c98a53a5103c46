/**
 * A paged read of the fleet status is one view of the fleet, as of its first page: towns whose
 * summaries change between two pages (getting worse, getting better, reporting again and again, moving
 * to another shard under a new count, handed over) are each shown exactly once, every page worst first
 * as of the read; a town that joins meanwhile is news after the read began and is left out; an un-paged
 * read shows the last summaries; a cursor too old to be answered that way is refused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { CURSOR_LIFETIME_MS, fleetStatus, snapshotOf } from "../../src/fleet/reads";
import { SNAPSHOT_WINDOW_MS } from "../../src/fleet/registry-store";
import { shardOf } from "../../src/fleet/shards";
import type { TownSummary } from "../../src/fleet/town-summary";
import { worstFirst, type FleetRow } from "../../src/fleet/fleet-row";
import { deployShards, registry, shard, troubledSummary } from "../support/fleet";
import { api, env, TOKENS, uniqueTownId } from "../support/town";

afterEach(() => deployShards(undefined));

/** The first page read at 10 s into a window of the snapshot: the pages after it have 50 s. */
const T0 = Date.UTC(2100, 0, 5) + 10_000;
const WINDOW_START = T0 - 10_000;

/** A summary of `town` reported at `at` in which `trouble` conditions hold (0 – 4), `overdueS` seconds past its tick at T0. */
const summary = (town: string, at: number, trouble: number, overdueS: number): TownSummary =>
  troubledSummary(town, at, trouble, T0 - overdueS * 1_000, { troubled: T0 - 400_000, calm: null });

async function page(query: string, at: number): Promise<{ status: number; towns: FleetRow[]; nextCursor: string | null; body: any }> {
  await registry.testSetTime(at);
  const response = await api("GET", `/api/fleet/status?${query}`, { token: TOKENS.read });
  return { status: response.status, towns: response.body.towns ?? [], nextCursor: response.body.nextCursor ?? null, body: response.body };
}

const pageQuery = (limit: number, cursor: string | null) => `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;

describe("a paged fleet read while towns change", () => {
  it("shows every town once, each page worst first as of the first page, whatever the towns report between pages", async () => {
    expect(snapshotOf(T0)).toBe(WINDOW_START);
    deployShards(4);
    const prefix = uniqueTownId("consistent");
    const ids: string[] = [];
    // Thirty towns over four shards, reported a minute before the read: none to four problems, overdue 0 – 290 s.
    for (let i = 0; i < 30; i++) {
      const id = `${prefix}-${String(i).padStart(2, "0")}`;
      expect(await shard(shardOf(id, 4)).enter(id, T0 - 120_000, summary(id, T0 - 60_000, i % 5, (i * 37) % 300), 4)).toBe(true);
      ids.push(id);
    }
    const mine = (rows: readonly FleetRow[]) => rows.filter((r) => r.town.startsWith(prefix));
    const before = mine((await page("", T0)).towns);
    expect(before.map((r) => r.town).sort()).toEqual([...ids].sort());

    const pages: FleetRow[][] = [];
    const first = await page(pageQuery(6, null), T0);
    expect(first.status).toBe(200);
    pages.push(first.towns);
    const seenFirst = mine(first.towns).map((r) => r.town);
    const notYet = before.filter((r) => !seenFirst.includes(r.town));
    expect(seenFirst.length).toBeGreaterThan(0);

    // Between the pages: a town not shown yet (one of the best) turns worst of all — from after the cursor to before it.
    const riser = notYet.at(-1)!.town;
    await shard(shardOf(riser, 4)).report(summary(riser, T0 + 1_000, 4, 299));
    // A town shown on the first page turns healthy — from before the cursor to after it.
    const faller = seenFirst[0]!;
    await shard(shardOf(faller, 4)).report(summary(faller, T0 + 1_000, 0, 0));
    // A town not shown yet reports three times, in this window and the next, ending worse than any.
    const chatty = notYet[Math.floor(notYet.length / 2)]!.town;
    for (const at of [T0 + 2_000, T0 + 25_000, T0 + 26_000]) await shard(shardOf(chatty, 4)).report(summary(chatty, at, 4, 299));
    // A town that joins during the read: news after the read began.
    const newcomer = `${prefix}-new`;
    await shard(shardOf(newcomer, 4)).enter(newcomer, T0 + 3_000, summary(newcomer, T0 + 3_000, 4, 299), 4);

    let cursor = first.nextCursor;
    expect(cursor).not.toBeNull();
    let at = T0 + 5_000;
    let changedCount = false;
    while (cursor) {
      const next = await page(pageQuery(6, cursor), at);
      expect(next.status, JSON.stringify(next.body)).toBe(200);
      pages.push(next.towns);
      cursor = next.nextCursor;
      if (!changedCount) {
        // Mid-read the count changes (4 → 6): a town whose shard changes enters its new one, worse than any,
        // and the old shards hand over what is no longer theirs.
        changedCount = true;
        deployShards(6);
        const mover = notYet.map((r) => r.town).find((id) => shardOf(id, 6) !== shardOf(id, 4) && ![riser, chatty].includes(id));
        expect(mover).toBeDefined();
        await shard(shardOf(mover!, 6)).enter(mover!, T0 - 120_000, summary(mover!, T0 + 6_000, 4, 299), 6);
        for (let i = 0; i < 6; i++) await shard(i).rebalance(6, i, T0 + 7_000);
      }
      at += 7_000;
      expect(pages.length).toBeLessThan(20);
    }
    expect(at).toBeLessThan(WINDOW_START + CURSOR_LIFETIME_MS);

    // Each town once, none missed, the newcomer left out; every page, and the whole, worst first — the fleet as it was.
    const listed = pages.flat();
    expect(
      mine(listed)
        .map((r) => r.town)
        .sort(),
    ).toEqual([...ids].sort());
    for (const rows of pages) expect([...rows].sort(worstFirst)).toEqual(rows);
    expect([...listed].sort(worstFirst)).toEqual(listed);
    expect(mine(listed)).toEqual(before);

    // The un-paged answer (what the alert rules read) is the fleet now.
    const now = mine((await page("", T0 + 40_000)).towns);
    expect(now.find((r) => r.town === riser)!.violationsOpen).toBe(1);
    expect(now.find((r) => r.town === faller)!.problems).toBe(0);
    expect(now.find((r) => r.town === chatty)!.summaryAgeSeconds).toBe(14);
    expect(now.some((r) => r.town === newcomer)).toBe(true);
    // So is the home page's one page of the worst towns (`latest`: not the start of a read).
    const worst = mine((await fleetStatus(env, { limit: 10_000, latest: true })).towns);
    expect(worst).toEqual(now);
    // A read begun now shows the changes.
    const fresh = mine((await page(pageQuery(10_000, null), T0 + SNAPSHOT_WINDOW_MS + 30_000)).towns);
    expect(fresh.find((r) => r.town === riser)!.violationsOpen).toBe(1);
    expect(fresh.some((r) => r.town === newcomer)).toBe(true);
  });

  it("refuses a cursor older than a read is kept, with the bad-cursor error, telling the caller to start again", async () => {
    deployShards(2);
    const prefix = uniqueTownId("expiring");
    for (let i = 0; i < 4; i++) {
      const id = `${prefix}-${i}`;
      await shard(shardOf(id, 2)).enter(id, T0 - 120_000, summary(id, T0 - 60_000, i, 10), 2);
    }
    const first = await page(pageQuery(1, null), T0);
    expect(first.nextCursor).not.toBeNull();
    // Within the lifetime it is taken…
    expect((await page(pageQuery(1, first.nextCursor), WINDOW_START + CURSOR_LIFETIME_MS - 1)).status).toBe(200);
    // …after it, refused as the route refuses any cursor it cannot take.
    const late = await page(pageQuery(1, first.nextCursor), WINDOW_START + CURSOR_LIFETIME_MS);
    expect(late.status).toBe(400);
    expect(late.body.error.code).toBe("invalid_request");
    expect(late.body.error.message).toMatch(/expired.*start again without a cursor/);
  });
});
