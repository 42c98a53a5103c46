import { z } from "zod";
import {
  AddRigBody,
  CancelBeadBody,
  CreateConvoyBody,
  DebugEventsQuery,
  EmptyBody,
  HeartbeatBody,
  HistoryQuery,
  IngestBody,
  PutTownBody,
  ReplayBody,
  SlingBeadBody,
  TicksQuery,
  TickWindowQuery,
} from "../api/schemas";
import { fleetStatus, listTowns, scrapeTargets } from "../fleet/reads";
import { slimTickView, ticksCsv } from "../views/tick-history";
import { json } from "./errors";
import { openApiDocument } from "./openapi";
import { route, unwrap, type Route } from "./route";
import { statusPage } from "./status-page";

/** Body limits: small for commands, larger for a bead's body and for event batches. */
const KB = 1024;
const LIMITS = { small: 64 * KB, bead: 512 * KB, events: 1024 * KB } as const;

const created = <T extends { created: boolean; value: unknown }>(key: string, result: T) => json({ [key]: result.value }, result.created ? 201 : 200);

/** Every route of the public API (DESIGN §6). The OpenAPI description is generated from this list. */
export const ROUTES: readonly Route[] = [
  route({
    method: "GET",
    path: "/health",
    access: "none",
    tag: "service",
    summary: "Liveness",
    success: { status: 200, description: '`{ "status": "ok" }`' },
    handle: async () => json({ status: "ok" }),
  }),
  route({
    method: "GET",
    path: "/api/openapi.json",
    access: "none",
    tag: "service",
    summary: "This API, described in OpenAPI 3.1",
    success: { status: 200, description: "The OpenAPI document" },
    handle: async ({ request }) => json(openApiDocument(ROUTES, new URL(request.url).origin)),
  }),
  route({
    method: "GET",
    path: "/api/towns",
    access: "read",
    tag: "towns",
    summary: "List towns (feeds the Grafana `town` variable)",
    success: { status: 200, description: "`{ towns: [{ id, createdAt }] }`" },
    handle: async ({ env }) => json({ towns: await listTowns(env) }),
  }),
  route({
    method: "GET",
    path: "/api/fleet/targets",
    access: "read",
    tag: "fleet",
    summary: "Prometheus HTTP service discovery (`http_sd_configs`): every town's metrics route, at the host this request came to",
    success: { status: 200, description: '`[{ "targets": ["host:port"], "labels": { "__metrics_path__": "/api/towns/<id>/metrics", "town": "<id>" } }]`' },
    handle: async ({ env, request }) => json(await scrapeTargets(env, new URL(request.url).host)),
  }),
  route({
    method: "GET",
    path: "/api/fleet/status",
    access: "read",
    tag: "fleet",
    summary: "One row per town, worst first, from the towns' last summaries (no town is woken): numbers only, one per alert condition",
    success: {
      status: 200,
      description:
        "`{ towns: [{ town, problems, silent, overdueSeconds, lastTickAgeSeconds, violationsOpen, stuckWork, queueDepth, oldestPendingAgeSeconds, deadLetters, breakerOpen, tickWallClockMs, summaryAgeSeconds }] }`",
    },
    handle: async ({ env }) => json({ towns: await fleetStatus(env) }),
  }),
  route({
    method: "PUT",
    path: "/api/towns/:townId",
    access: "admin",
    tag: "towns",
    summary: "Create a town (201, with its agent token, shown once) or reconfigure it (200)",
    body: { schema: PutTownBody, limit: LIMITS.small },
    success: { status: 201, description: "`{ town, agentToken }` when created; 200 `{ town }` when reconfigured" },
    handle: async ({ town, params, body }) => {
      const result = unwrap(await town.putTown(params.townId, body.config));
      return result.created ? json({ town: result.town, agentToken: result.agentToken }, 201) : json({ town: result.town });
    },
  }),
  route({
    method: "DELETE",
    path: "/api/towns/:townId",
    access: "admin",
    tag: "towns",
    summary: "Delete a town and all its data; it is deregistered, and the id may be created again as a new town",
    success: { status: 200, description: "`{ deleted }`" },
    handle: async ({ town, params }) => json(unwrap(await town.deleteTown(params.townId))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/agent-token",
    access: "admin",
    tag: "towns",
    summary: "Rotate the town's agent token: the new one is returned once, the old one stops working",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 201, description: "`{ agentToken }`" },
    handle: async ({ town, params }) => json(unwrap(await town.rotateAgentToken(params.townId)), 201),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/rigs",
    access: "admin",
    tag: "work",
    summary: "Add a rig (a git repository)",
    body: { schema: AddRigBody, limit: LIMITS.small },
    success: { status: 201, description: "`{ rig }` (200 if the same rig already exists)" },
    idempotent: true,
    handle: async ({ town, body, idempotency }) => created("rig", unwrap(await town.addRig(body, idempotency))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads",
    access: "admin",
    tag: "work",
    summary: "Sling an issue",
    body: { schema: SlingBeadBody, limit: LIMITS.bead },
    success: { status: 201, description: "`{ bead }` (200 if the same bead already exists)" },
    idempotent: true,
    handle: async ({ town, body, idempotency }) => created("bead", unwrap(await town.slingBead(body, idempotency))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/convoys",
    access: "admin",
    tag: "work",
    summary: "Group beads in a convoy",
    body: { schema: CreateConvoyBody, limit: LIMITS.small },
    success: { status: 201, description: "`{ convoy }` (200 if the same convoy already exists)" },
    idempotent: true,
    handle: async ({ town, body, idempotency }) => created("convoy", unwrap(await town.createConvoy(body, idempotency))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/:beadId/cancel",
    access: "admin",
    tag: "work",
    summary: "Cancel a bead (its agent is stopped)",
    body: { schema: CancelBeadBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ bead }`" },
    handle: async ({ town, params, body }) => json({ bead: unwrap(await town.cancelBead(params.beadId, body)) }, 202),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/beads/:beadId",
    access: "read",
    tag: "work",
    summary: "A bead with its body, agent, blockers and merge requests",
    success: { status: 200, description: "`{ bead, agent, blockers, mergeRequests, tracked? }`" },
    handle: async ({ town, params }) => json(unwrap(await town.getBead(params.beadId))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/beads/:beadId/explain",
    access: "read",
    tag: "debugging",
    summary: "Why a bead is or is not moving now",
    success: { status: 200, description: "`{ beadId, status, type, reasons: [{ code, message, until? }] }`" },
    handle: async ({ town, params }) => json(unwrap(await town.explainBead(params.beadId))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/events",
    access: "agent",
    tag: "agents",
    summary: "Batch ingest of agent callbacks",
    body: { schema: IngestBody, limit: LIMITS.events },
    success: { status: 202, description: "`{ accepted, duplicates }`" },
    handle: async ({ town, token, body }) => json(unwrap(await town.ingestEvents(token, body)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/agents/:agentId/heartbeat",
    access: "agent",
    tag: "agents",
    summary: "Heartbeat / container status observation",
    body: { schema: HeartbeatBody, limit: LIMITS.small },
    success: { status: 204, description: "Recorded" },
    handle: async ({ town, token, params, body }) => {
      unwrap(await town.heartbeat(token, params.agentId, body));
      return new Response(null, { status: 204 });
    },
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/status",
    access: "read",
    tag: "observability",
    summary: "getAlarmStatus: alarm, counts, queue, breaker, violations, totals, last tick",
    success: { status: 200, description: "The town's status" },
    handle: async ({ town }) => json(unwrap(await town.status())),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/ticks",
    access: "read",
    tag: "observability",
    summary: "Tick history of a window (default: the last hour), JSON or CSV",
    query: TicksQuery,
    success: { status: 200, description: "`{ townId, from, to, truncated, ticks }`, or CSV with `format=csv` or `Accept: text/csv`" },
    handle: async ({ town, query, request }) => {
      const { format, fields, ...window } = query;
      const history = unwrap(await town.ticks(window));
      const wantsCsv = format === "csv" || (format === undefined && (request.headers.get("accept") ?? "").includes("text/csv"));
      if (!wantsCsv) return json(fields === "slim" ? { ...history, ticks: history.ticks.map(slimTickView) } : history);
      return new Response(ticksCsv(history.ticks), { headers: { "content-type": "text/csv; charset=utf-8" } });
    },
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/ticks/summary",
    access: "read",
    tag: "observability",
    summary: "Aggregates of each tick metric over a window: sum, avg, min, max, count, p50, p95, p99",
    query: TickWindowQuery,
    success: { status: 200, description: "`{ townId, from, to, ticks, metrics }`" },
    handle: async ({ town, query }) => json(unwrap(await town.ticksSummary(query))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/metrics",
    access: "read",
    tag: "observability",
    summary: "Prometheus text exposition",
    success: { status: 200, description: "Prometheus text format 0.0.4", contentType: "text/plain" },
    handle: async ({ town }) => new Response(unwrap(await town.metrics()), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/debug/reconcile-dry-run",
    access: "debug",
    tag: "debugging",
    summary: "What the next tick would drain, decide and record; applies nothing",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 200, description: "`{ events, actions, repairs, effects, violations, metrics, wake }`" },
    handle: async ({ town }) => json(unwrap(await town.reconcileDryRun())),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/debug/replay-events",
    access: "debug",
    tag: "debugging",
    summary: "Replay a window of history without touching the town",
    body: { schema: ReplayBody, limit: LIMITS.small },
    success: { status: 200, description: "`{ snapshot, eventsReplayed, state, actions, divergence, … }`" },
    handle: async ({ town, body }) => json(unwrap(await town.replayEvents(body))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/debug/history",
    access: "debug",
    tag: "debugging",
    summary: "The recorded history of a window as a replay bundle, for `npm run replay` against another build",
    description:
      "Streams a self-describing JSON bundle (format version, config, snapshot, the finished beads replay looks up, events, each tick's inputs and actions, a SHA-256 checksum). Bead bodies only with `bodies=1`. At most 24 h and 64 MiB (413 beyond).",
    query: HistoryQuery,
    success: { status: 200, description: "The bundle (`application/json`, as a download)" },
    handle: async ({ town, query }) => {
      const bundle = unwrap(await town.exportHistory(query));
      return new Response(bundle.body, {
        headers: {
          "content-type": "application/json; charset=utf-8",
          "content-disposition": `attachment; filename="${bundle.filename}"`,
          "cache-control": "no-store",
        },
      });
    },
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/debug/events",
    access: "debug",
    tag: "debugging",
    summary: "Dead-lettered (or pending) events with their errors",
    query: DebugEventsQuery,
    success: { status: 200, description: "`{ status, count, events }`" },
    handle: async ({ town, query }) => json(unwrap(await town.debugEvents(query.status))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/debug/events/:seq/retry",
    access: "admin",
    tag: "debugging",
    summary: "Put a dead-lettered event back in the queue (its attempts reset; logged, so replay sees it)",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 202, description: '`{ seq, status: "pending" }`' },
    handle: async ({ town, params }) => json(unwrap(await town.retryDeadLetter(params.seq)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/debug/events/:seq/discard",
    access: "admin",
    tag: "debugging",
    summary: "Drop a dead-lettered event for good (logged, so replay sees it)",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 200, description: '`{ seq, status: "discarded" }`' },
    handle: async ({ town, params }) => json(unwrap(await town.discardDeadLetter(params.seq))),
  }),
  route({
    method: "GET",
    path: "/towns/:townId",
    access: "read",
    browser: true,
    tag: "observability",
    summary: "The town's status page (HTML; read token as `?token=` the first time, then a cookie)",
    query: z.object({ token: z.string().optional() }),
    success: { status: 200, description: "A self-refreshing HTML page", contentType: "text/html" },
    handle: statusPage,
  }),
];
