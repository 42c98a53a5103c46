import { runInDurableObject } from "cloudflare:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { beforeAll, describe, expect, it } from "vitest";
import type { CounterRow } from "../../src/db/counter-store";
import { CounterDeltas, CounterReadings } from "../../src/observability/counters";
import { renderPrometheus, type GaugeReadings } from "../../src/observability/prometheus";
import { formatLabels, METRIC_FAMILIES, METRICS } from "../../src/observability/metrics";
import { api, createTown, runUntil, sling, TOKENS, type TestTown } from "../support/town";

/**
 * The metric families of src/observability/metrics.ts are the only names the town writes and exposes:
 * what is declared is exposed, with its help, type and labels; what is not is a type error to write, and
 * a persisted series no family declares (an older version's) is shown, never dropped in silence.
 */

let town: TestTown;
const metrics = async (t: TestTown) => (await api("GET", `/api/towns/${t.townId}/metrics`, { token: TOKENS.read })).body as string;

beforeAll(async () => {
  // A town that did some work: two beads through review and merge; with a budget, whose gauge only a town with one shows.
  town = await createTown({ simulation: { workMs: 2_000 }, budget: { containerHoursPerDay: 1_000 } });
  for (const id of ["b1", "b2"]) await sling(town, { id, title: id });
  await runUntil(town, (s) => s.beads.closed === 4, 60);
});

