/**
 * `npm run record-bundles`: runs the scripted scenarios in the Worker on the test clock, exports each
 * one's history over HTTP (GET …/debug/history, as an operator would), checks that `npm run replay`
 * replays it with zero divergence, and writes it to test/replay/bundles/<name>.json, where `npm test`
 * replays it against every later build. `RECORD_BUNDLES=busy-day RECORD_BUNDLES_DIR=/tmp npm run
 * record-bundles` records a day of the demo workload instead (for the figures; too big for the repo):
 * the demo's wave every 15 minutes, or every n with `busy-day:<n>`.
 *
 * Command event ids (and request ids) come from crypto.randomUUID; here they are numbered, so a
 * re-recorded bundle differs from the last one only where the history itself does.
 */
import { describe, expect, inject, it } from "vitest";
import { archiveTown, demoTown, runAlarmsUntil, scriptedTown } from "../support/scenarios";
import { api, TOKENS, type TestTown } from "../support/town";

const selected = new Set(inject("recordBundles").split(","));
const busyDay = [...selected].find((name) => name.startsWith("busy-day"));
const HOUR = 3_600_000;

function numberIds(prefix: string): void {
  let n = 0;
  Object.defineProperty(crypto, "randomUUID", { configurable: true, value: () => `${prefix}-${String(++n).padStart(6, "0")}` });
}

async function record(name: string, town: TestTown, from: number, to: number): Promise<void> {
  const exported = await api("GET", `/api/towns/${town.townId}/debug/history?from=${from}&to=${to}`, { token: TOKENS.debug, raw: true });
  expect(exported.status, exported.body.slice(0, 300)).toBe(200);
  const replayed = (await (await fetch(`${inject("hostToolsUrl")}/replay`, { method: "POST", body: exported.body })).json()) as {
    code: number;
    stdout: string;
    stderr: string;
  };
  expect(replayed.code, `${replayed.stdout}\n${replayed.stderr}`).toBe(0);
  const saved = await fetch(`${inject("hostToolsUrl")}/bundles/${name}`, { method: "PUT", body: exported.body });
  expect(saved.status).toBe(200);
  console.log(`${name}: ${JSON.stringify(await saved.json())}\n${replayed.stdout.trim().split("\n").at(-1)}`);
}

describe.runIf(selected.has("ci"))("bundles replayed by npm test", () => {
  it("the demo workload", async () => {
    numberIds("demo");
    const { town, startedAt } = await demoTown({ townId: "demo" });
    await record("demo", town, startedAt, await town.stub.testNow());
  });

  it("the scripted failures: failed runs, a dead container, a silent hang, a reconfiguration, an eviction", async () => {
    numberIds("failures");
    const { town, checkpoints } = await scriptedTown({ townId: "failures" });
    await record("failures", town, checkpoints[0]!.at - 1_000, await town.stub.testNow());
  });

  it("a window that reads the archive and the log's own commands", async () => {
    numberIds("archive");
    const { town, windowFrom } = await archiveTown({ townId: "archive" });
    await record("archive", town, windowFrom, await town.stub.testNow());
  });
});

describe.runIf(busyDay !== undefined)("a busy day of the demo workload", () => {
  it("the demo's wave every 15 (or n) minutes for 24 hours", async () => {
    numberIds("busy");
    const minutes = Number(busyDay!.split(":")[1] ?? 15);
    const waves = Math.floor((24 * 60) / minutes);
    const { town, startedAt } = await demoTown({
      townId: "busy-day",
      waves,
      waveEveryMs: minutes * 60_000,
      onWave: (w) => w % 24 === 23 && console.log(`wave ${w + 1} of ${waves}`),
    });
    await runAlarmsUntil(town, startedAt + 24 * HOUR);
    // The same day replayed by the live route, for comparison (locally workerd's clock moves during CPU work).
    const started = Date.now();
    const live = await api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
      token: TOKENS.debug,
      body: { from: new Date(startedAt).toISOString(), to: new Date(startedAt + 24 * HOUR).toISOString() },
    });
    console.log(
      `live replay route: ${live.status}, ${Date.now() - started} ms, ${live.body.ticksReplayed} ticks, ${live.body.eventsReplayed} events, ${live.body.divergence?.ticks} divergent`,
    );
    await record(`busy-day-${minutes}m`, town, startedAt, startedAt + 24 * HOUR);
  });
});
