import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, createTown, sling, status, TOKENS, type TestTown } from "../support/town";

const metrics = async (town: TestTown) => (await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true })).body as string;
const databaseSize = (town: TestTown) => runInDurableObject(town.stub, (_instance, state) => state.storage.sql.databaseSize);
const gauge = (text: string, name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1]);

describe("a town's storage", () => {
  it("shows the database's size in status and metrics, as the object measures it", async () => {
    const town = await createTown();
    const before = await status(town);
    expect(before.storage).toEqual({ databaseBytes: await databaseSize(town), limitBytes: 10_000_000_000 });
    // A bead with a 100 KB body takes room: both readings grow with it.
    await sling(town, { id: "big", title: "big", body: "x".repeat(100_000) });
    const after = await status(town);
    expect(after.storage.databaseBytes).toBeGreaterThan(before.storage.databaseBytes + 90_000);
    expect(after.storage.databaseBytes).toBe(await databaseSize(town));
    expect(gauge(await metrics(town), "town_reconciler_storage_database_bytes")).toBe(await databaseSize(town));
  });
});
