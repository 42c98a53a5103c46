import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { advance, api, createTown, tick, TOKENS, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };
const EVERYTHING = `from=0&to=${Date.UTC(2200, 0, 1)}`;
const get = (town: TestTown, path: string) => api("GET", `/api/towns/${town.townId}${path}`, { token: TOKENS.read });

/** A town with `count` ticks, a second apart (woken each time, as a command would: it owes nothing). */
async function townWithTicks(count: number): Promise<TestTown> {
  const town = await createTown(SILENT);
  for (let i = 0; i < count; i++) {
    await advance(town, 1_000);
    await town.stub.testWake();
    await tick(town);
  }
  return town;
}

describe("a tick window larger than one answer", () => {
  it("returns the newest ticks, oldest first, and says it was truncated", async () => {
    const town = await townWithTicks(8);
    const all = (await get(town, `/ticks?${EVERYTHING}`)).body.ticks.map((t: any) => t.id);
    expect(all.length).toBeGreaterThanOrEqual(8);
    const capped = await get(town, `/ticks?${EVERYTHING}&limit=5`);
    expect(capped.status).toBe(200);
    expect(capped.body.truncated).toBe(true);
    expect(capped.body.ticks.map((t: any) => t.id)).toEqual(all.slice(-5));
    expect((await get(town, `/ticks?${EVERYTHING}&limit=${all.length}`)).body.truncated).toBe(false);
  });

  it("summarises the newest ticks of the window and says so", async () => {
    const town = await townWithTicks(8);
    const all = (await get(town, `/ticks?${EVERYTHING}`)).body.ticks;
    const summary = await get(town, `/ticks/summary?${EVERYTHING}&limit=3`);
    expect(summary.status).toBe(200);
    expect(summary.body).toMatchObject({ ticks: 3, truncated: true });
    expect(summary.body.metrics.queueDepth.count).toBe(3);
    const newest = all.slice(-3);
    expect(summary.body.metrics.durationMs.max).toBe(Math.max(...newest.map((t: any) => t.durationMs)));
    expect((await get(town, `/ticks/summary?${EVERYTHING}`)).body.truncated).toBe(false);
  });

  it("rejects a limit out of bounds (400)", async () => {
    const town = await createTown(SILENT);
    for (const limit of ["0", "10001", "x", "-1"]) expect((await get(town, `/ticks?limit=${limit}`)).status).toBe(400);
  });

  it("serves a slim column set for pages and dashboards", async () => {
    const town = await townWithTicks(2);
    const slim = (await get(town, `/ticks?${EVERYTHING}&fields=slim`)).body.ticks[0];
    expect(Object.keys(slim).sort()).toEqual(
      [
        "id",
        "at",
        "time",
        "result",
        "durationMs",
        "eventsDrained",
        "eventsFailed",
        "actionsEmitted",
        "actionsByType",
        "effectsAttempted",
        "effectsSucceeded",
        "effectsFailed",
        "queueDepth",
        "deadLetters",
        "violationsOpen",
        "breakerOpen",
      ].sort(),
    );
    const full = (await get(town, `/ticks?${EVERYTHING}`)).body.ticks[0];
    expect(full).toHaveProperty("phases");
    expect(full).toHaveProperty("actionsByRule");
  });
});

describe("the tick history as CSV", () => {
  it("neutralises cells a spreadsheet would run as a formula", async () => {
    const town = await createTown(SILENT);
    // A tick that fails with an error text an attacker could shape.
    await runInDurableObject(town.stub, (_instance, state) => {
      const sql = state.storage.sql;
      const original = sql.exec;
      (sql as { exec: typeof original }).exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
        if (query.toLowerCase().startsWith('insert into "ticks"')) {
          (sql as { exec: typeof original }).exec = original;
          // A thrown value that is not an Error is recorded as it is: its text leads the cell.
          throw '=HYPERLINK("http://evil.test","x")';
        }
        return original.call(this, query, ...bindings);
      } as typeof original;
    });
    await advance(town, 1_000);
    await tick(town);
    const csv = (await api("GET", `/api/towns/${town.townId}/ticks?format=csv&${EVERYTHING}`, { token: TOKENS.read })).body as string;
    const cells = csv.split(/[,\r\n]/);
    expect(cells.some((cell) => /^"?[=+\-@\t\r]/.test(cell) && !/^-?\d/.test(cell))).toBe(false);
    expect(csv).toContain(`'=HYPERLINK`);
    logged.expect("tick failed");
  });
});
