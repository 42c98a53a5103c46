import { runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { advance, api, createTown, sling, status, tick, TOKENS, type TestTown } from "../support/town";

const sentryUrl = inject("sentryUrl");
const storageAlerts = async (town: TestTown) =>
  ((await (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json()) as any[]).filter((e) => e.tags.alert === "storage_high");
/** Agents that never report and a town that wakes hourly: ticks happen when a test runs them. */
const tickNow = async (town: TestTown) => {
  // A town that owes nothing sleeps: woken as a command would wake it.
  await town.stub.testWake();
  await tick(town);
};
const QUIET = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, idleAlarmMs: 3_600_000 };

const metrics = async (town: TestTown) => (await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true })).body as string;
const databaseSize = (town: TestTown) => runInDurableObject(town.stub, (_instance, state) => state.storage.sql.databaseSize);
const gauge = (text: string, name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);

describe("a town's storage", () => {
  it("shows the database's size in status and metrics, as the object measures it", async () => {
    const town = await createTown();
    const before = await status(town);
    expect(before.storage).toEqual({ databaseBytes: await databaseSize(town), limitBytes: 10_000_000_000, alertAtBytes: 8_000_000_000 });
    // A bead with a 100 KB body takes room: both readings grow with it.
    await sling(town, { id: "big", title: "big", body: "x".repeat(100_000) });
    const after = await status(town);
    expect(after.storage.databaseBytes).toBeGreaterThan(before.storage.databaseBytes + 90_000);
    expect(after.storage.databaseBytes).toBe(await databaseSize(town));
    expect(gauge(await metrics(town), "town_reconciler_storage_database_bytes")).toBe(await databaseSize(town));
  });
});

describe("the storage alert", () => {
  it("warns Sentry when the database reaches the town's share of the limit, then again once per cooldown", async () => {
    // 0.00002 of 10 GB is 200 KB: a new town's database is larger.
    const town = await createTown({ ...QUIET, storageAlertShare: 0.00002 });
    expect((await status(town)).storage.alertAtBytes).toBe(200_000);
    await advance(town, 1_000);
    await tickNow(town);
    const [first, ...rest] = await storageAlerts(town);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ level: "warning", fingerprint: ["storage_high", town.townId], message: expect.stringContaining("storage-full.md") });
    expect(first.contexts.town).toMatchObject({ limitBytes: 10_000_000_000, alertShare: 0.00002, databaseBytes: expect.any(Number) });
    // Not on every tick: again only once the cooldown (an hour by default) has passed.
    await advance(town, 60_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toHaveLength(1);
    await advance(town, 3_600_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toHaveLength(2);
  });

  it("stays quiet below the share", async () => {
    const town = await createTown({ ...QUIET, storageAlertShare: 0.5 });
    await advance(town, 1_000);
    await tickNow(town);
    expect(await storageAlerts(town)).toEqual([]);
    // The default share alerts at 8 GB; a share out of 0 – 1 is refused.
    const refused = await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { storageAlertShare: 1.5 } } });
    expect(refused.status).toBe(400);
  });
});
