import { evictDurableObject } from "cloudflare:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { inject } from "vitest";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createTown, runUntil, sling, TOKENS, type TestTown } from "../support/town";

const hostTools = inject("hostToolsUrl");
let town: TestTown;

beforeAll(async () => {
  // A town that did some work: three beads through review and merge.
  town = await createTown({ simulation: { workMs: 2_000 } });
  for (const id of ["b1", "b2", "b3"]) await sling(town, { id, title: id });
  await runUntil(town, (s) => s.beads.closed === 6, 60);
});

const get = (path: string, headers: Record<string, string> = {}) => api("GET", `/api/towns/${town.townId}${path}`, { token: TOKENS.read, headers });

describe("tick history", () => {
  it("serves the ticks of a window as JSON, oldest first, with every metric", async () => {
    const response = await get(`/ticks?from=0&to=${Date.UTC(2200, 0, 1)}`);
    expect(response.status).toBe(200);
    const { ticks, truncated } = response.body;
    expect(truncated).toBe(false);
    expect(ticks.length).toBeGreaterThan(5);
    expect(ticks.map((t: any) => t.id)).toEqual([...ticks.map((t: any) => t.id)].sort((a: number, b: number) => a - b));
    expect(ticks[0]).toMatchObject({
      result: "ok",
      durationMs: expect.any(Number),
      eventsDrained: expect.any(Number),
      actionsByType: expect.objectContaining({ dispatch_agent: expect.any(Number), transition_bead: expect.any(Number) }),
      effectsAttempted: expect.any(Number),
      queueDepth: expect.any(Number),
      violationsOpen: 0,
      breakerOpen: 0,
    });
    const dispatched = ticks.reduce((n: number, t: any) => n + t.actionsByType.dispatch_agent, 0);
    expect(dispatched).toBe(6); // three polecat dispatches, three reviews
  });

  it("filters by from and to (ISO or epoch ms), and defaults to the last hour", async () => {
    const all = (await get(`/ticks?from=0&to=${Date.UTC(2200, 0, 1)}`)).body.ticks;
    const middle = all[Math.floor(all.length / 2)];
    const window = await get(`/ticks?from=${new Date(middle.at).toISOString()}&to=${middle.at}`);
    expect(window.body.ticks.every((t: any) => t.at === middle.at)).toBe(true);
    expect(window.body.ticks.length).toBeGreaterThan(0);
    expect((await get("/ticks")).body.ticks.length).toBe(all.length);
  });

  it("serves CSV with format=csv or Accept: text/csv", async () => {
    for (const response of [await get("/ticks?format=csv"), await get("/ticks", { accept: "text/csv" })]) {
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      const [header, ...rows] = (response.body as string).trim().split("\r\n");
      expect(header!.split(",").slice(0, 5)).toEqual(["id", "at", "time", "result", "durationMs"]);
      expect(header).toContain("actions_dispatch_agent");
      expect(rows.length).toBe((await get("/ticks")).body.ticks.length);
    }
  });

  it("aggregates each metric over the window", async () => {
    const ticks = (await get("/ticks")).body.ticks;
    const summary = (await get("/ticks/summary")).body;
    expect(summary.ticks).toBe(ticks.length);
    const drained = ticks.map((t: any) => t.eventsDrained).sort((a: number, b: number) => a - b);
    expect(summary.metrics.eventsDrained).toEqual({
      sum: drained.reduce((a: number, b: number) => a + b, 0),
      avg: drained.reduce((a: number, b: number) => a + b, 0) / drained.length,
      min: drained[0],
      max: drained.at(-1),
      count: drained.length,
      p50: drained[Math.ceil(0.5 * drained.length) - 1],
      p95: drained[Math.ceil(0.95 * drained.length) - 1],
      p99: drained[Math.ceil(0.99 * drained.length) - 1],
    });
    expect(Object.keys(summary.metrics)).toEqual(expect.arrayContaining(["durationMs", "queueDepth", "effectsFailed", "violationsOpen"]));
  });

  it("rejects unparsable, reversed and repeated window parameters (400)", async () => {
    for (const q of ["from=yesterday", "from=10&to=5", "from=1&from=2", "format=xml"]) {
      const response = await get(`/ticks?${q}`);
      expect(response.status, q).toBe(400);
      expect(response.body.error.code).toBe("invalid_request");
    }
    expect((await get("/ticks/summary?to=not-a-date")).status).toBe(400);
  });
});

describe("Prometheus metrics", () => {
  it("exposes counters, a histogram and gauges, each series labelled with the town", async () => {
    const response = await get("/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheusTextFormat(response.body as string);
    const byName = new Map(families.map((f: any) => [f.name, f]));
    expect(byName.get("town_reconciler_ticks_total")).toMatchObject({ type: "COUNTER", help: expect.any(String) });
    expect(byName.get("town_reconciler_tick_duration_seconds")).toMatchObject({ type: "HISTOGRAM" });
    expect(byName.get("town_reconciler_event_queue_depth")).toMatchObject({ type: "GAUGE", metrics: [{ value: "0", labels: { town: town.townId } }] });
    const beads = byName.get("town_reconciler_beads") as any;
    expect(beads.metrics.find((m: any) => m.labels.status === "closed").value).toBe("6");
    const dispatches = (byName.get("town_reconciler_actions_total") as any).metrics.filter((m: any) => m.labels.type === "dispatch_agent");
    expect(dispatches.reduce((n: number, m: any) => n + Number(m.value), 0)).toBe(6);
    for (const family of families as any[]) {
      for (const metric of family.metrics) {
        const labels = metric.labels ?? (metric.buckets ? metric.labels : undefined);
        if (labels) expect(labels.town, family.name).toBe(town.townId);
      }
    }
  });

  it("passes promtool check metrics", async () => {
    const text = (await get("/metrics")).body as string;
    const check = await (await fetch(`${hostTools}/promtool/check-metrics`, { method: "POST", body: text })).json<any>();
    expect(check.available, `the test setup found promtool but could not run it: ${check.error}`).toBe(true);
    expect({ code: check.code, problems: `${check.stdout}${check.stderr}`.trim() }).toEqual({ code: 0, problems: "" });
  });

  it("never lets a counter go backwards across an eviction", async () => {
    const ticksTotal = async () => {
      const families = parsePrometheusTextFormat((await get("/metrics")).body as string) as any[];
      return families.find((f) => f.name === "town_reconciler_ticks_total").metrics.reduce((n: number, m: any) => n + Number(m.value), 0);
    };
    const before = await ticksTotal();
    expect(before).toBeGreaterThan(0);
    await evictDurableObject(town.stub);
    expect(await ticksTotal()).toBe(before);
    await town.stub.testAdvance(61_000);
    await (await import("cloudflare:test")).runDurableObjectAlarm(town.stub);
    expect(await ticksTotal()).toBe(before + 1);
  });

  it("requires a read token", async () => {
    expect((await api("GET", `/api/towns/${town.townId}/metrics`)).status).toBe(401);
    expect((await api("GET", `/api/towns/${town.townId}/metrics`, { token: town.agentToken })).status).toBe(403);
    expect((await api("GET", `/api/towns/${town.townId}/ticks`, { token: "wrong" })).status).toBe(401);
  });
});
