import { TownStore } from "../../src/db/town-store";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { renderStatusPage, timeTicks } from "../../src/http/status-page";
import { advance, api, createTown, sling, status, tick, TOKENS, type TestTown } from "../support/town";
import { captureErrorLogs } from "../support/error-logs";

/** The error lines its tests cause on purpose (dead letters, injected faults): asserted, not printed. */
const logged = captureErrorLogs();

/** Agents that never report on their own: a bead in progress stays there until the test moves it. */
const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

const explain = async (town: TestTown, beadId: string) => (await api("GET", `/api/towns/${town.townId}/beads/${beadId}/explain`, { token: TOKENS.read })).body;
const cancel = (town: TestTown, beadId: string, status: "failed" | "closed") =>
  api("POST", `/api/towns/${town.townId}/beads/${beadId}/cancel`, { token: TOKENS.admin, body: { status } });
const page = (town: TestTown) => api<string>("GET", `/towns/${town.townId}`, { token: TOKENS.read });

/** A town with something moving, something waiting and something failed. */
async function troubledTown(): Promise<TestTown> {
  const town = await createTown(SILENT);
  await sling(town, { id: "moving", title: "Being worked on" });
  await sling(town, { id: "held", title: "Held back", held: true });
  await sling(town, { id: "behind-held", title: "Waits for the held one", blockedBy: ["held"] });
  await sling(town, { id: "doomed", title: "Cancelled as failed" });
  await sling(town, { id: "doomed-later", title: "Also cancelled as failed" });
  await tick(town);
  // Each cancellation settles (its agent stopped and unhooked) before the next one.
  for (const id of ["doomed", "doomed-later"]) {
    expect((await cancel(town, id, "failed")).status).toBe(202);
    await advance(town, 1_000);
    await tick(town);
  }
  return town;
}

describe("what is stuck (the town's stuckWork)", () => {
  it("lists failed beads newest first and waiting beads with explain's reasons, and leaves out what is moving", async () => {
    const town = await troubledTown();
    const stuck = (await town.stub.stuckWork(20)) as any;
    expect(stuck.ok).toBe(true);
    const { failed, waiting, moreWaiting } = stuck.value;

    expect(failed.map((b: any) => b.id)).toEqual(["doomed-later", "doomed"]);
    expect(waiting.map((b: any) => b.id).sort()).toEqual(["behind-held", "held"]);
    expect(moreWaiting).toBe(false);
    // The same reasons as the explain route gives, bead by bead.
    for (const bead of [...failed, ...waiting]) expect(bead.reasons, bead.id).toEqual((await explain(town, bead.id)).reasons);
    expect(waiting.find((b: any) => b.id === "held").reasons).toContainEqual(expect.objectContaining({ code: "held" }));
    expect(waiting.find((b: any) => b.id === "behind-held").reasons).toContainEqual({
      code: "blocked",
      message: "blocked by held (open) (edit its blockers to change that)",
      command: `PATCH /api/towns/${town.townId}/beads/behind-held`,
    });
    expect(failed[0].reasons).toContainEqual(expect.objectContaining({ code: "failed" }));
  });

  it("reads failed beads from storage, so a finished bead no longer held in memory is still listed", async () => {
    const town = await createTown(SILENT);
    // A failed bead written to storage only, as finished beads will be once they leave the working set.
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec(
        `INSERT INTO beads (id, rig_id, type, status, title, priority, dispatch_attempts, held, merged, created_at, updated_at)
         VALUES ('archived', 'web', 'issue', 'failed', 'Failed long ago', 2, 5, 0, 0, 1, 2)`,
      );
    });
    const stuck = (await town.stub.stuckWork(20)) as any;
    expect(stuck.value.failed).toEqual([expect.objectContaining({ id: "archived", status: "failed", dispatchAttempts: 5, updatedAt: 2 })]);
    // Not in the town's live state: the live counts do not know it.
    expect((await status(town)).beads.failed).toBe(0);
  });

  it("caps each list and says when there are more than it shows", async () => {
    const town = await createTown(SILENT);
    for (const id of ["h1", "h2", "h3"]) await sling(town, { id, title: id, held: true });
    for (const id of ["f1", "f2"]) {
      await sling(town, { id, title: id, held: true });
      expect((await cancel(town, id, "failed")).status).toBe(202);
    }
    const two = ((await town.stub.stuckWork(2)) as any).value;
    expect(two).toMatchObject({ limit: 2, moreWaiting: true, moreFailed: false });
    expect(two.waiting).toHaveLength(2);
    expect(two.failed).toHaveLength(2);
    const one = ((await town.stub.stuckWork(1)) as any).value;
    expect(one).toMatchObject({ limit: 1, moreWaiting: true, moreFailed: true });
    expect(((await town.stub.stuckWork(3)) as any).value.moreWaiting).toBe(false);
  });
});

