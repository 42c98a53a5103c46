/** Temporary: captures /metrics of driven towns and the OpenAPI document, for before/after comparison. */
import { describe, expect, inject, it } from "vitest";
import { archiveTown, demoTown, scriptedTown } from "../support/scenarios";
import { api, TOKENS } from "../support/town";

const selected = new Set(inject("recordBundles").split(","));
function numberIds(prefix: string): void {
  let n = 0;
  Object.defineProperty(crypto, "randomUUID", { configurable: true, value: () => `${prefix}-${String(++n).padStart(6, "0")}` });
}
async function save(name: string, body: string) {
  const saved = await fetch(`${inject("hostToolsUrl")}/bundles/${name}`, { method: "PUT", body });
  expect(saved.status).toBe(200);
}
describe.runIf(selected.has("golden"))("golden", () => {
  it("captures", async () => {
    const openapi = await api("GET", "/api/openapi.json", { raw: true });
    await save("golden-openapi", openapi.body);
    numberIds("demo");
    const { town } = await demoTown({ townId: "gdemo" });
    const m1 = await api("GET", `/api/towns/${town.townId}/metrics`, { token: TOKENS.read, raw: true });
    await save("golden-metrics-demo", m1.body.replace(/^town_reconciler_(tick_duration_seconds|last_tick_duration_seconds)[^\n]*\n/gm, ""));
    numberIds("failures");
    const { town: t2 } = await scriptedTown({ townId: "gfailures" });
    const m2 = await api("GET", `/api/towns/${t2.townId}/metrics`, { token: TOKENS.read, raw: true });
    await save("golden-metrics-failures", m2.body.replace(/^town_reconciler_(tick_duration_seconds|last_tick_duration_seconds)[^\n]*\n/gm, ""));
    numberIds("archive");
    const { town: t3 } = await archiveTown({ townId: "garchive" });
    const m3 = await api("GET", `/api/towns/${t3.townId}/metrics`, { token: TOKENS.read, raw: true });
    await save("golden-metrics-archive", m3.body.replace(/^town_reconciler_(tick_duration_seconds|last_tick_duration_seconds)[^\n]*\n/gm, ""));
    for (const [name, t] of [
      ["demo", town],
      ["failures", t2],
      ["archive", t3],
    ] as const) {
      const s = await api("GET", `/api/towns/${t.townId}/status`, { token: TOKENS.read });
      const { lastTick, ...rest } = s.body;
      await save(`golden-status-${name}`, JSON.stringify(rest, null, 1));
    }
  });
});
