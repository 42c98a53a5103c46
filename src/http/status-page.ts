import { runbookOf } from "../domain/invariants";
import type { TickView } from "../views/tick-history";
import type { AlarmStatus } from "../views/town-status";
import type { StuckBead, StuckWork } from "../views/stuck-work";
import { curl, ORIGIN_PLACEHOLDER } from "./commands-to-copy";
import { esc, htmlResponse, signIn, time } from "./page-kit";
import { unwrap, type RouteContext } from "./route";

/** Failed and waiting beads the page lists, of each. */
const STUCK_ON_PAGE = 20;

export interface PageOptions {
  /** Where the repository's docs/runbooks/ can be read (RUNBOOKS_URL); without it, the page names the file. */
  readonly runbooksUrl?: string | undefined;
  /** The Worker's address, for the commands the page offers to copy (default: a placeholder). */
  readonly origin?: string;
}

/**
 * The town's status page: one self-contained HTML document (inline CSS and SVG, no script, no outside
 * resource) that refreshes itself every 10 seconds. First what is stuck (failed beads, beads not
 * moving, and why), then health, counts, open violations with their runbooks, and the last hour. The
 * read token comes once as `?token=`; the page then keeps it in an HttpOnly cookie and redirects, so the
 * token leaves the address bar and history.
 */
export async function statusPage({
  request,
  env,
  town,
  token,
}: Pick<RouteContext<"/towns/:townId", unknown, unknown>, "request" | "env" | "town" | "token">): Promise<Response> {
  const signedIn = signIn(request, token);
  if (signedIn) return signedIn;
  const url = new URL(request.url);
  const [status, history, stuck] = await Promise.all([town.status(), town.ticks({}), town.stuckWork(STUCK_ON_PAGE)]);
  const page = renderStatusPage(unwrap(status), unwrap(history).ticks, unwrap(stuck), { runbooksUrl: env.RUNBOOKS_URL, origin: url.origin });
  return htmlResponse(page);
}

