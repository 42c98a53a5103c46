import { describe, expect, expectTypeOf, it } from "vitest";
import type { AgentId, BeadId, TownId } from "../../src/domain/ids";
import { route, type PathParams, type RouteContext } from "../../src/http/route";

/**
 * What a handler may read is typed from its route's path. These checks are made by the type checker
 * (`npm run typecheck`): an `@ts-expect-error` that no longer finds its error fails it.
 */
const declared = { access: "read", tag: "test", summary: "a route of this test", success: { status: 200, description: "ok" } } as const;

describe("a route handler's context", () => {
  it("holds exactly the parameters its path names, as their validated types", () => {
    expectTypeOf<PathParams<"/api/towns/:townId/beads/:beadId/explain">>().toEqualTypeOf<{ readonly townId: TownId; readonly beadId: BeadId }>();
    expectTypeOf<PathParams<"/api/towns/:townId/agents/:agentId/heartbeat">>().toEqualTypeOf<{ readonly townId: TownId; readonly agentId: AgentId }>();
    expectTypeOf<PathParams<"/api/towns/:townId/debug/events/:seq/retry">>().toEqualTypeOf<{ readonly townId: TownId; readonly seq: number }>();
    expectTypeOf<PathParams<"/api/towns">>().toEqualTypeOf<Record<never, never>>();
  });

  it("has the town's object only on a path that names a town", () => {
    expectTypeOf<RouteContext<"/api/towns/:townId/status", unknown, unknown>>().toHaveProperty("town");
    expectTypeOf<RouteContext<"/api/fleet/status", unknown, unknown>>().not.toHaveProperty("town");
  });

  it("refuses a handler that reads a parameter its path lacks, and a path naming a parameter nothing validates", () => {
    const routes = [
      route({
        ...declared,
        method: "GET",
        path: "/api/towns/:townId/status",
        // @ts-expect-error -- the path names no bead
        handle: async ({ params }) => new Response(params.beadId),
      }),
      route({
        ...declared,
        method: "GET",
        // @ts-expect-error -- :shardId is not one of PATH_PARAMS
        path: "/api/towns/:townId/shards/:shardId",
        handle: async () => new Response(null),
      }),
      route({
        ...declared,
        method: "GET",
        path: "/api/towns",
        // @ts-expect-error -- no town in the path, so no town object
        handle: async ({ town }) => new Response(String(town)),
      }),
    ];
    expect(routes.map((r) => r.path)).toEqual(["/api/towns/:townId/status", "/api/towns/:townId/shards/:shardId", "/api/towns"]);
  });
});
