import { Router, type IRequest } from "itty-router";
import { TownIdSchema } from "../domain/ids";
import type { Env } from "../env";
import { createLogger, parseLogLevel, type Logger, type LogLevel } from "../observability/log";
import { reportFailedRequest } from "../observability/sentry";
import { errorResponse, HttpError } from "./errors";
import { withRequestId } from "./request-id";
import { runRoute } from "./route";
import { ROUTES } from "./routes";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Worker's HTTP front: the routes of routes.ts, the error shape, logs and `X-Request-ID` on every response. */
export function createRouter() {
  const router = Router<IRequest, [Env, ExecutionContext]>({
    before: [
      (request) => {
        const given = request.headers.get("x-request-id");
        request.requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
        request.startedAt = Date.now();
      },
    ],
    catch: (error: unknown, request: IRequest, env: Env, ctx: ExecutionContext) => {
      const log = loggerFor(env.LOG_LEVEL);
      const answer = error instanceof HttpError ? error : null;
      if (!answer) log.error("unhandled error", { requestId: request.requestId, error });
      // Only what the server failed at goes to Sentry (5xx); the caller's mistakes (4xx) are expected.
      const townId = TownIdSchema.safeParse(request.params?.townId);
      const failed = { request, route: request.route ?? null, requestId: request.requestId, townId: townId.success ? townId.data : null };
      reportFailedRequest(env.SENTRY_DSN, error, answer?.status ?? 500, failed, ctx, log);
      if (answer) return errorResponse(answer.status, answer.code, answer.message, answer.retryAfter);
      return errorResponse(500, "internal_error", `the server failed to handle this request; quote request id ${request.requestId} when reporting it`);
    },
    finally: [
      (response: Response | undefined, request: IRequest, env: Env) => {
        const out = response ?? errorResponse(404, "route_not_found", `no route for ${request.method} ${pathOf(request)}; see GET /api/openapi.json`);
        // One line per request: debug when it went well (heartbeats are frequent), info for a refusal.
        const [level, message] = out.status >= 500 ? LINE.failed : out.status >= 400 ? LINE.refused : LINE.ok;
        const log = loggerFor(env.LOG_LEVEL);
        // Only a line that is written builds its fields (most requests log at debug, below the usual level).
        if (log.writes(level)) {
          log[level](message, {
            requestId: request.requestId,
            method: request.method,
            path: pathOf(request),
            status: out.status,
            ms: Date.now() - request.startedAt,
            townId: request.params?.townId,
          });
        }
        return withRequestId(out, request.requestId);
      },
    ],
  });
  const methods = router as unknown as Record<string, (path: string, handler: (request: IRequest, env: Env) => Promise<Response>) => void>;
  for (const spec of ROUTES) methods[spec.method.toLowerCase()]!(spec.path, (request, env) => runRoute(spec, request, env));
  return router;
}

const LINE = {
  failed: ["error", "request failed"],
  refused: ["info", "request refused"],
  ok: ["debug", "request"],
} as const satisfies Record<string, readonly [LogLevel, string]>;

const pathOf = (request: IRequest): string => new URL(request.url).pathname;

/** One logger per level for the request lines and errors, not one built per request. */
const loggers = new Map<string | undefined, Logger>();
function loggerFor(level: string | undefined): Logger {
  const known = loggers.get(level);
  if (known) return known;
  const log = createLogger(parseLogLevel(level));
  loggers.set(level, log);
  return log;
}