export function renderStatusPage(status: AlarmStatus, ticks: readonly TickView[], stuck: StuckWork, options: PageOptions = {}): string {
  const group = (title: string, counts: Record<string, number>, prefix: string) =>
    `<section><h2>${esc(title)}</h2><div class="metrics">${Object.entries(counts)
      .map(([key, n]) => metric(`${prefix}.${key}`, key.replace(/_/g, " "), n))
      .join("")}</div></section>`;
  const violations =
    status.violations.list.length === 0
      ? `<p class="ok">No invariant is violated.</p>`
      : `<ul>${status.violations.list
          .map(
            (v) =>
              `<li data-invariant="${esc(v.invariant)}"><b>Invariant ${esc(v.invariant)}</b> since ${esc(time(v.since))}: ${esc(v.message)} · ${runbookLink(v.invariant, options.runbooksUrl)}</li>`,
          )
          .join("")}</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Town ${esc(status.townId)} — town-reconciler</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:16px;background:#f6f7f9;color:#1d2330;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 8px}
.sub{color:#5b6475;margin:0 0 8px}.metrics{display:flex;flex-wrap:wrap;gap:8px}
.metric{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px 12px;min-width:96px}
.metric .label{display:block;color:#5b6475;font-size:12px}.metric .value{font-size:20px;font-weight:600}
.warn{border-color:#d9534f;background:#fdf0ef}.ok{color:#2e7d32}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px;max-width:100%;box-sizing:border-box}
svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#5b6475;margin-bottom:4px}svg text{font-size:10px;fill:#5b6475}
h3{font-size:14px;margin:12px 0 6px}a{color:#1f5fbf}code{font-size:12px}
ul.stuck{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
ul.stuck>li{background:#fff;border:1px solid #dde1e8;border-left:4px solid #e0a800;border-radius:6px;padding:6px 10px}
ul.stuck>li[data-kind="failed"]{border-left-color:#d9534f}.stuck .meta{color:#5b6475;font-size:12px}
ul.reasons{margin:4px 0 0;padding-left:18px}.reasons code{background:#eef1f5;border-radius:3px;padding:0 3px}
.failure{margin:4px 0 0;color:#8a1f1b}.command{display:block;margin:2px 0 0;white-space:pre-wrap;word-break:break-all;user-select:all}
.paused{background:#fff4e5;border:1px solid #e0a800;border-radius:6px;padding:8px 12px;margin:8px 0}
</style>
</head>
<body>
<h1>Town <span data-metric="townId">${esc(status.townId)}</span></h1>
<p class="sub">As of ${esc(time(status.now))} · next tick ${esc(time(status.alarm.nextFireAt))} (${esc(status.alarm.reason)}) · refreshes every 10 s</p>
${pausedBanner(status, options.origin)}
${stuckSection(status.townId, stuck, status.queue.dead, options.origin)}
<section><h2>Health</h2><div class="metrics">
${metric("violations.open", "open violations", status.violations.open, status.violations.open > 0)}
${metric("queue.pending", "pending events", status.queue.pending, status.queue.pending > 50)}
${metric("queue.oldestPendingAgeMs", "oldest pending (ms)", status.queue.oldestPendingAgeMs ?? 0)}
${metric("queue.dead", "dead letters", status.queue.dead, status.queue.dead > 0)}
${metric("breaker.status", "breaker", status.breaker.status, status.breaker.open === 1)}
${metric("breaker.recentFailures", "recent dispatch failures", status.breaker.recentFailures)}
${metric("outbox.pending", "side effects waiting", status.outbox.pending)}
</div></section>
${usageSection(status.usage)}
${group("Agents", status.agents, "agents")}
${group("Beads", status.beads, "beads")}
<section><h2>Invariant violations</h2>${violations}</section>
<section><h2>Last hour (${ticks.length} ticks)</h2><div class="charts">
${chart("wall-clock", "Tick wall clock (ms) — alert above 500", ticks, (t) => t.durationMs, 500)}
${chart("queue-depth", "Pending event queue depth — alert above 50", ticks, (t) => t.queueDepth, 50)}
</div></section>
</body>
</html>
`;
}

/**
 * What is stuck, first on the page: failed beads and beads not moving, each with explain's reasons and
 * the commands that lift them, and links to pages (under the page's cookie) that tell more: the bead
 * with its explanation and history, and the dead letters when there are any.
 */
