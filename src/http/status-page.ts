import type { TickView } from "../observability/tick-history";
import type { AlarmStatus } from "../town/status";
import { PAGE_COOKIE } from "./auth";
import { unwrap, type RouteContext } from "./route";

/**
 * The town's status page: one self-contained HTML document (inline CSS and SVG, no script, no outside
 * resource) that refreshes itself every 10 seconds. The read token comes once as `?token=`; the page
 * then keeps it in an HttpOnly cookie and redirects, so the token leaves the address bar and history.
 */
export async function statusPage({ request, town, token }: RouteContext<unknown, unknown>): Promise<Response> {
  const url = new URL(request.url);
  if (url.searchParams.has("token")) {
    const secure = url.protocol === "https:" ? "; Secure" : "";
    const cookie = `${PAGE_COOKIE}=${encodeURIComponent(token)}; Path=/towns/; HttpOnly; SameSite=Strict; Max-Age=86400${secure}`;
    return new Response(null, { status: 303, headers: { location: url.pathname, "set-cookie": cookie } });
  }
  const status = unwrap(await town.status());
  const history = unwrap(await town.ticks({}));
  return new Response(renderStatusPage(status, history.ticks), {
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" },
  });
}

const esc = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const time = (ms: number | null) => (ms === null ? "—" : new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"));

export function renderStatusPage(status: AlarmStatus, ticks: readonly TickView[]): string {
  const metric = (name: string, label: string, value: unknown, warn = false) =>
    `<div class="metric${warn ? " warn" : ""}"><span class="label">${esc(label)}</span><span class="value" data-metric="${esc(name)}">${esc(value)}</span></div>`;
  const group = (title: string, counts: Record<string, number>, prefix: string) =>
    `<section><h2>${esc(title)}</h2><div class="metrics">${Object.entries(counts)
      .map(([key, n]) => metric(`${prefix}.${key}`, key.replace(/_/g, " "), n))
      .join("")}</div></section>`;
  const violations =
    status.violations.list.length === 0
      ? `<p class="ok">No invariant is violated.</p>`
      : `<ul>${status.violations.list
          .map((v) => `<li><b>Invariant ${esc(v.invariant)}</b> since ${esc(time(v.since))}: ${esc(v.message)}</li>`)
          .join("")}</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Town ${esc(status.townId)} — town-reconciler</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:16px 24px;background:#f6f7f9;color:#1d2330}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 8px}
.sub{color:#5b6475;margin:0 0 8px}.metrics{display:flex;flex-wrap:wrap;gap:8px}
.metric{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px 12px;min-width:96px}
.metric .label{display:block;color:#5b6475;font-size:12px}.metric .value{font-size:20px;font-weight:600}
.warn{border-color:#d9534f;background:#fdf0ef}.ok{color:#2e7d32}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px}
figcaption{font-size:13px;color:#5b6475;margin-bottom:4px}svg text{font-size:10px;fill:#5b6475}
</style>
</head>
<body>
<h1>Town <span data-metric="townId">${esc(status.townId)}</span></h1>
<p class="sub">As of ${esc(time(status.now))} · next tick ${esc(time(status.alarm.nextFireAt))} (${esc(status.alarm.reason)}) · refreshes every 10 s</p>
<section><h2>Health</h2><div class="metrics">
${metric("violations.open", "open violations", status.violations.open, status.violations.open > 0)}
${metric("queue.pending", "pending events", status.queue.pending, status.queue.pending > 50)}
${metric("queue.oldestPendingAgeMs", "oldest pending (ms)", status.queue.oldestPendingAgeMs ?? 0)}
${metric("queue.dead", "dead letters", status.queue.dead, status.queue.dead > 0)}
${metric("breaker.status", "breaker", status.breaker.status, status.breaker.open === 1)}
${metric("breaker.recentFailures", "recent dispatch failures", status.breaker.recentFailures)}
${metric("outbox.pending", "side effects waiting", status.outbox.pending)}
</div></section>
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

/** A small SVG line chart of one tick metric, with its alert threshold as a dashed line. */
function chart(id: string, title: string, ticks: readonly TickView[], value: (t: TickView) => number, threshold: number): string {
  const width = 520;
  const height = 180;
  const pad = { left: 40, right: 10, top: 10, bottom: 24 };
  const points = ticks.map((t) => [t.at, value(t)] as const);
  const xs = points.map(([x]) => x);
  const minX = xs.length > 0 ? Math.min(...xs) : 0;
  const maxX = Math.max(...xs, minX + 1);
  const maxY = Math.max(threshold * 1.2, ...points.map(([, y]) => y), 1);
  const sx = (x: number) => pad.left + ((x - minX) / (maxX - minX || 1)) * (width - pad.left - pad.right);
  const sy = (y: number) => height - pad.bottom - (y / maxY) * (height - pad.top - pad.bottom);
  const line = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  const thresholdY = sy(threshold).toFixed(1);
  return `<figure><figcaption>${esc(title)}</figcaption>
<svg id="chart-${id}" data-points="${points.length}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">
<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#aab1bf"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#aab1bf"/>
<text x="4" y="${pad.top + 8}">${esc(Math.round(maxY))}</text><text x="4" y="${height - pad.bottom}">0</text>
<line x1="${pad.left}" y1="${thresholdY}" x2="${width - pad.right}" y2="${thresholdY}" stroke="#d9534f" stroke-dasharray="4 3"/>
${points.length > 0 ? `<polyline fill="none" stroke="#2f6fdf" stroke-width="1.5" points="${line}"/>` : `<text x="${width / 2 - 40}" y="${height / 2}">no ticks yet</text>`}
</svg></figure>`;
}
