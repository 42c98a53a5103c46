/**
 * `npm run replay -- [--json] [--max-bytes <n>] <bundle.json>` — replays a town's recorded history
 * (a bundle from `GET /api/towns/:townId/debug/history`) with the code of this checkout, and prints
 * where this build decides differently from the build that recorded it: per diverging tick, its id and
 * time, the actions only recorded and the actions only replayed, each with its rule (and the reason,
 * for a replayed one), then a summary line.
 *
 * Exit status: 0 nothing diverges; 1 some ticks diverge; 2 no verdict: the bundle was refused (too
 * large, truncated, edited, another format version, incomplete), the arguments are wrong, or the
 * replay itself failed (never 1, which a script would read as a divergence).
 * `--json` prints one JSON object instead (use `npm run -s replay …`, so npm's banner stays out of it).
 * Progress goes to stderr on long bundles.
 */
import { readFileSync, statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { BundleHistory } from "../src/replay/bundle-history";
import { BundleRefused, DEFAULT_MAX_BUNDLE_BYTES, readBundle, sizeText, tooLarge } from "../src/replay/bundle-reader";
import { configDrift, replayReportText } from "../src/replay/report-text";
import { replayHistory } from "../src/replay/replay";

const USAGE = "usage: npm run replay -- [--json] [--max-bytes <bytes>] <bundle.json>";
/** Progress only for replays that take a while, so short ones print nothing but their answer. */
const PROGRESS_AFTER_MS = 1_000;
const PROGRESS_EVERY_MS = 1_000;

function main(argv: string[]): Promise<number> | number {
  let json = false;
  let maxBytes = DEFAULT_MAX_BUNDLE_BYTES;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--json") json = true;
    else if (arg === "--max-bytes") {
      maxBytes = Number(argv[++i]);
      if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) return usage("--max-bytes takes a number of bytes");
    } else if (arg === "-h" || arg === "--help") {
      console.log(USAGE);
      return 0;
    } else if (arg.startsWith("-")) return usage(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length !== 1) return usage(files.length === 0 ? "name the bundle to replay" : "name one bundle");
  return replayFile(files[0]!, { json, maxBytes });
}

async function replayFile(path: string, options: { json: boolean; maxBytes: number }): Promise<number> {
  const started = performance.now();
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    return refuse(path, `cannot read it: ${(error as Error).message}`);
  }
  // Refused before it is read: a bundle too large for this process's memory never gets that far.
  if (size > options.maxBytes) return refuse(path, tooLarge(size, options.maxBytes).message);
  const progress = new Progress(started);
  try {
    const text = readFileSync(path, "utf8");
    progress.note(`read ${sizeText(size)}; checking it`);
    const bundle = await readBundle(text, { maxBytes: options.maxBytes, bytes: size });
    const total = bundle.ticks.length;
    progress.note(`checked; replaying ${total.toLocaleString("en-US")} ticks`);
    let done = 0;
    const report = replayHistory(new BundleHistory(bundle), bundle.window.from, {
      shown: Number.POSITIVE_INFINITY,
      onTick: () => progress.note(`replaying tick ${(++done).toLocaleString("en-US")} of ${total.toLocaleString("en-US")}`),
    });
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    const drift = configDrift(bundle);
    const divergent = report.divergence.ticks;
    if (options.json) {
      console.log(
        JSON.stringify({
          townId: bundle.townId,
          window: bundle.window,
          snapshot: report.snapshot,
          ticksReplayed: report.ticksReplayed,
          ticksInWindow: report.ticksInWindow,
          eventsReplayed: report.eventsReplayed,
          divergentTicks: divergent,
          divergences: report.divergence.shown,
          configDrift: drift,
          seconds,
        }),
      );
    } else {
      console.log(replayReportText(bundle, report, seconds));
    }
    return divergent === 0 ? 0 : 1;
  } catch (error) {
    progress.done();
    if (error instanceof BundleRefused) return refuse(path, error.message);
    console.error(`replay: replaying ${path} failed — a bug in this checkout's replay, or a bundle it cannot handle:`, error);
    return 2;
  }
}

/** A progress line on stderr, only once a replay has taken a while; rewritten in place on a terminal. */
class Progress {
  private last = 0;
  private shown = false;
  constructor(private readonly started: number) {}

  note(text: string): void {
    const now = performance.now();
    if (now - this.started < PROGRESS_AFTER_MS || now - this.last < PROGRESS_EVERY_MS) return;
    this.last = now;
    this.shown = true;
    const line = `replay: ${text} (${((now - this.started) / 1000).toFixed(0)} s)`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  }

  done(): void {
    if (this.shown && process.stderr.isTTY) process.stderr.write("\n");
  }
}

function refuse(path: string, message: string): number {
  console.error(`replay: ${path} refused: ${message}`);
  return 2;
}

function usage(problem: string): number {
  console.error(`replay: ${problem}\n${USAGE}`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