function stuckSection(townId: string, stuck: StuckWork, deadLetters: number, origin = ORIGIN_PLACEHOLDER): string {
  const pages = `/towns/${encodeURIComponent(townId)}`;
  const deadLettersHref = `${pages}/dead-letters`;
  const item = (bead: StuckBead, kind: "failed" | "waiting") => {
    const beadHref = `${pages}/beads/${encodeURIComponent(bead.id)}`;
    const when = `${bead.status.replace(/_/g, " ")}, last changed ${time(bead.updatedAt)}`;
    const reasons = bead.reasons
      .map(
        (r) =>
          `<li data-reason="${esc(r.code)}"><code>${esc(r.code)}</code> ${esc(r.message)}${r.until === undefined ? "" : ` (until ${esc(time(r.until))})`}${
            r.command ? `<code class="command" data-command="${esc(r.command)}">${esc(curl(r.command, origin))}</code>` : ""
          }</li>`,
      )
      .join("");
    const failure = bead.lastFailure
      ? `<p class="failure" data-failure="${esc(bead.lastFailure.code)}">${bead.status === "failed" ? "Failed" : "Last attempt failed"}: <code>${esc(bead.lastFailure.code)}</code> ${esc(bead.lastFailure.message)}${
          bead.lastFailure.agentId ? ` (agent ${esc(bead.lastFailure.agentId)}, generation ${esc(bead.lastFailure.generation)})` : ""
        } at ${esc(time(bead.lastFailure.at))}</p>`
      : "";
    return `<li data-bead="${esc(bead.id)}" data-kind="${kind}">
<div><b><a data-link="bead" href="${esc(beadHref)}">${esc(bead.id)}</a></b> ${esc(bead.title)}
<span class="meta">· ${esc(bead.type.replace(/_/g, " "))}${bead.rigId ? ` in ${esc(bead.rigId)}` : ""} · ${esc(when)} · ${esc(bead.dispatchAttempts)} dispatch attempt(s)
· <a data-link="explain" href="${esc(beadHref)}#explain">why</a> · <a data-link="history" href="${esc(beadHref)}#history">history</a></span></div>
${failure}<ul class="reasons">${reasons}</ul></li>`;
  };
  const list = (kind: "failed" | "waiting", beads: readonly StuckBead[], none: string) =>
    beads.length === 0
      ? `<p class="ok" id="stuck-${kind}-none">${esc(none)}</p>`
      : `<ul class="stuck" id="stuck-${kind}">${beads.map((b) => item(b, kind)).join("")}</ul>`;
  return `<section id="stuck"><h2>What is stuck</h2>
<p class="sub">The most recent first, at most ${esc(stuck.limit)} of each. A command to copy takes the admin token in <code>$ADMIN_TOKEN</code>.
${deadLetters > 0 ? `Dead-lettered events: <a data-link="dead-letters" href="${esc(deadLettersHref)}">${esc(deadLetters)}</a>.` : "No event is dead-lettered."}</p>
<h3>Failed (<span data-metric="stuck.failed">${esc(stuck.failed.length)}</span>${stuck.moreFailed ? "+" : ""})</h3>
${list("failed", stuck.failed, "No bead has failed.")}
<h3>Waiting (<span data-metric="stuck.waiting">${esc(stuck.waiting.length)}</span>${stuck.moreWaiting ? "+" : ""})</h3>
${list("waiting", stuck.waiting, "Nothing is waiting: every open or in-progress bead is moving.")}
</section>`;
}

/** One figure of the page, named as in the status JSON (`data-metric`), highlighted when it needs a look. */
const metric = (name: string, label: string, value: unknown, warn = false): string =>
  `<div class="metric${warn ? " warn" : ""}"><span class="label">${esc(label)}</span><span class="value" data-metric="${esc(name)}">${esc(value)}</span></div>`;

/** Container time of the UTC day against the budget (DESIGN §4.7): what the town spends, at a glance. */
function usageSection(usage: AlarmStatus["usage"]): string {
  const budget = usage.budget;
  return `<section id="usage"><h2>Usage today (${esc(usage.day)}, UTC)</h2><div class="metrics">
${metric("usage.today.containerHours", "container hours", usage.today.containerHours.toFixed(2))}
${metric("usage.today.dispatches", "dispatches", usage.today.dispatches)}
${metric("usage.today.running", "containers running", usage.today.running)}
${budget ? metric("usage.budget.usedShare", `of the ${budget.containerHoursPerDay} h budget`, `${Math.round(budget.usedShare * 100)}%`, usage.verdict !== "continue") : metric("usage.budget", "budget", "none")}
${budget ? metric("usage.verdict", "verdict", usage.waived ? `${usage.verdict} (waived today)` : usage.verdict, usage.verdict === "stop") : ""}
</div></section>`;
}

/** While the town is paused: who, since when, why, and the command that resumes it. */
function pausedBanner(status: AlarmStatus, origin = ORIGIN_PLACEHOLDER): string {
  const paused = status.paused;
  if (!paused) return "";
  const resume = `POST /api/towns/${encodeURIComponent(status.townId)}/resume`;
  return `<section class="paused" id="paused" data-paused-by="${esc(paused.by)}"><b>Paused</b> by ${esc(paused.by)} at ${esc(time(paused.at))}: ${esc(paused.reason)}. Nothing is dispatched until it is resumed;
everything else goes on.<code class="command" data-command="${esc(resume)}">${esc(curl(resume, origin))}</code></section>`;
}

