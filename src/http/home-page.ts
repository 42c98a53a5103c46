import { FLEET_ALERTS } from "../fleet/fleet-alerts";
import type { FleetRow } from "../fleet/fleet-row";
import { fleetStatus } from "../fleet/reads";
import { documentOf, esc, htmlResponse, signIn } from "./page-kit";
import type { RouteContext } from "./route";

/** Towns the home page lists at most: the worst come first, so those left out are the healthiest. */
export const TOWNS_ON_HOME_PAGE = 200;

/**
 * The fleet's home page (`GET /`): every town worst first, from the summaries the towns send the registry
 * (it wakes no town), each linking to its status page; what each problem means, in one line. The read
 * token comes once as `?token=` and is then kept in the pages' cookie, as on the status page.
 */
export async function homePage({ request, env, token }: Pick<RouteContext<"/", unknown, unknown>, "request" | "env" | "token">): Promise<Response> {
  const signedIn = signIn(request, token);
  if (signedIn) return signedIn;
  // The worst page of the fleet, read as one page of the fleet status (each shard cuts its own), of the
  // last summaries: one page, never continued, so not a paged read's view (src/fleet/reads.ts).
  const page = await fleetStatus(env, { limit: TOWNS_ON_HOME_PAGE, latest: true });
  return htmlResponse(renderHomePage(page.towns, page.nextCursor !== null));
}

/** `more`: the fleet has towns past those shown (all with no more problems than the last one shown). */
export function renderHomePage(towns: readonly FleetRow[], more = false): string {
  const shown = towns;
  const troubled = towns.filter((t) => t.problems > 0).length;
  const cell = (row: FleetRow, field: keyof FleetRow, alertAbove: number | undefined) => {
    const value = row[field];
    const bad = alertAbove !== undefined && typeof value === "number" && value > alertAbove;
    return `<td data-field="${esc(field)}"${bad ? ' class="warn"' : ""}>${esc(value)}</td>`;
  };
  const above = (field: keyof FleetRow) => FLEET_ALERTS.find((a) => a.field === field)?.above;
  const columns: ReadonlyArray<[keyof FleetRow, string]> = [
    ["problems", "problems"],
    ["silent", "silent"],
    ["violationsOpen", "violations"],
    ["stuckWork", "stuck beads"],
    ["queueDepth", "pending events"],
    ["deadLetters", "dead letters"],
    ["breakerOpen", "breaker open"],
    ["tickWallClockMs", "last tick (ms)"],
    ["lastTickAgeSeconds", "since last tick (s)"],
    ["paused", "paused"],
    ["containerSecondsToday", "container s today"],
  ];
  const rows = shown
    .map((row) => {
      const link = `<a data-link="town" href="/towns/${esc(encodeURIComponent(row.town))}">${esc(row.town)}</a>`;
      const cells = columns.map(([field]) => cell(row, field, field === "problems" ? 0 : above(field))).join("");
      return `<tr data-town="${esc(row.town)}"${row.problems > 0 ? ' class="troubled"' : ""}><td>${link}</td>${cells}</tr>`;
    })
    .join("\n");
  const table =
    towns.length === 0
      ? `<p class="ok" id="no-towns">No town has reported yet. Create one with <code>PUT /api/towns/&lt;id&gt;</code> (admin token); it appears here after its first tick.</p>`
      : `<div class="scroll"><table id="towns"><tr><th>town</th>${columns.map(([, label]) => `<th>${esc(label)}</th>`).join("")}</tr>
${rows}</table></div>
${more ? `<p class="sub" id="more">The ${esc(shown.length)} worst towns are listed; the others have no more problems than the last of them: <code>GET /api/fleet/status</code> has every one.</p>` : ""}`;
  const legend = FLEET_ALERTS.map(
    (a) => `<li data-alert="${esc(a.id)}"><b>${esc(a.field)}</b>: ${esc(a.summary)} — <code>docs/runbooks/${esc(a.runbook)}</code></li>`,
  ).join("\n");
  const body = `<h1>town-reconciler</h1>
<p class="sub"><span data-metric="towns">${esc(towns.length)}</span>${more ? " listed" : ""} town(s), <span data-metric="troubled">${esc(troubled)}</span> with problems, worst first, as each last reported (no town is woken to draw this page). Refreshes every 30 s.</p>
${table}
<h2>What each problem means</h2>
<ul id="legend">
${legend}
</ul>`;
  return documentOf("Fleet — town-reconciler", body, { refresh: 30, style: HOME_STYLE });
}

const HOME_STYLE = `.scroll{overflow-x:auto}#towns td,#towns th{white-space:nowrap;overflow-wrap:normal}tr.troubled td:first-child{font-weight:600}td[data-field]{text-align:right}`;
