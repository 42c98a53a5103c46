/**
 * `npm run readme:check [-- --url <base>] [page.md]` — runs a page's shell commands as a reader would,
 * and fails when one fails or prints something other than the page shows.
 *
 * The page (default README.md) is read for fenced code blocks:
 * - a ```sh (or ```bash) block is run, in order, in one bash session (so its variables carry over from
 *   block to block), with `set -eo pipefail`, from the repository's root; ```sh no-run is not run
 *   (installing, starting the server, deploying);
 * - a block whose info string has the word `output` (```json output, ```text output), right after a run
 *   block, is what that block must print on stdout. In it `…` stands for any text within a line, and a
 *   line that is only `…` for any number of lines (ids, tokens and times differ from run to run).
 *
 * By default it starts its own Worker with `wrangler dev` (scripts/local-worker.ts: fresh storage, a
 * free port, the development tokens of .dev.vars) and runs the commands against it, with the page's
 * `localhost:8787` read as that Worker's address. `--url http://localhost:8787` runs them against a
 * server you started (`npm start` on fresh storage), exactly as written.
 * Afterwards it fails if the commands left a file in the repository that git does not ignore.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalWorker, type LocalWorker } from "./local-worker";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Longest a block may run: the tour's longest wait is for merges of simulated agents, seconds each. */
const BLOCK_TIMEOUT_MS = 180_000;
const PAGE_ADDRESS = "localhost:8787";

export interface Block {
  /** Line of the opening fence (1-based). */
  readonly line: number;
  readonly info: string[];
  readonly text: string;
}

export interface Step {
  readonly command: Block;
  readonly output: Block | null;
}

/** The fenced code blocks of a page, in order. */
export function blocksOf(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(```+|~~~+)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith(fence)) body.push(lines[j++]!);
    blocks.push({ line: i + 1, info: open[2]!.trim().split(/\s+/).filter(Boolean), text: body.join("\n") });
    i = j;
  }
  return blocks;
}

const isShell = (block: Block) => ["sh", "bash", "shell"].includes(block.info[0] ?? "");
const isOutput = (block: Block) => block.info.includes("output");

/** The commands to run, each with the output it must print (if the page shows one). */
export function stepsOf(markdown: string): Step[] {
  const steps: Array<{ command: Block; output: Block | null }> = [];
  let previous: Block | null = null;
  for (const block of blocksOf(markdown)) {
    if (isOutput(block)) {
      const last = steps.at(-1);
      if (!last || last.command !== previous || last.output) throw new Error(`line ${block.line}: an output block must follow the command block it belongs to`);
      last.output = block;
    } else if (isShell(block) && !block.info.includes("no-run")) {
      steps.push({ command: block, output: null });
    }
    previous = block;
  }
  return steps;
}

/** A line of expected output as a pattern: `…` is any text. */
const linePattern = (line: string) => new RegExp(`^${line.split("…").map(escapeRegExp).join(".*?")}$`);
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether the actual lines are what the expected lines show (`…` lines match any number of lines). */
export function matches(expected: readonly string[], actual: readonly string[]): boolean {
  const patterns = expected.map((line) => (line.trim() === "…" ? null : linePattern(line)));
  const memo = new Map<string, boolean>();
  const from = (e: number, a: number): boolean => {
    const key = `${e},${a}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (e === patterns.length) result = a === actual.length;
    else if (patterns[e] === null) result = from(e + 1, a) || (a < actual.length && from(e, a + 1));
    else result = a < actual.length && patterns[e]!.test(actual[a]!) && from(e + 1, a + 1);
    memo.set(key, result);
    return result;
  };
  return from(0, 0);
}

const linesOf = (text: string) => {
  const lines = text.split("\n").map((line) => line.trimEnd());
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  return lines;
};

/** One bash for the whole page: each block is written to it, followed by a marker that says it ended. */
class Session {
  private stdout = "";
  private stderr = "";
  private readonly marker = `__readme_check_${randomUUID()}__`;
  private readonly shell = spawn("bash", ["--noprofile", "--norc"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: process.env });
  private exit: number | null = null;

