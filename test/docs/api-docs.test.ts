import { describe, expect, it } from "vitest";
import apiDocs from "../../docs/api.md?raw";
import auth from "../../src/http/auth.ts?raw";
import body from "../../src/http/body.ts?raw";
import route from "../../src/http/route.ts?raw";
import router from "../../src/http/router.ts?raw";
import result from "../../src/domain/result.ts?raw";
import { HttpError } from "../../src/http/errors";
import { ROUTES } from "../../src/http/routes";
import type { ErrorCode } from "../../src/domain/result";

/**
 * docs/api.md documents the API the code serves: every route of src/http/routes.ts has its heading,
 * and every error code a caller can get — a town's (src/domain/result.ts) or the Worker's own
 * (src/http) — is in the table of codes with the status the Worker answers it with.
 */

/** The `| status | code | when |` rows of the error table. */
const documentedCodes = new Map([...apiDocs.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const));

/** Codes the Worker answers itself, with their status, as the HTTP layer writes them. */
const httpCodes = [auth, body, route, router].flatMap((text) =>
  [...text.matchAll(/(?:new HttpError|errorResponse)\((\d{3}), "([a-z_]+)"/g)].map((m) => ({ code: m[2]!, status: Number(m[1]) })),
);

/** The codes of the ErrorCode union, read from its declaration. */
const townCodes = [
  ...result.slice(result.indexOf("export type ErrorCode"), result.indexOf(";", result.indexOf("export type ErrorCode"))).matchAll(/"([a-z_]+)"/g),
].map((m) => m[1]! as ErrorCode);

describe("docs/api.md", () => {
  it("has a heading for every route the Worker serves", () => {
    const headings = new Set([...apiDocs.matchAll(/^### `([A-Z]+ [^`]+)`$/gm)].map((m) => m[1]!));
    const routes = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(routes.filter((r) => !headings.has(r))).toEqual([]);
    // And no heading for a route that is not served.
    expect([...headings].filter((h) => !routes.includes(h))).toEqual([]);
  });

  it("lists every code a town answers with, at the status the Worker gives it", () => {
    expect(townCodes.length).toBeGreaterThan(20);
    for (const code of townCodes) {
      expect(documentedCodes.get(code), code).toBe(HttpError.from({ code, message: "" }).status);
    }
  });

  it("lists every code the Worker answers with itself, at its status", () => {
    expect(httpCodes.length).toBeGreaterThan(10);
    for (const { code, status } of httpCodes) expect(documentedCodes.get(code), code).toBe(status);
  });

  it("lists no code nothing answers with", () => {
    const known = new Set<string>([...townCodes, ...httpCodes.map((c) => c.code)]);
    expect([...documentedCodes.keys()].filter((code) => !known.has(code))).toEqual([]);
  });
});
