import { Router, type IRequest } from "itty-router";
import { z } from "zod";
import {
  AddRigBody,
  CancelBeadBody,
  CreateConvoyBody,
  HeartbeatBody,
  IngestBody,
  PutTownBody,
  DebugEventsQuery,
  DryRunBody,
  ReplayBody,
  SlingBeadBody,
  TicksQuery,
  TickWindowQuery,
} from "../api/schemas";
import { AgentIdSchema, BeadIdSchema, TownIdSchema, type TownId } from "../domain/ids";
import type { Env } from "../env";
import { createLogger, parseLogLevel } from "../observability/log";
import { ticksCsv } from "../observability/tick-history";
import type { Result } from "../town/result";
import { requireAgentToken, requireScope } from "./auth";
import { describeIssues, readJson } from "./body";
import { errorResponse, HttpError, json } from "./errors";

/** Body limits: small for commands, larger for a bead's body and for event batches. */
const KB = 1024;
const LIMITS = { small: 64 * KB, bead: 512 * KB, events: 1024 * KB } as const;

type Handler = (request: IRequest, env: Env) => Promise<Response>;

/** A path parameter, decoded and validated. */
function param<S extends z.ZodType>(request: IRequest, name: string, schema: S): z.output<S> {
  let raw: string;
  try {
    raw = decodeURIComponent(request.params[name] ?? "");
  } catch {
    throw new HttpError(400, "invalid_request", `the ${name} in the path is not valid URL encoding`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new HttpError(400, "invalid_request", `${name} "${raw.slice(0, 80)}" ${parsed.error.issues[0]?.message ?? "is invalid"}`);
  return parsed.data;
}

/** The query string, validated (a repeated parameter is an error, not a guess). */
function query<S extends z.ZodType>(request: IRequest, schema: S): z.output<S> {
  const params = new URL(request.url).searchParams;
  const repeated = [...params.keys()].find((key, i, keys) => keys.indexOf(key) !== i);
  if (repeated) throw new HttpError(400, "invalid_request", `query parameter ${repeated} is given more than once`);
  const parsed = schema.safeParse(Object.fromEntries(params));
  if (!parsed.success) throw new HttpError(400, "invalid_request", describeIssues(parsed.error));
  return parsed.data;
}

const townOf = (request: IRequest, env: Env) => {
  const townId: TownId = param(request, "townId", TownIdSchema);
  return { townId, town: env.TOWN.getByName(townId) };
};

/** A town's answer, or its error as an HTTP error. */
function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw HttpError.from(result.error);
  return result.value;
}

const created = <T extends { created: boolean; value: unknown }>(key: string, result: T) =>
  json({ [key]: result.value }, result.created ? 201 : 200);

const routes: Array<[method: string, path: string, handler: Handler]> = [
  ["GET", "/health", async () => json({ status: "ok" })],

  [
    "GET",
    "/api/towns",
    async (request, env) => {
      await requireScope(request, env, "read");
      return json({ towns: await env.REGISTRY.getByName("registry").list() });
    },
  ],

  [
    "PUT",
    "/api/towns/:townId",
    async (request, env) => {
      await requireScope(request, env, "admin");
      const { townId, town } = townOf(request, env);
      const body = await readJson(request, PutTownBody, LIMITS.small);
      const result = unwrap(await town.putTown(townId, body.config));
      return result.created ? json({ town: result.town, agentToken: result.agentToken }, 201) : json({ town: result.town });
    },
  ],

  [
    "POST",
    "/api/towns/:townId/rigs",
    async (request, env) => {
      await requireScope(request, env, "admin");
      const { town } = townOf(request, env);
      const body = await readJson(request, AddRigBody, LIMITS.small);
      return created("rig", unwrap(await town.addRig(body)));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/beads",
    async (request, env) => {
      await requireScope(request, env, "admin");
      const { town } = townOf(request, env);
      const body = await readJson(request, SlingBeadBody, LIMITS.bead);
      return created("bead", unwrap(await town.slingBead(body)));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/convoys",
    async (request, env) => {
      await requireScope(request, env, "admin");
      const { town } = townOf(request, env);
      const body = await readJson(request, CreateConvoyBody, LIMITS.small);
      return created("convoy", unwrap(await town.createConvoy(body)));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/beads/:beadId/cancel",
    async (request, env) => {
      await requireScope(request, env, "admin");
      const { town } = townOf(request, env);
      const beadId = param(request, "beadId", BeadIdSchema);
      const body = await readJson(request, CancelBeadBody, LIMITS.small);
      return json({ bead: unwrap(await town.cancelBead(beadId, body)) }, 202);
    },
  ],

  [
    "GET",
    "/api/towns/:townId/beads/:beadId",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      const beadId = param(request, "beadId", BeadIdSchema);
      return json(unwrap(await town.getBead(beadId)));
    },
  ],

  [
    "GET",
    "/api/towns/:townId/beads/:beadId/explain",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      const beadId = param(request, "beadId", BeadIdSchema);
      return json(unwrap(await town.explainBead(beadId)));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/debug/reconcile-dry-run",
    async (request, env) => {
      await requireScope(request, env, "debug");
      const { town } = townOf(request, env);
      await readJson(request, DryRunBody, LIMITS.small);
      return json(unwrap(await town.reconcileDryRun()));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/debug/replay-events",
    async (request, env) => {
      await requireScope(request, env, "debug");
      const { town } = townOf(request, env);
      const body = await readJson(request, ReplayBody, LIMITS.small);
      return json(unwrap(await town.replayEvents(body)));
    },
  ],

  [
    "GET",
    "/api/towns/:townId/debug/events",
    async (request, env) => {
      await requireScope(request, env, "debug");
      const { town } = townOf(request, env);
      const { status } = query(request, DebugEventsQuery);
      return json(unwrap(await town.debugEvents(status)));
    },
  ],

  [
    "POST",
    "/api/towns/:townId/events",
    async (request, env) => {
      const token = await requireAgentToken(request, env);
      const { town } = townOf(request, env);
      const body = await readJson(request, IngestBody, LIMITS.events);
      return json(unwrap(await town.ingestEvents(token, body)), 202);
    },
  ],

  [
    "POST",
    "/api/towns/:townId/agents/:agentId/heartbeat",
    async (request, env) => {
      const token = await requireAgentToken(request, env);
      const { town } = townOf(request, env);
      const agentId = param(request, "agentId", AgentIdSchema);
      const body = await readJson(request, HeartbeatBody, LIMITS.small);
      unwrap(await town.heartbeat(token, agentId, body));
      return new Response(null, { status: 204 });
    },
  ],

  [
    "GET",
    "/api/towns/:townId/ticks",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      const { format, ...window } = query(request, TicksQuery);
      const history = unwrap(await town.ticks(window));
      const wantsCsv = format === "csv" || (format === undefined && (request.headers.get("accept") ?? "").includes("text/csv"));
      if (!wantsCsv) return json(history);
      return new Response(ticksCsv(history.ticks), { headers: { "content-type": "text/csv; charset=utf-8" } });
    },
  ],

  [
    "GET",
    "/api/towns/:townId/ticks/summary",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      return json(unwrap(await town.ticksSummary(query(request, TickWindowQuery))));
    },
  ],

  [
    "GET",
    "/api/towns/:townId/metrics",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      const text = unwrap(await town.metrics());
      return new Response(text, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
    },
  ],

  [
    "GET",
    "/api/towns/:townId/status",
    async (request, env) => {
      await requireScope(request, env, "read");
      const { town } = townOf(request, env);
      return json(unwrap(await town.status()));
    },
  ],
];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Worker's HTTP front: routes, auth, validation, the error shape and `X-Request-ID` on every response. */
export function createRouter() {
  const router = Router<IRequest, [Env, ExecutionContext]>({
    before: [
      (request) => {
        const given = request.headers.get("x-request-id");
        request.requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
        request.startedAt = Date.now();
      },
    ],
    catch: (error: unknown, request: IRequest, env: Env) => {
      if (error instanceof HttpError) return errorResponse(error.status, error.code, error.message, error.retryAfter);
      createLogger(parseLogLevel(env.LOG_LEVEL)).error("unhandled error", { requestId: request.requestId, error });
      return errorResponse(500, "internal_error", `the server failed to handle this request; quote request id ${request.requestId} when reporting it`);
    },
    finally: [
      (response: Response | undefined, request: IRequest, env: Env) => {
        const path = new URL(request.url).pathname;
        const out = response ?? errorResponse(404, "route_not_found", `no route for ${request.method} ${path}; see the README for the API`);
        // One line per request: debug when it went well (heartbeats are frequent), info for a refusal.
        const fields = { requestId: request.requestId, method: request.method, path, status: out.status, ms: Date.now() - request.startedAt, townId: request.params?.townId };
        const log = createLogger(parseLogLevel(env.LOG_LEVEL));
        if (out.status >= 500) log.error("request failed", fields);
        else if (out.status >= 400) log.info("request refused", fields);
        else log.debug("request", fields);
        const headers = new Headers(out.headers);
        headers.set("x-request-id", request.requestId);
        return new Response(out.body, { status: out.status, statusText: out.statusText, headers });
      },
    ],
  });
  for (const [method, path, handler] of routes) {
    (router as unknown as Record<string, (path: string, handler: Handler) => void>)[method.toLowerCase()]!(path, handler);
  }
  return router;
}
