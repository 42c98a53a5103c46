/**
 * The registry's shard count changed under a running fleet (REGISTRY_SHARDS, "deployed" by
 * deployShards: the Worker and every object read the new count from then on): no town is missing
 * from the fleet status, the Prometheus targets or the watchdog, none is shown twice, and the old
 * shards empty themselves.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { HANDOVER_GRACE_MS } from "../../src/fleet/registry.do";
import { SNAPSHOT_WINDOW_MS } from "../../src/fleet/registry-store";
import { jumpHash, shardOf } from "../../src/fleet/shards";
import { registrationSummary, type TownSummary } from "../../src/fleet/town-summary";
import { worstFirst, type FleetRow } from "../../src/fleet/fleet-row";
import { deployShards, registry, shard, sweep, troubledSummary } from "../support/fleet";
import { advance, api, createTown, runUntil, sling, tick, TOKENS, uniqueTownId, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (a shard count the Worker refuses: 500): asserted, not printed. */
const logged = captureErrorLogs();

afterEach(() => deployShards(undefined));

const read = async (path: string) => {
  const response = await api("GET", path, { token: TOKENS.read });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
};

/** Each of `ids` exactly once in `seen` (others ignored). */
function expectOnce(seen: readonly string[], ids: readonly string[], what: string) {
  const mine = seen.filter((id) => ids.includes(id));
  expect([...mine].sort(), what).toEqual([...ids].sort());
}

/** The fleet status rows of `ids`, as of the registry's clock at `at`. */
async function statusTowns(at: number): Promise<FleetRow[]> {
  await registry.testSetTime(at);
  return (await read("/api/fleet/status")).towns;
}

/** Every town of every shard's targets (the N-shard Prometheus configuration: one http_sd_configs entry per shard). */
async function targetTowns(): Promise<string[]> {
  const { targets } = await read("/api/fleet/shards");
  const groups = await Promise.all((targets as string[]).map((path) => read(path)));
  return groups.flat().map((group: any) => group.labels.town);
}

const rearms = async (town: TestTown) =>
  Number(/town_reconciler_alarm_rearmed_total\{[^}]*\} (\d+)/.exec((await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read })).body)![1]);

/**
 * A fresh town id on `shard` of 3 that moves (or stays) when the count goes to 5. Chosen, not drawn:
 * ids made from the clock spread unevenly, and a run whose 12 towns missed a shard tested less.
 */
function idOn(shard: number, moves: boolean): string {
  for (;;) {
    const id = uniqueTownId();
    if (shardOf(id, 3) === shard && (shardOf(id, 5) !== shard) === moves) return id;
  }
}

/** A town whose agent works for a day, heartbeating: it always owes its next look. */
async function busyTown(id: string): Promise<TestTown> {
  const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 30_000 } }, { id });
  await sling(town, { id: "b1", title: "Long work" });
  await runUntil(town, (s) => s.agents.working === 1, 5);
  return town;
}

describe("jump consistent hashing", () => {
  it("moves a town only to a new shard when the count grows, and only off a removed shard when it shrinks", () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `town-${i}`);
    for (const [from, to] of [
      [3, 5],
      [4, 8],
      [1, 7],
    ] as const) {
      let moved = 0;
      for (const id of ids) {
        const before = shardOf(id, from);
        const after = shardOf(id, to);
        if (before !== after) {
          moved += 1;
          expect(after, `${id}: ${from} → ${to}`).toBeGreaterThanOrEqual(from);
        }
        // Shrinking back moves it home.
        expect(shardOf(id, from)).toBe(before);
      }
      // About 1 − from/to of them move, no more.
      expect(moved / ids.length).toBeGreaterThan(1 - from / to - 0.05);
      expect(moved / ids.length).toBeLessThan(1 - from / to + 0.05);
    }
    expect(jumpHash(0n, 1)).toBe(0);
    const counts = Array.from({ length: 5 }, () => 0);
    for (const id of ids) counts[shardOf(id, 5)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(300);
  });

  it("refuses a shard count that is not a whole number from 1 to 256", async () => {
    deployShards(0);
    expect((await api("GET", "/api/fleet/status", { token: TOKENS.read })).status).toBe(500);
    deployShards(257);
    expect((await api("GET", "/api/fleet/shards", { token: TOKENS.read })).status).toBe(500);
    deployShards(4);
    expect(await read("/api/fleet/shards")).toMatchObject({
      shards: 4,
      targets: ["/api/fleet/targets?shard=0", "/api/fleet/targets?shard=1", "/api/fleet/targets?shard=2", "/api/fleet/targets?shard=3"],
    });
    logged.expect("request failed");
    logged.expect("unhandled error");
  });
});

