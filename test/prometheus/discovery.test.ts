/**
 * A real Prometheus (Debian's package) finds every town through GET /api/fleet/targets?shard=N
 * (http_sd_configs, one entry per registry shard) and scrapes each one's metrics, with the example
 * configuration of grafana/prometheus/prometheus.yml — its URLs and token file swapped for the local
 * ones — against a Worker with as many shards as the example has entries. The Worker
 * runs under `wrangler dev`. Prometheus scrapes in real time, so this test polls it (the only clock
 * there is here is the real one).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { shardOf } from "../../src/fleet/placement";
import { DEV_TOKENS, freePort, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { ensurePrometheusTool, writeLocalPrometheusConfig } from "../../scripts/prometheus";

const TOWNS = ["sd-north", "sd-south", "sd-east"];
let worker: LocalWorker;
let prometheus: ChildProcess;
let prometheusUrl: string;
let dir: string;
let log = "";

const call = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${DEV_TOKENS.admin}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
};

/** Polls `check` every 250 ms until it returns a value, for at most `ms`. */
async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const targets = await fetch(`${prometheusUrl}/api/v1/targets`)
        .then((r) => r.text())
        .catch((e) => String(e));
      throw new Error(`${what}: not within ${ms / 1000} s. Prometheus said:\n${log.slice(-3_000)}\nIts targets:\n${targets.slice(0, 3_000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const api = async (path: string) => ((await (await fetch(`${prometheusUrl}${path}`)).json()) as { data: any }).data;

beforeAll(async () => {
  const binary = ensurePrometheusTool("prometheus");
  const entries = (parse(readFileSync("grafana/prometheus/prometheus.yml", "utf8")).scrape_configs[0].http_sd_configs as unknown[]).length;
  expect(entries).toBeGreaterThan(1);
  // The towns are on more than one shard.
  expect(new Set(TOWNS.map((town) => shardOf(town, entries))).size).toBeGreaterThan(1);
  worker = await startLocalWorker({ vars: { REGISTRY_SHARDS: String(entries) } });
  for (const town of TOWNS) {
    await call("PUT", `/api/towns/${town}`, { config: { simulation: { workMs: 500 } } });
    await call("POST", `/api/towns/${town}/rigs`, { id: "web", name: "web", gitUrl: "https://git.test/web.git" });
    await call("POST", `/api/towns/${town}/beads`, { id: "b1", rigId: "web", title: "Something to do" });
  }
  const layout = await fetch(`${worker.url}/api/fleet/shards`, { headers: { authorization: `Bearer ${DEV_TOKENS.read}` } });
  expect(await layout.json()).toMatchObject({ shards: entries });
  // The example configuration, pointed at this Worker, scraping every second.
  dir = mkdtempSync(join(tmpdir(), "town-prometheus-"));
  const configFile = writeLocalPrometheusConfig(dir, { workerUrl: worker.url, readToken: DEV_TOKENS.read, interval: "1s" });
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  prometheus.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  prometheus.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  await eventually("Prometheus to answer", 30_000, async () => ((await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined));
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill("SIGTERM");
    await new Promise((resolve) => prometheus.once("exit", resolve));
  }
  await worker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Prometheus with http_sd_configs on /api/fleet/targets", () => {
  it("discovers every town, with its metrics path and town label, and scrapes each one up", async () => {
    const targets = await eventually("every town scraped and up", 60_000, async () => {
      const active = (await api("/api/v1/targets?state=active")).activeTargets as any[];
      const mine = active.filter((t) => TOWNS.includes(t.labels.town));
      return mine.length === TOWNS.length && mine.every((t) => t.health === "up") ? mine : undefined;
    });
    for (const target of targets) {
      expect(target.discoveredLabels.__metrics_path__).toBe(`/api/towns/${target.labels.town}/metrics`);
      expect(target.labels.job).toBe("town-reconciler");
      expect(target.scrapeUrl).toBe(`${worker.url}/api/towns/${target.labels.town}/metrics`);
    }
    // Each town found once, through its own shard's entry.
    expect(targets.map((t) => t.labels.town).sort()).toEqual([...TOWNS].sort());
  });

  it("has every town's series, labelled with its town", async () => {
    const towns = await eventually("a series of every town", 30_000, async () => {
      const result = (await api(`/api/v1/query?query=${encodeURIComponent('town_reconciler_beads{status="open"}')}`)).result as any[];
      const found = result.map((r) => r.metric.town).filter((town: string) => TOWNS.includes(town));
      return found.length === TOWNS.length ? found : undefined;
    });
    expect(towns.sort()).toEqual([...TOWNS].sort());
    const up = (await api(`/api/v1/query?query=${encodeURIComponent('up{job="town-reconciler"}')}`)).result as any[];
    expect(up.filter((r) => TOWNS.includes(r.metric.town)).map((r) => r.value[1])).toEqual(["1", "1", "1"]);
  });

  it("loads the alert rules, and finds nothing to alert on in healthy towns", async () => {
    const groups = await eventually("the rules evaluated", 30_000, async () => {
      const loaded = (await api("/api/v1/rules")).groups as any[];
      return loaded.length > 0 && loaded.every((g) => g.rules.every((r: any) => r.health === "ok")) ? loaded : undefined;
    });
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.map((r: any) => r.name)).toContain("TownReconcilerSilent");
    for (const rule of rules)
      expect(
        rule.alerts.filter((a: any) => TOWNS.includes(a.labels.town)),
        rule.name,
      ).toEqual([]);
  });
});
