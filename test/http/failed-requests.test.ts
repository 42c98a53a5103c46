import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import worker from "../../src/index";
import { SENTRY_TIMEOUT_MS } from "../../src/observability/sentry";
import { api, createTown, TOKENS, type TestTown } from "../support/town";

const sentryUrl = inject("sentryUrl");

/** What the fake Sentry received about failed requests of this town (alerts carry no route tag). */
async function reports(town: TestTown): Promise<any[]> {
  const events: any[] = await (await fetch(`${sentryUrl}/__events?townId=${town.townId}`)).json();
  return events.filter((event) => event.tags.route !== undefined);
}

/** Storage that fails every statement: the town can answer nothing, so its routes' handlers throw. */
async function breakStorage(town: TestTown): Promise<void> {
  await runInDurableObject(town.stub, (_instance, state) => {
    (state.storage.sql as { exec: unknown }).exec = () => {
      throw new Error("injected: storage offline");
    };
  });
}

// The Worker logs each failure at error level; the log lines are the logs project's concern.
beforeEach(() => void vi.spyOn(console, "log").mockImplementation(() => {}));
afterEach(() => vi.restoreAllMocks());

describe("a request the Worker fails to answer", () => {
  it("is reported to Sentry with its method, route, request id and town, never its credentials, and answers the stable 500", async () => {
    const town = await createTown();
    await breakStorage(town);
    // The read token three ways at once: the header, the page's cookie and ?token=.
    const response = await api("GET", `/api/towns/${town.townId}/status?token=${TOKENS.read}-in-query`, {
      token: TOKENS.read,
      headers: { "x-request-id": "req-failed-1", cookie: `town_read_token=${TOKENS.read}-in-cookie` },
    });

    expect(response.status).toBe(500);
    expect(response.body.error).toEqual({ code: "internal_error", message: expect.stringContaining("req-failed-1") });
    expect(response.headers.get("x-request-id")).toBe("req-failed-1");
    const [report, ...more] = await reports(town);
    expect(more).toEqual([]);
    expect(report.tags).toMatchObject({ method: "GET", route: "/api/towns/:townId/status", requestId: "req-failed-1", town: town.townId });
    expect(report.contexts.route).toEqual({ method: "GET", route: "/api/towns/:townId/status", requestId: "req-failed-1", townId: town.townId, status: 500 });
    expect(JSON.stringify(report.exception)).toContain("injected: storage offline");
    expect(report.request).toEqual({
      method: "GET",
      url: `https://town.test/api/towns/${town.townId}/status`,
      query_string: "",
      headers: { "x-request-id": "req-failed-1" },
    });
    // No token, no cookie, no client address: not in the request, not anywhere in the event.
    expect(report.raw).not.toContain(TOKENS.read);
    expect(report.raw.toLowerCase()).not.toContain("authorization");
    expect(report.raw).not.toContain("198.18.");
  });

  it("comes from the town as a value, not an exception across the RPC boundary (which the runtime prints as uncaught)", async () => {
    const town = await createTown();
    await breakStorage(town);
    const answer = await town.stub.status();
    expect(answer).toMatchObject({ ok: false, error: { code: "internal_error", message: "injected: storage offline" } });
    expect((answer as any).error.thrown.stack).toContain("failed-requests.test.ts");
  });

  it("is not reported when the Worker answers the caller's mistake (4xx)", async () => {
    const town = await createTown();
    const base = `/api/towns/${town.townId}`;
    const refusals = [
      await api("GET", `${base}/status`),
      await api("GET", `${base}/status`, { token: "not-a-token" }),
      await api("POST", `${base}/beads`, { token: TOKENS.read, body: { rigId: "web", title: "x" } }),
      await api("GET", `${base}/beads/nope`, { token: TOKENS.read }),
      await api("POST", `${base}/beads`, { token: TOKENS.admin, body: { rigId: "web", title: "x", priority: 9 } }),
      await api("POST", `${base}/beads/nope/cancel`, { token: TOKENS.admin, body: {} }),
    ];
    expect(refusals.map((r) => r.status)).toEqual([401, 401, 403, 404, 400, 404]);
    expect(await reports(town)).toEqual([]);

    // The same town's failure is seen: the check above could have found one.
    await breakStorage(town);
    expect((await api("GET", `${base}/status`, { token: TOKENS.read })).status).toBe(500);
    expect(await reports(town)).toHaveLength(1);
  });

  it("is answered at once while Sentry hangs, and the report is let go within its bound", async () => {
    const town = await createTown();
    await breakStorage(town);
    await fetch(`${sentryUrl}/__control`, { method: "POST", body: JSON.stringify({ townId: town.townId, mode: "hang" }) });

    const ctx = createExecutionContext();
    const request = new Request(`https://town.test/api/towns/${town.townId}/status`, { headers: { authorization: `Bearer ${TOKENS.read}` } });
    const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, env as never, ctx);
    expect(response.status).toBe(500);
    expect(((await response.json()) as any).error.code).toBe("internal_error");

    // The answer is out while the report still waits on Sentry (it is sent under ctx.waitUntil)…
    const leftRunning = waitOnExecutionContext(ctx).then(() => "settled");
    expect(await Promise.race([leftRunning, scheduler.wait(SENTRY_TIMEOUT_MS / 5).then(() => "in flight")])).toBe("in flight");
    // …and what was left running ends: Sentry's request is cut off after SENTRY_TIMEOUT_MS.
    expect(await leftRunning).toBe("settled");
    expect(await reports(town)).toEqual([expect.objectContaining({ mode: "hang" })]);
  });
});
