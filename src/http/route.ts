import type { IRequest } from "itty-router";
import { z } from "zod";
import { AgentIdSchema, BeadIdSchema, RigIdSchema, TownIdSchema } from "../domain/ids";
import type { Env } from "../env";
import { INVALID_AGENT_TOKEN, sha256Hex } from "../auth/tokens";
import type { IdempotentRequest } from "../commands/idempotency";
import { agentNotFound, beadNotFound, eventNotFound, rigNotFound, townNotFound, type Result } from "../domain/result";
import type { TownDO } from "../town/town.do";
import type { AgentCaller } from "../auth/dispatch-credential";
import { pageToken, requireAgentToken, requireScope, type Scope } from "./auth";
import { describeIssues, readJson } from "./body";
import { failureError, HttpError } from "./errors";
import { clientAddress, FailedTokenLimit } from "./failed-tokens";
import { signInPage } from "./page-kit";

/**
 * A route, declared once: the router runs it and the OpenAPI description is generated from it, so the
 * two cannot drift. Auth runs first, then the path, the query and the body are validated; the handler
 * sees only valid input.
 */
export type Access = "none" | Scope | "agent";

export interface RouteSpec<P extends string, B extends z.ZodType, Q extends z.ZodType> {
  readonly method: "GET" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** itty-router style: `/api/towns/:townId`; each `:name` is one of PATH_PARAMS. */
  readonly path: P;
  readonly access: Access;
  /** The read token may also come as `?token=` or a cookie (pages opened in a browser). */
  readonly browser?: boolean;
  readonly tag: string;
  readonly summary: string;
  readonly description?: string;
  /** `quick`: what `schema` would give for the bodies it knows, cheaper (see readJson); undefined asks the schema. */
  readonly body?: { readonly schema: B; readonly limit: number; readonly quick?: (value: unknown) => z.output<B> | undefined };
  readonly query?: Q;
  /** A creating POST that honours an `Idempotency-Key` header. */
  readonly idempotent?: boolean;
  /** The route creates the town its path names: a town that does not exist yet is no reason to refuse its body first. */
  readonly createsTown?: boolean;
  readonly success: { readonly status: number; readonly description: string; readonly contentType?: string };
  handle(ctx: RouteContext<P, z.output<B>, z.output<Q>>): Promise<Response>;
}

/**
 * What a route's handler is given: the parameters its path names, validated (a handler cannot read
 * one its path lacks), the town's object when the path names a town, and the validated query and body.
 */
export type RouteContext<P extends string, B, Q> = Context<PathParams<P>, B, Q> &
  ("townId" extends ParamNames<P> ? { readonly town: DurableObjectStub<TownDO> } : unknown);

interface Context<Params, B, Q> {
  readonly request: IRequest;
  readonly env: Env;
  readonly params: Params;
  readonly body: B;
  readonly query: Q;
  /** The presented page token, or the agent token on agent routes. */
  readonly token: string;
  /** Who speaks, on agent routes: the platform (the town's agent token) or a dispatch's container (its credential). */
  readonly caller: AgentCaller;
  /** The request's `Idempotency-Key` and a digest of its body, on idempotent routes that got one. */
  readonly idempotency: IdempotentRequest | undefined;
}

/** The context runRoute builds for the route itty matched: the parameters of that route's path, validated with PATH_PARAMS. */
type MatchedContext = Context<Partial<ParamValues>, unknown, unknown> & { readonly town: DurableObjectStub<TownDO> | undefined };

/** A declared route as the router and the OpenAPI description take it, its own types no longer needed. */
export interface Route extends Omit<RouteSpec<string, z.ZodType, z.ZodType>, "handle"> {
  handle(ctx: MatchedContext): Promise<Response>;
}

/**
 * Declares a route, with its handler's context typed from its path and schemas (a path may only name
 * parameters PATH_PARAMS knows).
 */
