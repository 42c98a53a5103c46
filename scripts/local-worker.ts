/**
 * Starts the Worker locally with `wrangler dev` (embedded SQLite, simulated containers) on a free
 * loopback port, in its own storage folder, for the benchmark, the browser test and the load script.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LocalWorker {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startLocalWorker(options: { script?: string; vars?: Record<string, string> } = {}): Promise<LocalWorker> {
  const port = await freePort();
  const persist = mkdtempSync(join(tmpdir(), "town-local-"));
  const vars = Object.entries({ LOG_LEVEL: "error", ...options.vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const args = ["dev", ...(options.script ? [options.script] : []), "--port", String(port), "--ip", "127.0.0.1", "--persist-to", persist, ...vars, "--show-interactive-dev-session=false"];
  const child = spawn("wrangler", args, {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await ready(child);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!output.includes("Ready on")) reject(new Error(`wrangler dev exited (${code}):\n${output}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** The development tokens of `.dev.vars`, which `wrangler dev` reads. */
export const DEV_TOKENS = { admin: "dev-admin-token", read: "dev-read-token", debug: "dev-debug-token" } as const;
