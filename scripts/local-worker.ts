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
  readonly port: number;
  /** The local storage folder (kept by `crash`, removed by `stop` unless it was given). */
  readonly persistTo: string;
  stop(): Promise<void>;
  /** SIGKILL to the runtime's whole process group (wrangler and workerd), as a crashed machine would. */
  crash(): Promise<void>;
  /** The last lines wrangler and the runtime printed (for a failure's message). */
  recentOutput(): string;
}

/** How much of the runtime's output is kept for `recentOutput`. */
const OUTPUT_KEPT = 8_192;

export interface LocalWorkerOptions {
  readonly script?: string;
  readonly vars?: Record<string, string>;
  /** Reuse this storage folder (a restart after a crash); default: a new temporary one. */
  readonly persistTo?: string;
  /** Listen on this port (a restart keeps its address); default: a free one. */
  readonly port?: number;
  /**
   * Without wrangler's inspector (the DevTools connection it keeps to the runtime), which nothing here
   * uses. With it, the fleet bench's handover at 100,000 towns ended the runtime in every try; without it
   * the same steps ran through. Wrangler starts none when it believes it runs in an editor's debug
   * terminal (VSCODE_INSPECTOR_OPTIONS set), which is the one switch it has for that.
   */
  readonly inspector?: boolean;
}

/** One API call with a bearer token and a JSON body: its status and its parsed JSON (null when empty). */
export async function callApi(base: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function startLocalWorker(options: LocalWorkerOptions = {}): Promise<LocalWorker> {
  const port = options.port ?? (await freePort());
  const persist = options.persistTo ?? mkdtempSync(join(tmpdir(), "town-local-"));
  const vars = Object.entries({ LOG_LEVEL: "error", ...options.vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const args = [
    "dev",
    ...(options.script ? [options.script] : []),
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--persist-to",
    persist,
    ...vars,
    "--show-interactive-dev-session=false",
  ];
  // Its own process group, so a crash can take wrangler and the runtime it started down together.
  const child = spawn("wrangler", args, {
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      ...(options.inspector === false ? { VSCODE_INSPECTOR_OPTIONS: "{}" } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  await ready(child);
  let recent = "";
  const keep = (chunk: Buffer) => (recent = (recent + chunk.toString()).slice(-OUTPUT_KEPT));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = () => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve)));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    persistTo: persist,
    async stop() {
      child.kill("SIGTERM");
      await exited();
      if (!options.persistTo) rmSync(persist, { recursive: true, force: true });
    },
    async crash() {
      process.kill(-child.pid!, "SIGKILL");
      await exited();
    },
    recentOutput: () => recent,
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
        child.stdout!.off("data", onData);
        child.stderr!.off("data", onData);
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

/** A port nothing listens on now (the OS picks it). */
export function freePort(): Promise<number> {
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