export function route<const P extends string, B extends z.ZodType, Q extends z.ZodType>(
  spec: RouteSpec<P, B, Q> & { readonly path: NoInfer<KnownParams<P>> },
): Route {
  // The one place the types are let go: runRoute builds the context from the parameters itty matched
  // on this route's own path and from this route's own schemas, which is the context declared above.
  return spec as unknown as Route;
}

/** Addresses limited for failed tokens, in this isolate. */
const failedTokens = new FailedTokenLimit();

/** An event's position in the log (as it appears in a path). */
const EventSeqSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, { message: "must be an event seq: a positive whole number" })
  .transform(Number);

/** Path parameters by name, with the schemas that validate them. */
export const PATH_PARAMS = { townId: TownIdSchema, beadId: BeadIdSchema, agentId: AgentIdSchema, rigId: RigIdSchema, seq: EventSeqSchema } as const;

type ParamName = keyof typeof PATH_PARAMS;
type ParamValues = { readonly [K in ParamName]: z.output<(typeof PATH_PARAMS)[K]> };

/** The names of the `:name` segments of a path: `"townId" | "beadId"` for `/api/towns/:townId/beads/:beadId`. */
export type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<Rest>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** The validated parameters of a path: exactly the ones it names. */
export type PathParams<P extends string> = Pick<ParamValues, ParamNames<P> & ParamName>;

/** The path, if every parameter it names is one PATH_PARAMS validates. */
type KnownParams<P extends string> = [Exclude<ParamNames<P>, ParamName>] extends [never] ? P : never;

export const isParamName = (name: string): name is ParamName => Object.hasOwn(PATH_PARAMS, name);

/**
 * Runs a route with its checks in the order of DESIGN §6: the token is valid at all (401), its scope
 * and town fit (403), the path is well formed (400) and its entities exist (404), then the query and
 * body (400), then the handler. A refusal for want of a valid token counts against the client's
 * address; past the limit every request from the address is a 429 (src/http/failed-tokens.ts).
 */
export async function runRoute(spec: Route, request: IRequest, env: Env): Promise<Response> {
  const address = clientAddress(request);
  try {
    // A limited address is refused whatever it sends, before its token is looked at.
    const limited = spec.access === "none" ? null : failedTokens.refusal(address, Date.now());
    if (limited) throw limited;
    return await checkedRun(spec, request, env);
  } catch (error) {
    const refusal = error instanceof HttpError && error.status === 401 ? await failedTokens.count(error, address, env, Date.now()) : error;
    // A browser without the read token gets a page that says how to sign in, not a JSON error asking for a
    // header; a client that does not ask for HTML keeps the JSON error of every other route.
    if (spec.browser && refusal instanceof HttpError && (refusal.status === 401 || refusal.status === 403) && asksForHtml(request)) {
      return signInPage(refusal.status, refusal.code, refusal.message);
    }
    throw refusal;
  }
}

async function checkedRun(spec: Route, request: IRequest, env: Env): Promise<Response> {
  let token = "";
  let caller: AgentCaller = { kind: "town", token: "" };
  if (spec.access === "agent") {
    caller = await requireAgentToken(request, env, request.params?.townId ?? "");
    if (caller.kind === "town") token = caller.token;
  } else if (spec.access !== "none") token = await requireScope(request, env, spec.access, spec.browser ? pageToken(request) : null);
  const params = pathParams(request);
  const town = params.townId ? env.TOWN.getByName(params.townId) : undefined;
  let query: unknown;
  let body: unknown;
  try {
    query = spec.query ? readQuery(request, spec.query) : undefined;
    body = spec.body ? await readJson(request, spec.body.schema, spec.body.limit, spec.body.quick) : undefined;
  } catch (error) {
    // The input is wrong; but the checks before the body's come first (DESIGN §6).
    if (error instanceof HttpError && town && !spec.createsTown) await checkPath(town, spec.access === "agent" && token ? token : undefined, params);
    throw error;
  }
  const idempotency = spec.idempotent ? await idempotencyOf(request, body) : undefined;
  return spec.handle({ request, env, params, town, body, query, token, caller, idempotency });
}