/** A violation's runbook: a link under RUNBOOKS_URL, or (not configured) the file in the repository. */
function runbookLink(invariant: number, runbooksUrl: string | undefined): string {
  const page = runbookOf(invariant);
  if (!runbooksUrl) return `runbook: <code data-runbook="${esc(page)}" title="set RUNBOOKS_URL to make this a link">${esc(`docs/runbooks/${page}`)}</code>`;
  return `<a data-link="runbook" href="${esc(`${runbooksUrl.replace(/\/+$/, "")}/${page}`)}">runbook: ${esc(page)}</a>`;
}

/** Steps a time axis may use, from a second to a day. */
const TIME_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400].map((s) => s * 1_000);

/**
 * Tick marks for a time axis over [from, to]: round times (every 10 minutes, every 30 seconds, …), at
 * most `most` of them, labelled in UTC (HH:MM, or HH:MM:SS when the step is under a minute).
 */
export function timeTicks(from: number, to: number, most = 6): Array<{ at: number; label: string }> {
  const span = Math.max(to - from, 1);
  const step = TIME_STEPS_MS.find((ms) => span / ms <= most - 1) ?? TIME_STEPS_MS.at(-1)!;
  const clock = (at: number) => new Date(at).toISOString().slice(11, step < 60_000 ? 19 : 16);
  const ticks: Array<{ at: number; label: string }> = [];
  for (let at = Math.ceil(from / step) * step; at <= to; at += step) ticks.push({ at, label: clock(at) });
  // A window shorter than a step (a single tick) still says when it is.
  if (ticks.length === 0) ticks.push({ at: from, label: clock(from) });
  return ticks;
}

/** A small SVG line chart of one tick metric over time, with its alert threshold as a dashed line. */
function chart(id: string, title: string, ticks: readonly TickView[], value: (t: TickView) => number, threshold: number): string {
  const width = 520;
  const height = 180;
  const pad = { left: 40, right: 10, top: 10, bottom: 24 };
  const points = ticks.map((t) => [t.at, value(t)] as const);
  const xs = points.map(([x]) => x);
  const minX = xs.length > 0 ? Math.min(...xs) : 0;
  const maxX = Math.max(...xs, minX + 1);
  // Scaled to the data (the alert line is drawn when it falls in range): a chart scaled to its alert
  // line leaves normal data lying flat on the axis.
  let highest = 0;
  for (const [, y] of points) if (y > highest) highest = y;
  const maxY = Math.max(Math.ceil(highest * 1.2), 1);
  const alertInRange = threshold <= maxY;
  const sx = (x: number) => pad.left + ((x - minX) / (maxX - minX || 1)) * (width - pad.left - pad.right);
  const sy = (y: number) => height - pad.bottom - (y / maxY) * (height - pad.top - pad.bottom);
  const line = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  const thresholdY = sy(threshold).toFixed(1);
  const bottom = height - pad.bottom;
  const axis =
    points.length === 0
      ? ""
      : timeTicks(minX, maxX)
          .map(({ at, label }) => {
            const x = sx(at).toFixed(1);
            return `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 4}" stroke="#aab1bf"/><text class="time-tick" data-at="${at}" x="${x}" y="${bottom + 15}" text-anchor="middle">${esc(label)}</text>`;
          })
          .join("");
  const caption = alertInRange ? title : `${title} (above the data: the chart is scaled to it)`;
  return `<figure><figcaption>${esc(caption)}</figcaption>
<svg id="chart-${id}" data-points="${points.length}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">
<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#aab1bf"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#aab1bf"/>
<text x="4" y="${pad.top + 8}">${esc(Math.round(maxY))}</text><text x="4" y="${height - pad.bottom}">0</text>
${alertInRange ? `<line class="alert-line" x1="${pad.left}" y1="${thresholdY}" x2="${width - pad.right}" y2="${thresholdY}" stroke="#d9534f" stroke-dasharray="4 3"/>` : ""}
${points.length > 0 ? `<polyline fill="none" stroke="#2f6fdf" stroke-width="1.5" points="${line}"/>` : `<text x="${width / 2 - 40}" y="${height / 2}">no ticks yet</text>`}
${axis}<text x="${width - pad.right}" y="${pad.top + 8}" text-anchor="end">time (UTC)</text>
</svg></figure>`;
}