describe("the declared metric families", () => {
  it("are exactly the families of the exposition, each with its help, type, label names and buckets", async () => {
    const text = await metrics(town);
    const families = parsePrometheusTextFormat(text) as any[];
    expect(families.map((f) => f.name).sort()).toEqual(METRIC_FAMILIES.map((f) => f.name).sort());
    for (const declared of METRIC_FAMILIES) {
      const family = families.find((f) => f.name === declared.name);
      expect({ type: family.type, help: family.help }, declared.name).toEqual({ type: declared.type.toUpperCase(), help: declared.help });
      if (declared.type !== "histogram") continue;
      for (const { buckets } of family.metrics) {
        expect(
          Object.keys(buckets)
            .filter((le) => le !== "+Inf")
            .map(Number)
            .sort((a, b) => a - b),
          declared.name,
        ).toEqual(declared.buckets);
      }
    }
    // Every sample (read from the text: the parser drops a histogram's labels) carries its family's labels and the town's.
    const sampled = new Set<string>();
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      const [, name, labels] = /^(\w+)\{(.*)\} \S+$/.exec(line)!;
      const family = METRIC_FAMILIES.find(
        (f) => f.name === name || (f.type === "histogram" && [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(name!)),
      )!;
      const keys = [...labels!.matchAll(/(\w+)="(?:[^"\\]|\\.)*"/g)].map((m) => m[1]).sort();
      expect(keys, line).toEqual([...family.labels, "town", ...(name!.endsWith("_bucket") ? ["le"] : [])].sort());
      sampled.add(family.name);
    }
    // The work above wrote series of these, so their labels were checked, not just their headers.
    expect([...sampled]).toEqual(
      expect.arrayContaining(
        [METRICS.ticks, METRICS.eventsDrained, METRICS.actions, METRICS.sideEffects, METRICS.tickDuration, METRICS.eventQueueDuration, METRICS.agents].map(
          (f) => f.name,
        ),
      ),
    );
  });

  it("adds a series' total an earlier version kept in a row of its own to what is kept now", async () => {
    const older = await createTown();
    const ticks = (text: string) => Number(/^town_reconciler_ticks_total\{result="ok",town="[^"]+"\} (\S+)$/m.exec(text)?.[1] ?? NaN);
    const before = ticks(await metrics(older));
    // What an earlier version left in `counters`, a row per series: 100 ticks.
    await runInDurableObject(older.stub, (_instance, state) => {
      state.storage.sql.exec("INSERT INTO counters (name, labels, value) VALUES (?, ?, ?)", "town_reconciler_ticks_total", formatLabels({ result: "ok" }), 100);
    });
    expect(ticks(await metrics(older))).toBe((Number.isNaN(before) ? 0 : before) + 100);
  });

  it("shows a persisted series no family declares as untyped, with its value, rather than dropping it", async () => {
    const older = await createTown();
    await runInDurableObject(older.stub, (_instance, state) => {
      state.storage.sql.exec("INSERT INTO counters (name, labels, value) VALUES (?, ?, ?)", "town_reconciler_retired_total", formatLabels({ kind: "x" }), 7);
    });
    const family = (parsePrometheusTextFormat(await metrics(older)) as any[]).find((f) => f.name === "town_reconciler_retired_total");
    expect(family).toMatchObject({
      type: "UNTYPED",
      help: expect.stringContaining("Not declared"),
      metrics: [{ value: "7", labels: { kind: "x", town: older.townId } }],
    });
  });
});

describe("recording through a family", () => {
  it("writes exactly the family's labels, and only for a declared family", () => {
    const deltas = new CounterDeltas();
    deltas.add(METRICS.actions, { type: "dispatch_agent", rule: "beads.dispatch" }, 2);
    // @ts-expect-error a label the family does not declare
    deltas.add(METRICS.ticks, { result: "ok", extra: "x" });
    // @ts-expect-error a label missing (and at run time no series with a hole in it)
    expect(() => deltas.add(METRICS.actions, { type: "dispatch_agent" })).toThrow("town_reconciler_actions_total needs its label rule");
    // @ts-expect-error labels on a family without any
    deltas.add(METRICS.eventRetries, { type: "x" });
    // @ts-expect-error a gauge is read from the live town, not counted
    deltas.add(METRICS.eventQueueDepth, {});
    // @ts-expect-error a histogram is observed, not counted
    deltas.add(METRICS.tickDuration, {});
    // @ts-expect-error a misspelt family does not exist (and is no series at run time either)
    expect(() => deltas.add(METRICS.tick, { result: "ok" })).toThrow(TypeError);
    // Wrong at compile time; at run time each series carries only what its family declares.
    expect(deltas.list().map((d) => `${d.name}{${d.labels}}`)).toEqual([
      'town_reconciler_actions_total{rule="beads.dispatch",type="dispatch_agent"}',
      'town_reconciler_ticks_total{result="ok"}',
      "town_reconciler_event_retries_total{}",
      "town_reconciler_event_queue_depth{}",
      "town_reconciler_tick_duration_seconds{}",
    ]);
  });

  it("observes a histogram into the one bucket each value falls in, and their sum", () => {
    const rows = new CounterDeltas().observeAll(METRICS.eventQueueDuration, {}, [0.2, 0.3, 4, 7_000]).list();
    // A row per bucket hit (not every cumulative bucket), and the sum: the count is the hits'.
    expect(rows).toEqual([
      { name: "town_reconciler_event_queue_duration_seconds_bucket_hits", labels: 'le="0.5"', value: 2 },
      { name: "town_reconciler_event_queue_duration_seconds_bucket_hits", labels: 'le="5"', value: 1 },
      { name: "town_reconciler_event_queue_duration_seconds_bucket_hits", labels: 'le="+Inf"', value: 1 },
      { name: "town_reconciler_event_queue_duration_seconds_sum", labels: "", value: 7_004.5 },
    ]);
  });
});

describe("a histogram's exposition", () => {
  const lines = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(name));
  const NO_GAUGES = Object.fromEntries(
    Object.entries(METRICS)
      .filter(([, f]) => f.type === "gauge")
      .map(([key]) => [key, null]),
  ) as unknown as GaugeReadings;
  const render = (rows: readonly CounterRow[]) => renderPrometheus("t1", rows, NO_GAUGES);

  it("shows every cumulative bucket and the count, derived from the buckets hit", () => {
    const text = render(new CounterDeltas().observeAll(METRICS.tickDuration, {}, [0.0005, 0.003, 0.003, 42]).list());
    expect(lines(text, "town_reconciler_tick_duration_seconds")).toEqual([
      ...METRICS.tickDuration.buckets.map((le) => `town_reconciler_tick_duration_seconds_bucket{le="${le}",town="t1"} ${le < 0.005 ? 1 : 3}`),
      'town_reconciler_tick_duration_seconds_bucket{le="+Inf",town="t1"} 4',
      `town_reconciler_tick_duration_seconds_sum{town="t1"} ${0.0005 + 0.003 + 0.003 + 42}`,
      'town_reconciler_tick_duration_seconds_count{town="t1"} 4',
    ]);
  });

  it("adds what an earlier version stored as cumulative buckets, so no series goes backwards", () => {
    // Two observations (0.003 and 0.2) as the earlier version wrote them: every cumulative bucket, the sum and the count.
    const family = METRICS.tickDuration;
    const earlier: CounterRow[] = [
      ...family.buckets.map((le) => ({ name: `${family.name}_bucket`, labels: `le="${le}"`, value: (le >= 0.003 ? 1 : 0) + (le >= 0.2 ? 1 : 0) })),
      { name: `${family.name}_bucket`, labels: 'le="+Inf"', value: 2 },
      { name: `${family.name}_sum`, labels: "", value: 0.003 + 0.2 },
      { name: `${family.name}_count`, labels: "", value: 2 },
    ];
    const before = render(earlier);
    // The same two observations as this version stores them render the same text.
    expect(render(new CounterDeltas().observeAll(family, {}, [0.003, 0.2]).list())).toBe(before);
    // One more, stored as a bucket hit beside the earlier rows, raises the buckets at and above it and the count.
    const after = render([
      ...earlier.filter((r) => !r.name.endsWith("_sum")),
      ...new CounterDeltas()
        .observe(family, {}, 0.03)
        .list()
        .filter((r) => !r.name.endsWith("_sum")),
      { name: `${family.name}_sum`, labels: "", value: 0.233 },
    ]);
    expect(lines(after, `${family.name}_bucket{le="0.025"`)).toEqual([`${family.name}_bucket{le="0.025",town="t1"} 1`]);
    expect(lines(after, `${family.name}_bucket{le="0.05"`)).toEqual([`${family.name}_bucket{le="0.05",town="t1"} 2`]);
    expect(lines(after, `${family.name}_bucket{le="+Inf"`)).toEqual([`${family.name}_bucket{le="+Inf",town="t1"} 3`]);
    expect(lines(after, `${family.name}_count`)).toEqual([`${family.name}_count{town="t1"} 3`]);
  });
});

describe("reading counters", () => {
  it("sums a counter by label value, not by the text of its labels", () => {
    const readings = new CounterReadings(
      new CounterDeltas()
        .add(METRICS.sideEffects, { kind: "dispatch", outcome: "ok" }, 5)
        .add(METRICS.sideEffects, { kind: "dispatch", outcome: "failed" }, 2)
        // A label value that contains another label's text must not count as it.
        .add(METRICS.sideEffects, { kind: 'stop",outcome="ok', outcome: "timeout" }, 1)
        .add(METRICS.ticks, { result: "ok" }, 9)
        .list(),
    );
    expect(readings.sum(METRICS.sideEffects)).toBe(8);
    expect(readings.sum(METRICS.sideEffects, { outcome: "ok" })).toBe(5);
    expect(readings.sum(METRICS.sideEffects, { kind: 'stop",outcome="ok' })).toBe(1);
    expect(readings.sum(METRICS.sideEffects, { kind: "dispatch", outcome: "failed" })).toBe(2);
    expect(readings.sum(METRICS.alarmRearmed)).toBe(0);
    // @ts-expect-error a label the family does not have
    readings.sum(METRICS.ticks, { outcome: "ok" });
  });
});
