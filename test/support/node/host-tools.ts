/**
 * Tools of the host machine the tests (which run inside workerd) cannot start themselves, served on
 * loopback by globalSetup: `POST /promtool/check-metrics` runs Prometheus's own checker on a body;
 * `POST /replay[?json=1]` runs `npm run replay` (scripts/replay.ts, in Node) on a bundle; and, only
 * while `npm run record-bundles` runs, `PUT /bundles/<name>` writes a recorded bundle to disk.
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { listenOnLoopback } from "./loopback";

const INSTALL_PROMETHEUS = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"] as const;

/** Prometheus's own programs, which no npm package ships: Debian's `prometheus` package has both. */
export type PrometheusTool = "promtool" | "prometheus";
const NEEDED_FOR: Record<PrometheusTool, string> = {
  promtool: "Prometheus's checker, used by the metrics and alert rule tests",
  prometheus: "the Prometheus server, which the fleet discovery test runs",
};

/** The path of `promtool` (see `ensurePrometheusTool`). */
export const ensurePromtool = (): string => ensurePrometheusTool("promtool");

/**
 * The path of `promtool` or `prometheus`. When it is missing and this runs as root on a machine with
 * apt (CI, a fresh container), Debian's package is installed here, the way `playwright install
 * --with-deps` installs system packages: apt-get install, and if that fails (package lists missing or
 * stale) apt-get update and install again. Otherwise the run stops with the one command to type.
 * When the program is there, this is a PATH lookup.
 */
export function ensurePrometheusTool(tool: PrometheusTool): string {
  const found = findTool(tool);
  if (found) return found;
  const command = `sudo ${INSTALL_PROMETHEUS.join(" ")}`;
  const canInstall = process.platform === "linux" && process.getuid?.() === 0 && findExecutable("apt-get") !== null;
  if (!canInstall) {
    throw new Error(`${tool} (${NEEDED_FOR[tool]}) is not installed. Install it with:\n\n  ${command}\n`);
  }
  console.log(`${tool} is missing: installing Debian's prometheus package (${INSTALL_PROMETHEUS.join(" ")})…`);
  const started = Date.now();
  // Synchronous on purpose: the projects' setups run in one process, so a second one waits here
  // instead of racing the first for apt's lock, and then finds promtool installed.
  const apt = (args: readonly string[]) => spawnSync(args[0]!, args.slice(1), { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  let install = apt(INSTALL_PROMETHEUS);
  if (install.status !== 0) {
    const update = apt(["apt-get", "update"]);
    if (update.status !== 0) throw new Error(`apt-get update failed while installing ${tool}:\n${tail(update)}\nInstall it yourself with: ${command}`);
    install = apt(INSTALL_PROMETHEUS);
  }
  const installed = findTool(tool);
  if (install.status !== 0 || !installed) {
    throw new Error(`installing Debian's prometheus package (for ${tool}) failed:\n${tail(install)}\nInstall it yourself with: ${command}`);
  }
  console.log(`${tool} installed (${installed}) in ${Math.round((Date.now() - started) / 1000)} s`);
  return installed;
}

/** On the PATH, or where Debian's package puts it (a PATH without /usr/bin should not hide it). */
function findTool(tool: PrometheusTool): string | null {
  return findExecutable(tool) ?? (isExecutable(`/usr/bin/${tool}`) ? `/usr/bin/${tool}` : null);
}

function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const tail = (result: { stdout: string; stderr: string; error?: Error }) =>
  `${result.error?.message ?? ""}${result.stdout}${result.stderr}`.trim().split("\n").slice(-15).join("\n");

/** Where recorded bundles go (`npm run record-bundles`); RECORD_BUNDLES_DIR writes them elsewhere (a busy day is not kept in the repo). */
const BUNDLES_DIR = resolve(process.env.RECORD_BUNDLES_DIR ?? "test/replay/bundles");

export function startHostTools(promtool: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://host");
      if (url.pathname === "/replay" && req.method === "POST") return runReplay(Buffer.concat(chunks), url.searchParams.get("json") === "1", res);
      if (url.pathname.startsWith("/bundles/") && req.method === "PUT") return saveBundle(url.pathname.slice("/bundles/".length), Buffer.concat(chunks), res);
      if (url.pathname !== "/promtool/check-metrics" || req.method !== "POST") {
        res.writeHead(404).end();
        return;
      }
      const child = spawn(promtool, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", (error) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ available: false, error: error.message })));
      child.on("close", (code) => {
        if (res.headersSent) return;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ available: true, code, stdout, stderr }));
      });
      child.stdin.end(Buffer.concat(chunks));
    });
  });
  return listenOnLoopback(server).then((url) => ({ server, url }));
}

/** `npm run replay` on a bundle, as an engineer runs it: the checkout's code, in Node, from a file. */
function runReplay(bundle: Buffer, json: boolean, res: ServerResponse): void {
  const dir = mkdtempSync(join(tmpdir(), "replay-bundle-"));
  const file = join(dir, "bundle.json");
  writeFileSync(file, bundle);
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/replay.ts", ...(json ? ["--json"] : []), file], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.on("close", (code) => {
    rmSync(dir, { recursive: true, force: true });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ code, stdout, stderr }));
  });
}

/** A recorded bundle to disk, only while recording (a test run never writes into the repository). */
function saveBundle(name: string, bundle: Buffer, res: ServerResponse): void {
  if (!process.env.RECORD_BUNDLES || !/^[a-z0-9-]{1,60}$/.test(name)) {
    res.writeHead(403).end();
    return;
  }
  mkdirSync(BUNDLES_DIR, { recursive: true });
  const path = join(BUNDLES_DIR, `${name}.json`);
  writeFileSync(path, bundle);
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path, bytes: bundle.length }));
}
