import { z } from "zod";
import { isParamName, PATH_PARAMS, type Access, type Route } from "./route";

/**
 * The OpenAPI 3.1 description of these routes, generated from their declarations and the very zod
 * schemas that validate each request, so it describes what the Worker actually accepts.
 */
export function openApiDocument(routes: readonly Route[], serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = spec.path.replace(/:(\w+)/g, "{$1}");
    const parameters: unknown[] = [...spec.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
      name,
      in: "path",
      required: true,
      schema: jsonSchema(isParamName(name!) ? PATH_PARAMS[name] : z.string()),
    }));
    if (spec.query) {
      const shape = (spec.query as unknown as { shape?: Record<string, z.ZodType> }).shape ?? queryShape(spec.query);
      for (const [name, schema] of Object.entries(shape)) {
        parameters.push({ name, in: "query", required: !schema.safeParse(undefined).success, schema: jsonSchema(schema) });
      }
    }
    if (spec.idempotent) {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description: "Retry-safe creation: a retry with the same key and body gets the first answer; the same key with another body is 409.",
        schema: { type: "string", minLength: 1, maxLength: 255 },
      });
    }
    const operation: Record<string, unknown> = {
      operationId: operationId(spec.method, spec.path),
      tags: [spec.tag],
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      security: security(spec.access),
      responses: {
        [spec.success.status]: {
          description: spec.success.description,
          ...(spec.success.status === 204 ? {} : { content: { [spec.success.contentType ?? "application/json"]: { schema: {} } } }),
        },
        ...errorResponses(spec.access, spec.body !== undefined),
      },
    };
    if (spec.body) {
      operation.requestBody = {
        required: true,
        description: `At most ${spec.body.limit} bytes.`,
        content: { "application/json": { schema: jsonSchema(spec.body.schema) } },
      };
    }
    paths[path] ??= {};
    paths[path][spec.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "town-reconciler",
      version: "0.1.0",
      description:
        "Control plane for fleets of AI coding agents: one Durable Object per town. Errors are " +
        '`{ "error": { "code", "message" } }`; every response carries `X-Request-ID`.',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        admin: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN: create towns, sling work; also reads and debugs" },
        read: { type: "http", scheme: "bearer", description: "READ_TOKEN: status, metrics, history (debug and admin tokens read too)" },
        debug: { type: "http", scheme: "bearer", description: "DEBUG_TOKEN: dry-run, replay, dead letters (admin tokens too)" },
        agent: { type: "http", scheme: "bearer", description: "The town's agent token, returned once when the town is created" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } } },
        },
      },
    },
  };
}

function jsonSchema(schema: z.ZodType): unknown {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** The object shape behind a refined query schema. */
function queryShape(schema: z.ZodType): Record<string, z.ZodType> {
  const inner = (schema as unknown as { def?: { schema?: { shape?: Record<string, z.ZodType> } } }).def?.schema?.shape;
  return inner ?? {};
}

function security(access: Access): unknown[] {
  switch (access) {
    case "none":
      return [];
    case "read":
      return [{ read: [] }, { debug: [] }, { admin: [] }];
    case "debug":
      return [{ debug: [] }, { admin: [] }];
    case "admin":
      return [{ admin: [] }];
    case "agent":
      return [{ agent: [] }];
  }
}

function errorResponses(access: Access, hasBody: boolean): Record<string, unknown> {
  const error = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
  return {
    400: error("Invalid input: malformed JSON, wrong types, unknown fields, bad ids or dates"),
    ...(access === "none" ? {} : { 401: error("Missing or invalid token"), 403: error("Token of the wrong scope, or another town's agent token") }),
    404: error("Unknown town, bead, agent or route"),
    409: error("Conflict: an id reused with different content, a stale generation, a finished bead"),
    ...(hasBody ? { 413: error("Body larger than the route accepts, or a replay window over its limits") } : {}),
    429: error("Debug requests over the town's rate limit; see Retry-After"),
    ...(access === "admin" || access === "agent" ? { 507: error("The town's storage is full: no new work until there is room again") } : {}),
  };
}

function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\//, "/")
    .split("/")
    .filter(Boolean)
    .map((part) => (part.startsWith(":") ? `by-${part.slice(1)}` : part))
    .join("-");
  return `${method.toLowerCase()}-${words || "root"}`.replace(/[^A-Za-z0-9]+(.)/g, (_, c: string) => c.toUpperCase());
}
