import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../src/http/routes";
import { api, createTown, sling, tick, TOKENS, type TestTown } from "../support/town";

/**
 * Property: whatever arrives — random JSON, random bytes, random headers, random ids — every route
 * answers with a status below 500, and a refusal (4xx) changes nothing in the town. Seeded, bounded.
 */
const SEED = 20261122;
const RUNS = 25;

let town: TestTown;
beforeAll(async () => {
  town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
  await sling(town, { id: "b1", title: "Existing" });
  await tick(town);
});

const anyToken = () =>
  fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(TOKENS.admin, TOKENS.read, TOKENS.debug),
    fc.constant("AGENT"),
    fc.string({ maxLength: 80 }),
    fc.string({ maxLength: 40 }).map((s) => `${s}.${s}`),
  );
const anyId = () => fc.oneof(fc.constantFrom("b1", "web", "web:polecat:1", "nope"), fc.string({ maxLength: 40 }), fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/));
const anyBody = () =>
  fc.oneof(
    fc.constant(undefined),
    fc.json({ maxDepth: 3 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => String.fromCharCode(...bytes)),
    fc
      .record({ events: fc.array(fc.record({ eventId: fc.string(), type: fc.string(), agentId: fc.string(), payload: fc.object() }), { maxLength: 5 }) })
      .map((v) => JSON.stringify(v)),
  );
const anyHeaders = () =>
  fc.dictionary(fc.constantFrom("content-type", "content-length", "x-request-id", "accept", "cookie", "x-extra"), fc.string({ maxLength: 60 }), { maxKeys: 3 });

describe.each(ROUTES.filter((r) => r.path.includes(":townId")))("fuzzing $method $path", (spec) => {
  it("never answers 5xx, and a refusal changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(anyToken(), anyId(), anyId(), anyBody(), anyHeaders(), async (token, beadId, agentId, body, headers) => {
        const path = spec.path.replace(":townId", town.townId).replace(":beadId", encodeURIComponent(beadId)).replace(":agentId", encodeURIComponent(agentId));
        const before = await town.stub.testDump();
        const response = await api(spec.method, path, {
          token: token === "AGENT" ? town.agentToken : (token ?? null),
          body: spec.method === "GET" ? undefined : body,
          headers: Object.fromEntries(Object.entries(headers).filter(([name]) => name !== "content-length")),
        });
        expect(response.status, `${spec.method} ${path} → ${JSON.stringify(response.body)}`).toBeLessThan(500);
        if (response.status >= 400) {
          // A page answers its refusals as a page that names the code; the API as the JSON error shape.
          const html = (response.headers.get("content-type") ?? "").startsWith("text/html");
          const code = html ? /data-error="([^"]*)"/.exec(String(response.body))?.[1] : response.body?.error?.code;
          expect(code, `the error shape of ${response.status} ${String(JSON.stringify(response.body)).slice(0, 300)}`).toMatch(/^[a-z_]+$/);
          expect(await town.stub.testDump(), "a refusal changed the town").toBe(before);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 120_000);
});
