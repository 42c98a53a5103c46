/**
 * Tools of the host machine the tests (which run inside workerd) cannot start themselves, served on
 * loopback by globalSetup: `POST /promtool/check-metrics` runs Prometheus's own checker on a body.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { listenOnLoopback } from "./loopback";

export function startHostTools(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url !== "/promtool/check-metrics" || req.method !== "POST") {
        res.writeHead(404).end();
        return;
      }
      const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
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