describe("a change of shard count under a running fleet", () => {
  it("loses no town from status, targets or the watchdog, shows none twice, and the old shards empty themselves", async () => {
    deployShards(3);
    // One busy town on each shard, the first of them moving under 5; the sleeping ones on every shard, some moving.
    const busy = [await busyTown(idOn(0, true)), await busyTown(idOn(1, false)), await busyTown(idOn(2, false))];
    const sleeping: TestTown[] = [];
    for (let i = 0; i < 9; i++) {
      const town = await createTown({}, { id: idOn(i % 3, i % 2 === 0) });
      await tick(town);
      sleeping.push(town);
    }
    const towns = [...busy, ...sleeping];
    const ids = towns.map((t) => t.townId);
    expect(new Set(ids.map((id) => shardOf(id, 3))).size).toBe(3);
    const t0 = await busy[0]!.stub.testNow();
    expectOnce(
      (await statusTowns(t0)).map((r) => r.town),
      ids,
      "status under 3 shards",
    );
    expectOnce(await targetTowns(), ids, "targets under 3 shards");

    // The deploy: 5 shards. Nothing has moved yet: every town is still where it was, and seen once.
    deployShards(5);
    const moving = ids.filter((id) => shardOf(id, 5) !== shardOf(id, 3));
    expect(moving.length).toBeGreaterThan(0);
    expectOnce(
      (await statusTowns(t0)).map((r) => r.town),
      ids,
      "status right after the change",
    );
    expectOnce(await targetTowns(), ids, "targets right after the change");
    expect(await read("/api/fleet/shards")).toMatchObject({ shards: 5, read: 5 });

    // A busy town that moves ticks: its summary enters it in its new shard; the old row is still there, and the new one is shown.
    const mover = busy[0]!;
    expect(moving).toContain(mover.townId);
    await advance(mover, 1_000);
    await tick(mover);
    const fresh = (await statusTowns(t0 + 1_000)).filter((r) => r.town === mover.townId);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.summaryAgeSeconds).toBe(0);
    expectOnce(
      (await statusTowns(t0)).map((r) => r.town),
      [...ids, mover.townId].filter((id, i, all) => all.indexOf(id) === i),
      "status after a move",
    );

    // The watchdog during the change: every busy town lost its alarm; one sweep re-arms each once.
    for (const town of busy) await runInDurableObject(town.stub, (_instance, state) => state.storage.deleteAlarm());
    const late = Math.max(...(await Promise.all(busy.map((t) => t.stub.testNow())))) + 10 * 60_000;
    for (const town of busy) await town.stub.testSetTime(late);
    await sweep(late);
    for (const town of busy) expect(await rearms(town), town.townId).toBe(1);
    expectOnce(
      (await statusTowns(late)).map((r) => r.town),
      ids,
      "status after the handover sweep",
    );
    expectOnce(await targetTowns(), ids, "targets after the handover sweep");

    // A grace later the old shards drop what they handed over: each town is held by its shard under 5 alone.
    await sweep(late + HANDOVER_GRACE_MS + 1);
    for (const id of ids) {
      const holders = await holdersOf(id, 5);
      expect(holders, id).toEqual([shardOf(id, 5)]);
    }
    expectOnce(
      (await statusTowns(late)).map((r) => r.town),
      ids,
      "status once settled",
    );
    for (const town of busy) expect(await rearms(town), town.townId).toBe(1);

    // Down to 2: the shards past the count hand everything over, and fleet reads stop asking them.
    deployShards(2);
    expect(await read("/api/fleet/shards")).toMatchObject({ shards: 2, read: 5 });
    expectOnce(
      (await statusTowns(late)).map((r) => r.town),
      ids,
      "status right after shrinking",
    );
    expectOnce(await targetTowns(), ids, "targets right after shrinking");
    await sweep(late + 2 * HANDOVER_GRACE_MS);
    expectOnce(
      (await statusTowns(late)).map((r) => r.town),
      ids,
      "status after shrinking's handover",
    );
    await sweep(late + 4 * HANDOVER_GRACE_MS);
    expect(await read("/api/fleet/shards")).toMatchObject({ shards: 2, read: 2 });
    expectOnce(
      (await statusTowns(late)).map((r) => r.town),
      ids,
      "status once shrunk",
    );
    expectOnce(await targetTowns(), ids, "targets once shrunk");
    expectOnce(
      ((await read("/api/towns")).towns as any[]).map((t) => t.id),
      ids,
      "the towns list once shrunk",
    );
  });

  it("does not bring back a town deleted while its row was being handed over", async () => {
    deployShards(2);
    const ids = Array.from({ length: 40 }, () => uniqueTownId("deleted"));
    const victim = ids.find((id) => shardOf(id, 2) !== shardOf(id, 6))!;
    const town = await createTown({}, { id: victim });
    await tick(town);
    deployShards(6);
    const now = await town.stub.testNow();
    expect((await api("DELETE", `/api/towns/${victim}`, { token: TOKENS.admin })).status).toBe(200);
    // Its old shard hands over what it still holds (nothing: deregistered everywhere) and a late handover of its row is refused.
    await sweep(now + 1_000);
    expect(await shard(shardOf(victim, 6)).adopt([{ summary: registrationSummary(victim, now), registeredAt: now - 1, handedOverAt: null }], 6)).toEqual({});
    expect((await statusTowns(now)).map((r) => r.town)).not.toContain(victim);
    expect(await targetTowns()).not.toContain(victim);
  });
});

