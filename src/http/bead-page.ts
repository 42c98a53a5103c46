import type { ReasonView } from "../views/explanation-view";
import type { HistoryEntry } from "../views/bead-history";
import { curl } from "./commands-to-copy";
import { documentOf, esc, htmlResponse, signIn, time } from "./page-kit";
import { type RouteContext, unwrap } from "./route";

type BeadContext = Pick<RouteContext<"/towns/:townId/beads/:beadId", unknown, unknown>, "request" | "town" | "token" | "params">;

/**
 * A bead as a person reads it, from the status page's links: what it is and why it failed, why it is or
 * is not moving (explain, with the command that lifts each reason), and its history. Read token, as a
 * cookie; no script.
 */
export async function beadPage({ request, town, token, params }: BeadContext): Promise<Response> {
  const signedIn = signIn(request, token);
  if (signedIn) return signedIn;
  const [details, explained, history] = await Promise.all([town.getBead(params.beadId), town.explainBead(params.beadId), town.beadHistory(params.beadId, 200)]);
  const { bead, agent, blockers, mergeRequests } = unwrap(details);
  const townPath = `/towns/${encodeURIComponent(params.townId)}`;
  const origin = new URL(request.url).origin;
  const failure = bead.lastFailure
    ? `<p class="failure" data-failure="${esc(bead.lastFailure.code)}"><b>${bead.status === "failed" ? "Failed" : "Last attempt failed"}:</b> <code>${esc(bead.lastFailure.code)}</code> ${esc(bead.lastFailure.message)}${
        bead.lastFailure.agentId ? ` (agent ${esc(bead.lastFailure.agentId)}, generation ${esc(bead.lastFailure.generation)})` : ""
      } at ${esc(time(bead.lastFailure.at))}${bead.lastFailure.rule ? ` — rule <code>${esc(bead.lastFailure.rule)}</code>` : ""}</p>`
    : "";
  const facts: Array<[string, unknown]> = [
    ["type", bead.type],
    ["status", bead.status],
    ["rig", bead.rigId ?? "—"],
    ["priority", bead.priority],
    ["held", bead.held ? "yes" : "no"],
    ["dispatch attempts", bead.dispatchAttempts],
    ["agent", agent ? `${agent.id} (${agent.status}, generation ${agent.generation})` : "—"],
    ["blocked by", blockers.length === 0 ? "—" : blockers.map((b: { id: string; status: string }) => `${b.id} (${b.status})`).join(", ")],
    ["merge requests", mergeRequests.length === 0 ? "—" : mergeRequests.map((m: { id: string; status: string }) => `${m.id} (${m.status})`).join(", ")],
    ["created", time(bead.createdAt)],
    ["last changed", time(bead.updatedAt)],
  ];
  const body = `<nav><a data-link="town" href="${esc(townPath)}">← town ${esc(params.townId)}</a></nav>
<h1>Bead <span data-field="id">${esc(bead.id)}</span></h1>
<p class="sub">${esc(bead.title)}</p>
${failure}
<table id="facts">${facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td data-field="${esc(k)}">${esc(v)}</td></tr>`).join("")}</table>
${bead.body ? `<h2>Body</h2><pre class="body">${esc(bead.body)}</pre>` : ""}
<section id="explain"><h2>Why it is or is not moving</h2>${reasonList(unwrap(explained).reasons, origin)}</section>
${historySection(unwrap(history))}
<p class="sub">The same as JSON: <code>GET /api/towns/${esc(params.townId)}/beads/${esc(bead.id)}</code>, <code>…/explain</code>, <code>…/history</code> (read token).</p>`;
  return htmlResponse(documentOf(`Bead ${bead.id} — town-reconciler`, body, { style: PAGE_STYLE }));
}

function reasonList(reasons: readonly ReasonView[], origin: string): string {
  return `<ul class="reasons">${reasons
    .map(
      (r) =>
        `<li data-reason="${esc(r.code)}"><code>${esc(r.code)}</code> ${esc(r.message)}${r.until === undefined ? "" : ` (until ${esc(time(r.until))})`}${
          r.command ? `<code class="command" data-command="${esc(r.command)}">${esc(curl(r.command, origin))}</code>` : ""
        }</li>`,
    )
    .join("")}</ul>`;
}

function historySection(history: { entries: readonly HistoryEntry[]; truncated: boolean }): string {
  const line = (e: HistoryEntry) => {
    const what =
      e.kind === "action"
        ? `<code>${esc(e.rule)}</code>${e.reason ? ` — ${esc(e.reason)}` : ""}`
        : e.kind === "effect"
          ? `${esc(e.outcome)}${e.error ? `: ${esc(e.error)}` : ""} (${esc(e.agentId)} generation ${esc(e.generation)})`
          : esc(JSON.stringify(e.details));
    return `<tr data-kind="${esc(e.kind)}"><td>${esc(time(e.at))}</td><td>${esc(e.kind)}</td><td><code>${esc(e.type)}</code></td><td>${what}</td></tr>`;
  };
  return `<section id="history"><h2>History</h2>${history.truncated ? `<p class="sub">The newest ${history.entries.length} entries.</p>` : ""}
<table><tr><th>when</th><th>kind</th><th>what</th><th>details</th></tr>${history.entries.map(line).join("")}</table></section>`;
}

const PAGE_STYLE = `.failure{color:#8a1f1b}pre.body{background:#fff;border:1px solid #dde1e8;padding:8px;white-space:pre-wrap}
ul.reasons{padding-left:18px}.reasons code{background:#eef1f5;border-radius:3px;padding:0 3px}`;
