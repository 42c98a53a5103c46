import { z } from "zod";
import {
  AddRigBody,
  BeadHistoryQuery,
  BulkBody,
  CancelBeadBody,
  CreateConvoyBody,
  DebugEventsQuery,
  DeleteRigQuery,
  EditBeadBody,
  EmptyBody,
  HeartbeatBody,
  HoldBeadBody,
  HistoryQuery,
  IngestBody,
  ListAgentsQuery,
  ListBeadsQuery,
  PauseBody,
  PutTownBody,
  ReplayBody,
  RequeueBeadBody,
  SlingBeadBody,
  FleetStatusQuery,
  FleetTargetsQuery,
  TicksQuery,
  TickWindowQuery,
} from "../api/schemas";
import { parseIngestBody } from "../api/ingest-body";
import type { IngestInput } from "../api/schemas";
import { fleetShards, fleetStatus, InvalidCursor, listTowns, scrapeTargets } from "../fleet/reads";
import { slimTickView, ticksCsv } from "../views/tick-history";
import { requireOwnReports } from "./auth";
import { HttpError, json } from "./errors";
import { openApiDocument } from "./openapi";
import { route, unwrap, type Route } from "./route";
import { beadPage } from "./bead-page";
import { deadLettersPage } from "./dead-letters-page";
import { homePage } from "./home-page";
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
    summary:
      "Prometheus HTTP service discovery (`http_sd_configs`): every town's metrics route, at the host this request came to; with `shard=N`, the towns of shard N only (one `http_sd_configs` entry per shard keeps each answer bounded)",
    query: FleetTargetsQuery,
    success: { status: 200, description: '`[{ "targets": ["host:port"], "labels": { "__metrics_path__": "/api/towns/<id>/metrics", "town": "<id>" } }]`' },
    handle: async ({ env, request, query }) => json(await scrapeTargets(env, new URL(request.url).host, query.shard)),
  }),
  route({
    method: "GET",
    path: "/api/fleet/shards",
    access: "read",
    tag: "fleet",
    summary: "The fleet registry's shards: how many, how many a fleet read asks (more while a change of count settles), and each shard's targets route",
    success: { status: 200, description: '`{ shards, read, targets: ["/api/fleet/targets?shard=0", …] }`' },
    handle: async ({ env }) => json(await fleetShards(env)),
  }),
  route({
    method: "GET",
    path: "/api/fleet/status",
    access: "read",
    tag: "fleet",
    summary:
      "One row per town, worst first, from the towns' last summaries (no town is woken): numbers only, one per alert condition. `problems=only` keeps the towns with a problem; `limit` pages (at most 10,000 a page), `cursor` is the previous page's `nextCursor`",
    query: FleetStatusQuery,
    success: {
      status: 200,
      description:
        "`{ towns: [{ town, problems, silent, overdueSeconds, lastTickAgeSeconds, violationsOpen, stuckWork, queueDepth, oldestPendingAgeSeconds, deadLetters, breakerOpen, tickWallClockMs, summaryAgeSeconds, paused, containerSecondsToday }], nextCursor }` (`nextCursor` null on the last page, and without `limit`)",
    },
    handle: async ({ env, query }) => {
      try {
        return json(await fleetStatus(env, { problemsOnly: query.problems === "only", limit: query.limit, cursor: query.cursor }));
      } catch (error) {
        if (error instanceof InvalidCursor) throw new HttpError(400, "invalid_request", error.message);
        throw error;
      }
    },
  }),
  route({
    method: "PUT",
    path: "/api/towns/:townId",
    access: "admin",
    tag: "towns",
    summary: "Create a town (201, with its agent token, shown once) or reconfigure it (200)",
    body: { schema: PutTownBody, limit: LIMITS.small },
    createsTown: true,
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
    success: { status: 202, description: "`{ bead }`; 409 `bead_finished`, `convoy_unfinished`" },
    idempotent: true,
    handle: async ({ town, params, body, idempotency }) => json(unwrap(await town.cancelBead(params.beadId, body, idempotency)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/:beadId/retry",
    access: "admin",
    tag: "steering",
    summary: "Retry a failed bead: back to open, its dispatch attempts and backoff reset (a merge request is retried through its issue)",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ bead }`; 409 `not_failed`" },
    idempotent: true,
    handle: async ({ town, params, idempotency }) => json(unwrap(await town.retryBead(params.beadId, idempotency)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/:beadId/hold",
    access: "admin",
    tag: "steering",
    summary: "Hold a bead: it is not dispatched (running work goes on); holding a held bead answers the same",
    body: { schema: HoldBeadBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ bead }` (`bead.held` true); 409 `bead_finished`" },
    idempotent: true,
    handle: async ({ town, params, body, idempotency }) => json(unwrap(await town.holdBead(params.beadId, body.reason, idempotency)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/:beadId/release",
    access: "admin",
    tag: "steering",
    summary: "Release a held bead: it may be dispatched again",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ bead }` (`bead.held` false); 409 `not_held`, `bead_finished`" },
    idempotent: true,
    handle: async ({ town, params, idempotency }) => json(unwrap(await town.releaseBead(params.beadId, idempotency)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/:beadId/requeue",
    access: "admin",
    tag: "steering",
    summary: "Requeue a bead in progress: its container is stopped, it goes back to open with its attempts unchanged",
    body: { schema: RequeueBeadBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ bead }`; 409 `not_in_progress`" },
    idempotent: true,
    handle: async ({ town, params, body, idempotency }) => json(unwrap(await town.requeueBead(params.beadId, body.reason, idempotency)), 202),
  }),
  route({
    method: "PATCH",
    path: "/api/towns/:townId/beads/:beadId",
    access: "admin",
    tag: "steering",
    summary: "Edit an unfinished bead: title, body, priority, blockers (the next dispatch takes them)",
    body: { schema: EditBeadBody, limit: LIMITS.bead },
    success: { status: 200, description: "`{ bead }`; 409 `bead_finished`; 400 `dependency_cycle` or an unknown blocker" },
    idempotent: true,
    handle: async ({ town, params, body, idempotency }) => json(unwrap(await town.editBead(params.beadId, body, idempotency))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/beads/bulk",
    access: "admin",
    tag: "steering",
    summary: "Retry, hold, release or cancel the beads a filter names, at most 1,000 a call (call again while `more`)",
    body: { schema: BulkBody, limit: LIMITS.bead },
    success: { status: 202, description: "`{ matched, applied, skipped: [{ id, code }], more }`" },
    idempotent: true,
    handle: async ({ town, body, idempotency }) => json(unwrap(await town.bulkBeads(body, idempotency)), 202),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/beads",
    access: "read",
    tag: "work",
    summary: "List beads, newest change first, finished ones included, a page at a time",
    query: ListBeadsQuery,
    success: { status: 200, description: "`{ beads, nextCursor }` (`nextCursor` null on the last page; `limit` default 100, at most 1,000)" },
    handle: async ({ town, query }) => json(unwrap(await town.listBeads(query))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/beads/:beadId/history",
    access: "read",
    tag: "debugging",
    summary: "What touched a bead, oldest first, within retention: commands, agent events, rule actions (rule, reason), side-effect outcomes",
    query: BeadHistoryQuery,
    success: {
      status: 200,
      description: "`{ beadId, entries: [{ at, kind, type, … }], truncated }` (`limit` default 200, at most 1,000; the newest when truncated)",
    },
    handle: async ({ town, params, query }) => json(unwrap(await town.beadHistory(params.beadId, query.limit))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/rigs",
    access: "read",
    tag: "work",
    summary: "List the town's rigs",
    success: { status: 200, description: "`{ rigs }`" },
    handle: async ({ town }) => json(unwrap(await town.listRigs())),
  }),
  route({
    method: "DELETE",
    path: "/api/towns/:townId/rigs/:rigId",
    access: "admin",
    tag: "steering",
    summary: "Delete a rig with no unfinished work (`cancel=true` cancels its work first and stops its agents)",
    query: DeleteRigQuery,
    success: { status: 200, description: "`{ deleted, cancelled }`; 409 `rig_has_live_work`" },
    idempotent: true,
    handle: async ({ town, params, query, idempotency }) => json(unwrap(await town.deleteRig(params.rigId, query.cancel ?? false, idempotency))),
  }),
  route({
    method: "GET",
    path: "/api/towns/:townId/agents",
    access: "read",
    tag: "agents",
    summary: "List the town's agents (retired ones included), by id",
    query: ListAgentsQuery,
    success: { status: 200, description: "`{ agents: [{ id, rigId, role, status, hook, generation, lastHeartbeatAt, … }] }`" },
    handle: async ({ town, query }) => json(unwrap(await town.listAgents(query))),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/pause",
    access: "admin",
    tag: "steering",
    summary: "Pause the town: nothing is dispatched until it is resumed; everything else goes on (pausing a paused town answers the same)",
    body: { schema: PauseBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ paused: { at, by, reason } }`" },
    idempotent: true,
    handle: async ({ town, body, idempotency }) => json(unwrap(await town.pause(body.reason, idempotency)), 202),
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/resume",
    access: "admin",
    tag: "steering",
    summary: "Resume the town: it dispatches again from its next tick",
    body: { schema: EmptyBody, limit: LIMITS.small },
    success: { status: 202, description: "`{ paused: null }`" },
    idempotent: true,
    handle: async ({ town, idempotency }) => json(unwrap(await town.resume(idempotency)), 202),
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
    body: { schema: IngestBody, limit: LIMITS.events, quick: parseIngestBody },
    success: { status: 202, description: "`{ accepted, duplicates }`" },
    handle: async ({ town, caller, body }) => {
      requireOwnReports(caller, reportsOf(body.events));
      return json(unwrap(await town.ingestEvents(caller, body)), 202);
    },
  }),
  route({
    method: "POST",
    path: "/api/towns/:townId/agents/:agentId/heartbeat",
    access: "agent",
    tag: "agents",
    summary: "Heartbeat / container status observation",
    body: { schema: HeartbeatBody, limit: LIMITS.small },
    success: { status: 204, description: "Recorded" },
    handle: async ({ town, caller, params, body }) => {
      requireOwnReports(caller, [{ type: "container_status", agentId: params.agentId, generation: body.generation }]);
      unwrap(await town.heartbeat(caller, params.agentId, body));
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
    path: "/",
    access: "read",
    browser: true,
    tag: "pages",
    summary: "The fleet's home page (HTML): every town worst first from the fleet summaries (no town is woken), each linking to its status page",
    query: z.object({ token: z.string().optional() }),
    success: { status: 200, description: "A self-refreshing HTML page", contentType: "text/html" },
    handle: homePage,
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
  route({
    method: "GET",
    path: "/towns/:townId/beads/:beadId",
    access: "read",
    browser: true,
    tag: "pages",
    summary: "A bead's page (HTML): what it is, why it failed, why it is or is not moving, its history",
    query: z.object({ token: z.string().optional() }),
    success: { status: 200, description: "An HTML page", contentType: "text/html" },
    handle: beadPage,
  }),
  route({
    method: "GET",
    path: "/towns/:townId/dead-letters",
    access: "read",
    browser: true,
    tag: "pages",
    summary: "A town's dead-lettered events (HTML), with the commands that retry or discard them",
    query: z.object({ token: z.string().optional() }),
    success: { status: 200, description: "An HTML page", contentType: "text/html" },
    handle: deadLettersPage,
  }),
];

/** A batch's events as requireOwnReports reads them, one at a time: the agent token's batch of 1,000 is never walked. */
function* reportsOf(events: IngestInput["events"]) {
  for (const e of events)
    yield { eventId: e.eventId, type: e.type, agentId: e.agentId, generation: "generation" in e.payload ? e.payload.generation : undefined };
}
