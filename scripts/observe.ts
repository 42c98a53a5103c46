/**
 * `npm run observe [-- --once]` — with `npm start` running: a local Prometheus (Debian's `prometheus`
 * package, installed as the tests install it when it is missing and can be) with the project's scrape
 * configuration pointed at the local Worker — http_sd on its /api/fleet/targets, every town scraped
 * every 5 s with the read token — and the project's alert rules loaded. It prints where to look and
 * runs until Ctrl-C; its data is thrown away. `--once`: print what Prometheus sees (targets, rules) as
 * soon as every town has been scraped, then stop.
 *
 * Settings: TOWN_URL (default http://localhost:$PORT, PORT 8787), READ_TOKEN (default the development
 * read token of .dev.vars), PROMETHEUS_PORT (default 9090).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_TOKENS } from "./local-worker";
import { ensurePrometheusTool, writeLocalPrometheusConfig } from "./prometheus";

const workerUrl = (process.env.TOWN_URL ?? `http://localhost:${process.env.PORT ?? 8787}`).replace(/\/$/, "");
const readToken = process.env.READ_TOKEN ?? DEV_TOKENS.read;
const port = Number(process.env.PROMETHEUS_PORT ?? 9090);
const once = process.argv.includes("--once");
const INTERVAL = "5s";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
}
interface Rule {
  name: string;
  state?: string;
  health: string;
  type: string;
}

async function main(): Promise<number> {
  // The Worker first: without it there is nothing to see.
  const towns = await fetch(`${workerUrl}/api/fleet/targets`, { headers: { authorization: `Bearer ${readToken}` } }).catch(() => null);
  if (!towns) {
    console.error(`observe: cannot reach ${workerUrl}: start the server first with \`npm start\` (or set TOWN_URL)`);
    return 1;
  }
  if (!towns.ok) {
    console.error(`observe: ${workerUrl}/api/fleet/targets answered ${towns.status}: ${await towns.text()} (READ_TOKEN?)`);
    return 1;
  }
  const townCount = ((await towns.json()) as unknown[]).length;
  const binary = ensurePrometheusTool("prometheus");
  const dir = mkdtempSync(join(tmpdir(), "town-observe-"));
  const config = writeLocalPrometheusConfig(dir, { workerUrl, readToken, interval: INTERVAL });
  const prometheus = spawn(
    binary,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=error"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  let exited: number | null = null;
  prometheus.on("exit", (code) => (exited = code ?? 1));
  const stop = () => {
    if (exited === null) prometheus.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const ui = `http://localhost:${port}`;
  const api = async <T>(path: string): Promise<T> => ((await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as { data: T }).data;
  try {
    // Ready, then the towns discovered and scraped once (or 30 s, whichever comes first).
    for (let i = 0; i < 120 && exited === null; i++) {
      const ready = await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => null);
      if (ready?.ok) break;
      await sleep(250);
    }
    if (exited !== null) {
      console.error(`observe: Prometheus exited (${exited}); is port ${port} taken? PROMETHEUS_PORT picks another`);
      return 1;
    }
    let targets: Target[] = [];
    for (let i = 0; i < 60; i++) {
      targets = (await api<{ activeTargets: Target[] }>("/api/v1/targets?state=active")).activeTargets;
      if (targets.length >= townCount && targets.every((t) => t.health !== "unknown")) break;
      await sleep(500);
    }
    await sleep(1_000); // one evaluation of the rules after the first scrape
    const groups = (await api<{ groups: Array<{ name: string; file: string; rules: Rule[] }> }>("/api/v1/rules")).groups;
    const rules = groups.flatMap((g) => g.rules);
    console.log(`Prometheus at ${ui}, scraping ${workerUrl} every ${INTERVAL} (config and data in ${dir}).`);
    console.log(`\nTargets (${targets.length}, from ${workerUrl}/api/fleet/targets):`);
    for (const t of targets) console.log(`  ${t.health.padEnd(7)} town=${t.labels.town ?? "?"}  ${t.scrapeUrl}${t.lastError ? `  (${t.lastError})` : ""}`);
    if (targets.length === 0) console.log("  none yet: create a town (the README's tour, or npm run demo) and it appears within 5 s");
    const byState = (state: string) => rules.filter((r) => r.state === state).map((r) => r.name);
    console.log(`\nRules (${rules.length}, from ${groups.map((g) => g.file.split("/").pop()).join(", ")}):`);
    for (const state of ["firing", "pending", "inactive"]) {
      const names = byState(state);
      if (names.length > 0) console.log(`  ${state.padEnd(8)} ${names.join(", ")}`);
    }
    if (once) return 0;
    console.log(`\nLook at:
  ${ui}/targets      every town's target and its health
  ${ui}/alerts       the alert rules and their state
  ${ui}/graph?g0.expr=${encodeURIComponent("town_reconciler_beads")}&g0.tab=1   a query (the beads of every town, by status)

Ctrl-C stops it.`);
    await new Promise((resolve) => prometheus.once("exit", resolve));
    return 0;
  } finally {
    stop();
    if (exited === null) await new Promise((resolve) => prometheus.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
