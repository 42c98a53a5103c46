import { documentOf, esc, htmlResponse, signIn, time } from "./page-kit";
import { type RouteContext, unwrap } from "./route";

/**
 * A town's dead-lettered events, from the status page: what each was, what it was about and why it
 * failed, with the commands that put it back or drop it. Read token (what the status page holds): the
 * payloads stay behind the debug route.
 */
export async function deadLettersPage({
  request,
  town,
  token,
  params,
}: Pick<RouteContext<"/towns/:townId/dead-letters", unknown, unknown>, "request" | "town" | "token" | "params">) {
  const signedIn = signIn(request, token);
  if (signedIn) return signedIn;
  const { count, events } = unwrap(await town.deadLetters());
  const api = `/api/towns/${encodeURIComponent(params.townId)}`;
  const rows = events
    .map(
      (
        e,
      ) => `<tr data-seq="${esc(e.seq)}"><td>${esc(e.seq)}</td><td><code>${esc(e.type)}</code></td><td>${esc(e.agentId ?? e.beadId ?? "—")}</td><td>${esc(e.attempts)}</td>
<td>${esc(e.lastError ?? "")}</td><td>${esc(time(e.createdAt))}</td><td><code class="command">POST ${esc(api)}/debug/events/${esc(e.seq)}/retry</code><code class="command">POST ${esc(api)}/debug/events/${esc(e.seq)}/discard</code></td></tr>`,
    )
    .join("");
  const body = `<nav><a data-link="town" href="/towns/${esc(encodeURIComponent(params.townId))}">← town ${esc(params.townId)}</a></nav>
<h1>Dead letters of ${esc(params.townId)}</h1>
<p class="sub"><span data-metric="dead">${esc(count)}</span> event(s) failed their last attempt and were set aside (the events behind them were applied).
Each one's change did not happen: see the runbook <code>docs/runbooks/dead-letters.md</code>. The commands take the admin token; the payloads are at
<code>GET ${esc(api)}/debug/events?status=dead</code> (debug token).</p>
${events.length === 0 ? `<p class="ok" id="none">No event is dead-lettered.</p>` : `<table id="dead-letters"><tr><th>seq</th><th>type</th><th>about</th><th>attempts</th><th>error</th><th>logged</th><th>commands</th></tr>${rows}</table>`}`;
  return htmlResponse(documentOf(`Dead letters of ${params.townId} — town-reconciler`, body));
}