/** The shards (0 … 7) holding a town. */
async function holdersOf(townId: string, _count: number): Promise<number[]> {
  const held: number[] = [];
  for (let i = 0; i < 8; i++) if ((await shard(i).list()).some((t) => t.id === townId)) held.push(i);
  return held;
}

describe("fleet status pages", () => {
  /** A summary of `town` at `now` in which `trouble` conditions hold (0 – 3), `overdueS` seconds past its tick. */
  const troubled = (town: string, now: number, trouble: number, overdueS: number): TownSummary =>
    // 301 s waited is a problem, 300 s is not.
    troubledSummary(town, now, trouble, now - overdueS * 1_000, { troubled: now - 301_000, calm: now - 300_999 });

  async function seedFleet(prefix: string, count: number, shards: number, now: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = `${prefix}-${String(i).padStart(3, "0")}`;
      // Reported a window before the read: a paged read shows the fleet as of the start of its window (SNAPSHOT_WINDOW_MS).
      const summary = { ...troubled(id, now, i % 4, (i * 37) % 500), reportedAt: now - SNAPSHOT_WINDOW_MS };
      expect(await shard(shardOf(id, shards)).enter(id, now - 1_000, summary, shards)).toBe(true);
      ids.push(id);
    }
    return ids;
  }

  /** Every page of a listing, its rows in order. */
  async function allPages(query: string, limit: number): Promise<FleetRow[]> {
    const rows: FleetRow[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const body: any = await read(`/api/fleet/status?${query}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(body.towns.length).toBeLessThanOrEqual(limit);
      rows.push(...body.towns);
      cursor = body.nextCursor;
      if (cursor === null) return rows;
    }
    throw new Error("more than 100 pages");
  }

  it("return each town once, worst first across shards; problems-only holds only towns with problems; the default answer is every town", async () => {
    const now = Date.UTC(2100, 0, 1) + 3_600_000;
    deployShards(4);
    const prefix = uniqueTownId("paged");
    const ids = await seedFleet(prefix, 60, 4, now);
    await registry.testSetTime(now);
    const everything = (await read("/api/fleet/status")) as { towns: FleetRow[]; nextCursor: null };
    expect(everything.nextCursor).toBeNull();
    const mine = everything.towns.filter((r) => r.town.startsWith(prefix));
    expectOnce(
      mine.map((r) => r.town),
      ids,
      "the default answer",
    );
    expect([...everything.towns].sort(worstFirst)).toEqual(everything.towns);
    // Towns with none to four problems (silent ones too: overdue up to 499 s).
    expect(new Set(mine.map((r) => r.problems))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(mine.some((r) => r.silent === 1 && r.problems === 1)).toBe(true);

    const paged = await allPages("", 7);
    expect(paged).toEqual(everything.towns);

    const problems = await allPages("problems=only&", 5);
    expect(problems.every((r) => r.problems > 0)).toBe(true);
    expect(problems).toEqual(everything.towns.filter((r) => r.problems > 0));

    // Mid-way through a change of count (4 → 6, nothing handed over yet) the pages still hold each town once, in order.
    deployShards(6);
    expect(await allPages("", 9)).toEqual(everything.towns);
    // And after some towns entered their new shards with a fresher summary, those show it.
    const movers = ids.filter((id) => shardOf(id, 6) !== shardOf(id, 4)).slice(0, 5);
    for (const id of movers) await shard(shardOf(id, 6)).enter(id, now - 1_000, { ...troubled(id, now, 0, 0), queueDepth: 0, reportedAt: now - 1 }, 6);
    const after = await allPages("", 8);
    expectOnce(
      after.filter((r) => r.town.startsWith(prefix)).map((r) => r.town),
      ids,
      "pages after some moved",
    );
    expect([...after].sort(worstFirst)).toEqual(after);
    for (const id of movers) expect(after.find((r) => r.town === id)!.problems, id).toBe(0);
  });

  it("refuse a cursor they did not give, and a limit or filter out of bounds", async () => {
    for (const query of ["cursor=abc", "limit=0", "limit=10001", "problems=some", "limit=5&limit=6"]) {
      const response = await api("GET", `/api/fleet/status?${query}`, { token: TOKENS.read });
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toBe("invalid_request");
    }
    for (const query of ["shard=-1", "shard=x", "shard=01"])
      expect((await api("GET", `/api/fleet/targets?${query}`, { token: TOKENS.read })).status, query).toBe(400);
    expect(await read("/api/fleet/targets?shard=9")).toEqual([]);
  });
});