describe("the status page", () => {
  it("says why a failed bead failed, offers the command that retries it, and shows a pause with the command that resumes it", async () => {
    const town = await troubledTown();
    await api("POST", `/api/towns/${town.townId}/pause`, { token: TOKENS.admin, body: { reason: "incident <42>" } });
    const html = (await page(town)).body;
    // doomed was cancelled as failed: its card says so, and the retry it takes, to copy with the admin token.
    expect(html).toMatch(/data-bead="doomed" data-kind="failed">[\s\S]*?data-failure="cancelled"/);
    expect(html).toContain(`data-command="POST /api/towns/${town.townId}/beads/doomed/retry"`);
    expect(html).toContain(`curl -X POST -H &quot;Authorization: Bearer $ADMIN_TOKEN&quot; https://town.test/api/towns/${town.townId}/beads/doomed/retry`);
    expect(html).toContain(`data-command="POST /api/towns/${town.townId}/beads/held/release"`);
    // The pause, first, escaped like every stored text, with its resume.
    expect(html).toContain('id="paused" data-paused-by="operator"');
    expect(html).toContain("incident &lt;42&gt;");
    expect(html.indexOf('id="paused"')).toBeLessThan(html.indexOf('id="stuck"'));
    expect(html).toContain(`data-command="POST /api/towns/${town.townId}/resume"`);
  });

  it("shows today's container time, dispatches and the budget's share, as the status JSON counts them", async () => {
    const town = await createTown({ ...SILENT, budget: { containerHoursPerDay: 1 } });
    await sling(town, { id: "metered", title: "Uses a container" });
    await tick(town);
    await advance(town, 100);
    await tick(town);
    await advance(town, 360_000);
    const usage = (await status(town)).usage;
    expect(usage.today).toMatchObject({ dispatches: 1, running: 1 });
    const html = (await page(town)).body;
    const figure = (name: string) => new RegExp(`data-metric="usage\\.${name.replace(".", "\\.")}">([^<]*)<`).exec(html)?.[1];
    expect(figure("today.dispatches")).toBe("1");
    expect(figure("today.running")).toBe("1");
    // Six minutes of a one-hour budget.
    expect(figure("today.containerHours")).toBe("0.10");
    expect(figure("budget.usedShare")).toBe("10%");
    expect(figure("verdict")).toBe("continue");
  });

  it("shows what is stuck first, with reasons and links that answer with the token", async () => {
    const town = await troubledTown();
    const response = await page(town);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toBe("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    const html = response.body;
    expect(html).not.toMatch(/<script/i);
    // First on the page: before health, counts and charts.
    expect(html.indexOf('id="stuck"')).toBeGreaterThan(0);
    expect(html.indexOf('id="stuck"')).toBeLessThan(html.indexOf("<h2>Health</h2>"));

    for (const [id, kind] of [
      ["doomed", "failed"],
      ["doomed-later", "failed"],
      ["held", "waiting"],
      ["behind-held", "waiting"],
    ] as const) {
      expect(html, id).toContain(`data-bead="${id}" data-kind="${kind}"`);
    }
    expect(html).not.toContain('data-bead="moving"');
    expect(html).toContain('data-reason="held"');
    expect(html).toContain("blocked by held (open)");

    // Every link on the page is a page under the page's cookie, and answers 200 with the read token.
    const links = [...html.matchAll(/data-link="([a-z-]+)" href="([^"]+)"/g)].map((m) => ({ kind: m[1]!, href: m[2]!.replace(/&amp;/g, "&") }));
    expect(new Set(links.map((l) => l.kind))).toEqual(new Set(["bead", "explain", "history"]));
    for (const link of new Map(links.map((l) => [l.href.split("#")[0], l])).values()) {
      expect(link.href.startsWith(`/towns/${town.townId}/`), link.href).toBe(true);
      const opened = await api("GET", link.href.split("#")[0]!, { token: TOKENS.read, raw: true });
      expect(opened.status, link.href).toBe(200);
      expect(opened.headers.get("content-type")).toContain("text/html");
    }
    expect(links).toContainEqual({ kind: "explain", href: `/towns/${town.townId}/beads/held#explain` });
    // No dead letter in this town: no link to them.
    expect(html).toContain("No event is dead-lettered.");
  });

  it("names the runbook of an open violation", async () => {
    const town = await createTown(SILENT);
    // An event row that can never be applied: after its retries it is dead-lettered (invariant 9).
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts) VALUES ('poison', 'agent_done', 'web:polecat:1', '{not json', 0, 'pending', 0)",
      );
      new TownStore(state.storage).events.recountTotals();
    });
    for (let i = 0; i < 6; i++) {
      await advance(town, 1_000);
      await tick(town);
    }
    expect((await status(town)).violations.list).toContainEqual(expect.objectContaining({ invariant: 9 }));
    const html = (await page(town)).body;
    // No RUNBOOKS_URL in the tests' Worker: the page names the file in the repository.
    expect(html).toMatch(/data-invariant="9">.*docs\/runbooks\/dead-letters\.md/);
    // A dead letter: the page links to them, as a page the read token opens.
    expect(html).toContain(`<a data-link="dead-letters" href="/towns/${town.townId}/dead-letters">1</a>`);
    const letters = await api("GET", `/towns/${town.townId}/dead-letters`, { token: TOKENS.read, raw: true });
    expect(letters.status).toBe(200);
    expect(letters.body).toMatch(/<tr data-seq="\d+"><td>\d+<\/td><td><code>agent_done<\/code>/);
    expect(letters.body).toContain("payload is not JSON");
    expect(letters.body).not.toContain("{not json");
    logged.expect("event dead-lettered");
  });

  it("opens a bead as a page: why it failed, why it is not moving with the command that lifts it, and its history", async () => {
    const town = await troubledTown();
    const opened = await api("GET", `/towns/${town.townId}/beads/doomed`, { token: TOKENS.read, raw: true });
    expect(opened.status).toBe(200);
    const html = opened.body;
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('data-failure="cancelled"');
    expect(html).toContain(`data-command="POST /api/towns/${town.townId}/beads/doomed/retry"`);
    expect(html).toMatch(/<section id="history">[\s\S]*<tr data-kind="command">[\s\S]*<code>bead_created<\/code>[\s\S]*<code>bead_cancelled<\/code>/);
    expect((await api("GET", `/towns/${town.townId}/beads/nope`, { token: TOKENS.read })).status).toBe(404);
    expect((await api("GET", `/towns/${town.townId}/beads/doomed`)).status).toBe(401);
  });

  it("links the runbook under RUNBOOKS_URL when it is set", async () => {
    const town = await createTown(SILENT);
    const stat = await status(town);
    const withViolation = {
      ...stat,
      violations: { open: 1, list: [{ invariant: 6, key: "b1", message: "two agents on b1", agentIds: [], beadIds: ["b1"], since: 0, lastReportedAt: 0 }] },
    };
    const stuck = { now: 0, limit: 20, failed: [], moreFailed: false, waiting: [], moreWaiting: false };
    const html = renderStatusPage(withViolation, [], stuck, { runbooksUrl: "https://git.example/town-reconciler/blob/main/docs/runbooks/" });
    expect(html).toContain('<a data-link="runbook" href="https://git.example/town-reconciler/blob/main/docs/runbooks/invariants-hooks.md">');
  });

  it("labels the charts' time axis with round UTC times", async () => {
    const start = Date.UTC(2100, 0, 1, 10, 3, 20);
    expect(timeTicks(start, start + 3_600_000).map((t) => t.label)).toEqual(["10:15", "10:30", "10:45", "11:00"]);
    expect(timeTicks(start, start + 40_000).map((t) => t.label)).toEqual(["10:03:20", "10:03:30", "10:03:40", "10:03:50", "10:04:00"]);
    expect(timeTicks(start, start).map((t) => t.label)).toEqual(["10:03:20"]);

    const town = await troubledTown();
    const html = (await page(town)).body;
    expect(html).toMatch(/<text class="time-tick" data-at="\d+"[^>]*>\d\d:\d\d(:\d\d)?<\/text>/);
  });
});