/**
 * The checks that come before the body's, for a request whose body is wrong: the agent token is the
 * town's (401, in the same words whether the town exists or not), then the town and what the path
 * names exist (404).
 */
async function checkPath(town: DurableObjectStub<TownDO>, agentToken: string | undefined, params: Partial<ParamValues>): Promise<void> {
  const names = { agentToken, beadId: params.beadId, agentId: params.agentId, rigId: params.rigId, seq: params.seq };
  const facts = await town.exists(Object.fromEntries(Object.entries(names).filter(([, value]) => value !== undefined)));
  if (facts.agentToken === false) throw new HttpError(401, "invalid_token", INVALID_AGENT_TOKEN);
  const missing = !facts.town
    ? townNotFound(params.townId ?? "")
    : facts.bead === false
      ? beadNotFound(params.beadId!)
      : facts.agent === false
        ? agentNotFound(params.agentId!)
        : facts.rig === false
          ? rigNotFound(params.rigId!)
          : facts.event === false
            ? eventNotFound(params.seq!)
            : null;
  if (missing) throw failureError(missing.error);
}

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

/** The `Idempotency-Key` header, checked, with a digest of the validated body (keys sorted, so key order does not matter). */
async function idempotencyOf(request: IRequest, body: unknown): Promise<IdempotentRequest | undefined> {
  const key = request.headers.get("idempotency-key");
  if (key === null) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new HttpError(400, "invalid_request", "the Idempotency-Key header must be 1 to 255 printable ASCII characters (a UUID is a good key)");
  }
  return { key, requestHash: await sha256Hex(canonicalJson(body)) };
}

/** JSON with object keys sorted at every level. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** A town's answer, or its error as an HTTP error. */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw failureError(result.error);
  return result.value;
}

/** The parameters of the matched path, each validated by its schema in PATH_PARAMS (a 400 that says which and why). */
function pathParams(request: IRequest): Partial<ParamValues> {
  // Each value is what PATH_PARAMS[name] parsed, which is what ParamValues says of it.
  return Object.fromEntries(Object.keys(request.params ?? {}).map((name) => [name, param(request, name)])) as Partial<ParamValues>;
}

function param(request: IRequest, name: string): unknown {
  if (!isParamName(name)) throw new Error(`the route's path names :${name}, which PATH_PARAMS does not validate`);
  let raw: string;
  try {
    raw = decodeURIComponent(request.params[name] ?? "");
  } catch {
    throw new HttpError(400, "invalid_request", `the ${name} in the path is not valid URL encoding`);
  }
  const parsed = PATH_PARAMS[name].safeParse(raw);
  if (!parsed.success) throw new HttpError(400, "invalid_request", `${name} "${raw.slice(0, 80)}" ${parsed.error.issues[0]?.message ?? "is invalid"}`);
  return parsed.data;
}

/** The query string, validated (a repeated parameter is an error, not a guess). */
function readQuery<S extends z.ZodType>(request: IRequest, schema: S): z.output<S> {
  const params = new URL(request.url).searchParams;
  const repeated = [...params.keys()].find((key, i, keys) => keys.indexOf(key) !== i);
  if (repeated) throw new HttpError(400, "invalid_request", `query parameter ${repeated} is given more than once`);
  const parsed = schema.safeParse(Object.fromEntries(params));
  if (!parsed.success) throw new HttpError(400, "invalid_request", describeIssues(parsed.error));
  return parsed.data;
}

/** A browser asks for HTML first (`Accept: text/html,…`); curl and API clients do not. */
const asksForHtml = (request: Request): boolean => (request.headers.get("accept") ?? "").toLowerCase().includes("text/html");
