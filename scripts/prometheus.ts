/**
 * Prometheus on this machine, for the tests and `npm run observe`: finding (or installing) Debian's
 * `prometheus` package, and the project's scrape configuration (grafana/prometheus/prometheus.yml)
 * pointed at a local Worker.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

const INSTALL_PROMETHEUS = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"] as const;

/** Prometheus's own programs, which no npm package ships: Debian's `prometheus` package has both. */
export type PrometheusTool = "promtool" | "prometheus";
const NEEDED_FOR: Record<PrometheusTool, string> = {
  promtool: "Prometheus's checker, used by the metrics and alert rule tests",
  prometheus: "the Prometheus server, which the fleet discovery test and `npm run observe` run",
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

/** The project's Prometheus files: the production scrape configuration and the alert rules. */
export const PROMETHEUS_EXAMPLES = fileURLToPath(new URL("../grafana/prometheus/", import.meta.url));
export const RULES_FILE = "town-reconciler.rules.yaml";

/**
 * Writes into `dir` the project's scrape configuration with its production URL and token file swapped
 * for a local Worker's (http_sd on its /api/fleet/targets, the read token in a file), scraping and
 * evaluating every `interval`, with the alert rules beside it. Returns the configuration's path.
 */
export function writeLocalPrometheusConfig(dir: string, options: { workerUrl: string; readToken: string; interval: string }): string {
  const tokenFile = join(dir, "read-token");
  writeFileSync(tokenFile, options.readToken);
  copyFileSync(join(PROMETHEUS_EXAMPLES, RULES_FILE), join(dir, RULES_FILE));
  const config = parse(readFileSync(join(PROMETHEUS_EXAMPLES, "prometheus.yml"), "utf8"));
  config.global.scrape_interval = options.interval;
  config.global.evaluation_interval = options.interval;
  const job = config.scrape_configs[0];
  const worker = new URL(options.workerUrl);
  job.scheme = worker.protocol.replace(":", "");
  job.authorization.credentials_file = tokenFile;
  // One entry per registry shard: each keeps its route and query (`?shard=N`), at the local Worker.
  for (const sd of job.http_sd_configs) {
    const example = new URL(sd.url);
    sd.url = new URL(example.pathname + example.search, worker).href;
    sd.refresh_interval = options.interval;
    sd.authorization.credentials_file = tokenFile;
  }
  const path = join(dir, "prometheus.yml");
  writeFileSync(path, stringify(config));
  return path;
}