  constructor() {
    this.shell.stdout.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.shell.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.shell.on("exit", (code, signal) => (this.exit = code ?? (signal ? 128 : 1)));
    this.shell.stdin.write("set -eo pipefail\n");
  }

  /** Runs a block; resolves with what it printed, or with the reason it failed. */
  async run(text: string): Promise<{ stdout: string; stderr: string; failure: string | null }> {
    this.stdout = "";
    this.stderr = "";
    this.shell.stdin.write(`${text}\nprintf '\\n%s\\n' ${this.marker}\nprintf '%s\\n' ${this.marker} >&2\n`);
    const deadline = Date.now() + BLOCK_TIMEOUT_MS;
    for (;;) {
      const done = this.stdout.includes(`\n${this.marker}\n`) && this.stderr.includes(`${this.marker}\n`);
      if (done) {
        return { stdout: this.stdout.slice(0, this.stdout.indexOf(`\n${this.marker}\n`)), stderr: this.stderr.replace(`${this.marker}\n`, ""), failure: null };
      }
      if (this.exit !== null) return { stdout: this.stdout, stderr: this.stderr, failure: `a command failed (the shell exited with status ${this.exit})` };
      if (Date.now() > deadline) return { stdout: this.stdout, stderr: this.stderr, failure: `it did not finish in ${BLOCK_TIMEOUT_MS / 1000} s` };
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    if (this.exit === null) this.shell.kill("SIGTERM");
  }
}

/** Files git would see (untracked and not ignored). */
function untracked(): Set<string> {
  const result = spawnSync("git", ["ls-files", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
  return new Set(result.stdout.split("\n").filter(Boolean));
}

const indent = (text: string) =>
  text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");

async function main(argv: string[]): Promise<number> {
  let url: string | null = null;
  let page = "README.md";
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--url") url = argv[++i] ?? null;
    else page = argv[i]!;
  }
  const path = resolve(page);
  const steps = stepsOf(readFileSync(path, "utf8"));
  const name = relative(ROOT, path);
  const started = Date.now();
  let worker: LocalWorker | null = null;
  if (!url) {
    process.stderr.write("readme:check: starting a local Worker (wrangler dev, fresh storage)…\n");
    worker = await startLocalWorker({ vars: { LOG_LEVEL: "info" } });
  }
  const address = worker ? new URL(worker.url).host : null;
  const local = (text: string) => (address ? text.replaceAll(PAGE_ADDRESS, address) : text);
  const before = untracked();
  const session = new Session();
  let failed = 0;
  try {
    for (const [index, step] of steps.entries()) {
      const where = `${name}:${step.command.line}`;
      process.stderr.write(`readme:check: block ${index + 1} of ${steps.length} (${where})\n`);
      const result = await session.run(local(step.command.text));
      const expected = step.output ? linesOf(local(step.output.text)) : null;
      const actual = linesOf(result.stdout);
      const mismatch = expected !== null && result.failure === null && !matches(expected, actual);
      if (result.failure === null && !mismatch) continue;
      failed++;
      console.error(`\n${where}: ${result.failure ?? `it printed something other than the page shows (${name}:${step.output!.line})`}`);
      console.error(`  the commands:\n${indent(step.command.text)}`);
      if (expected) console.error(`  the page shows:\n${indent(expected.join("\n"))}`);
      console.error(`  they printed:\n${indent(actual.join("\n") || "(nothing)")}`);
      if (result.stderr.trim()) console.error(`  and on stderr:\n${indent(result.stderr.trim().split("\n").slice(-20).join("\n"))}`);
      if (worker) console.error(`  the Worker's last output:\n${indent(worker.recentOutput().trim().split("\n").slice(-15).join("\n"))}`);
      break;
    }
  } finally {
    session.close();
    await worker?.stop();
  }
  const left = [...untracked()].filter((file) => !before.has(file));
  if (left.length > 0) {
    failed++;
    console.error(`\nthe commands left files git does not ignore: ${left.join(", ")}`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (failed > 0) {
    console.error(`\nreadme:check: ${name} does not do what it says (${seconds} s)`);
    return 1;
  }
  const shown = steps.filter((step) => step.output).length;
  console.log(`readme:check: ${name}: ${steps.length} blocks ran, ${shown} printed what the page shows (${seconds} s)`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
