/**
 * Tools of the host machine the tests (which run inside workerd) cannot start themselves, served on
 * loopback by globalSetup: `POST /promtool/check-metrics` runs Prometheus's own checker on a body;
 * `POST /replay[?json=1]` runs `npm run replay` (scripts/replay.ts, in Node) on a bundle; and, only
 * while `npm run record-bundles` runs, `PUT /bundles/<name>` writes a recorded bundle to disk.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { listenOnLoopback } from "./loopback";

export { ensurePrometheusTool, ensurePromtool, type PrometheusTool } from "../../../scripts/prometheus";

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