/** What a browser sends when it opens a page. */
const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

describe("the status page's token cookie", () => {
  it("answers 401, never 500, for a cookie that does not decode, and changes nothing", async () => {
    const town = await createTown();
    for (const cookie of ["town_read_token=%", "town_read_token=%E0%A4%A", "town_read_token=%zz; other=1"]) {
      const response = await api("GET", `/towns/${town.townId}`, { headers: { cookie, accept: BROWSER_ACCEPT } });
      expect(response.status, cookie).toBe(401);
      // A browser is told how to sign in, with the API's error code.
      expect(response.body).toContain('data-error="invalid_token"');
      expect(response.body).toContain("?token=");
    }
  });

  it("signs in a browser with a page, and answers any other client with the JSON error of every route", async () => {
    const town = await createTown();
    for (const path of [`/towns/${town.townId}`, `/towns/${town.townId}/dead-letters`, `/towns/${town.townId}/beads/b1`]) {
      const browser = await api("GET", path, { headers: { accept: BROWSER_ACCEPT } });
      expect(browser.status, path).toBe(401);
      expect(browser.headers.get("content-type"), path).toMatch(/^text\/html/);
      expect(browser.body, path).toContain('data-error="missing_token"');
      const client = await api("GET", path);
      expect(client.status, path).toBe(401);
      expect(client.body.error.code, path).toBe("missing_token");
    }
  });

  it("is set HttpOnly, for the pages (which alone read it), and SameSite=Lax so a link from another site opens the page", async () => {
    const town = await createTown();
    const response = await api("GET", `/towns/${town.townId}?token=${TOKENS.read}`);
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/towns/${town.townId}`);
    const cookie = response.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^town_read_token=test-read;/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("Path=/;");
    expect(cookie).toContain("SameSite=Lax");
  });
});
