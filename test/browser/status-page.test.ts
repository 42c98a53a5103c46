/**
 * The status page in a real browser: the Worker under `wrangler dev` (simulated agents at work), the
 * Chromium of `@sparticuz/chromium` (or `CHROMIUM_PATH`) driven by playwright-core. The page must render
 * its charts, and its numbers must be the status route's numbers. A screenshot is written to test-results/status-page.png.
 */
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callApi, DEV_TOKENS, startLocalWorker, type LocalWorker } from "../../scripts/local-worker";
import { launchChromium } from "../support/node/browser";

/** What the page-side callbacks below read: they run in Chromium, and this file is compiled for Node, without the DOM's types. */
declare const document: { readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number } };

let worker: LocalWorker;
let browser: Browser;
/**
 * One context for every page: the packaged Chromium runs as a single process, and closing a page
 * opened with browser.newPage() closes its own context, which ends that process.
 */
let context: BrowserContext;
const TOWN = "browser-town";

const call = (method: string, path: string, token: string, body?: unknown) => callApi(worker.url, method, path, token, body);

beforeAll(async () => {
  worker = await startLocalWorker();
  // A town whose simulated agents finish in half a second: three issues go through review to closed.
  expect((await call("PUT", `/api/towns/${TOWN}`, DEV_TOKENS.admin, { config: { simulation: { workMs: 500 } } })).status).toBe(201);
  await call("POST", `/api/towns/${TOWN}/rigs`, DEV_TOKENS.admin, { id: "web", name: "web", gitUrl: "https://git.test/web.git" });
  for (const id of ["a", "b", "c"]) await call("POST", `/api/towns/${TOWN}/beads`, DEV_TOKENS.admin, { id, rigId: "web", title: `Task ${id}` });
  // And what gets stuck: a held bead, a bead blocked by it, and a bead cancelled as failed.
  await call("POST", `/api/towns/${TOWN}/beads`, DEV_TOKENS.admin, { id: "held", rigId: "web", title: "Held back", held: true });
  await call("POST", `/api/towns/${TOWN}/beads`, DEV_TOKENS.admin, { id: "behind-held", rigId: "web", title: "Waits for the held one", blockedBy: ["held"] });
  await call("POST", `/api/towns/${TOWN}/beads`, DEV_TOKENS.admin, { id: "doomed", rigId: "web", title: "Given up" });
  expect((await call("POST", `/api/towns/${TOWN}/beads/doomed/cancel`, DEV_TOKENS.admin, { status: "failed" })).status).toBe(202);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = (await call("GET", `/api/towns/${TOWN}/status`, DEV_TOKENS.read)).body;
    if (status.beads.closed === 6 && status.agents.working === 0 && status.queue.pending === 0) break;
    if (Date.now() > deadline) throw new Error(`the town did not finish its work: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("the status page", () => {
  it("refuses a browser without the read token with a page that says how to sign in", async () => {
    const response = await fetch(`${worker.url}/towns/${TOWN}`);
    expect(response.status).toBe(401);
    const wrong = await fetch(`${worker.url}/towns/${TOWN}?token=wrong`);
    expect(wrong.status).toBe(401);
    await context.clearCookies();
    const page = await context.newPage();
    const opened = await page.goto(`${worker.url}/towns/${TOWN}`);
    expect(opened?.status()).toBe(401);
    expect(await page.locator("h1").textContent()).toBe("Sign in");
    expect(await page.locator("body").textContent()).toContain("?token=");
    await page.close();
  });

  it("renders the charts, shows the status route's numbers, and keeps the token out of the address bar", async () => {
    const page = await context.newPage();
    const response = await page.goto(`${worker.url}/towns/${TOWN}?token=${DEV_TOKENS.read}`);
    expect(response?.status()).toBe(200);
    // The token went into an HttpOnly cookie and the page redirected to its plain address.
    expect(page.url()).toBe(`${worker.url}/towns/${TOWN}`);
    expect(await page.title()).toBe(`Town ${TOWN} — town-reconciler`);

    for (const chart of ["wall-clock", "queue-depth"]) {
      const svg = page.locator(`#chart-${chart}`);
      await expect(svg.isVisible()).resolves.toBe(true);
      expect(Number(await svg.getAttribute("data-points"))).toBeGreaterThan(3);
      const points = (await svg.locator("polyline").getAttribute("points")) ?? "";
      expect(points.split(" ").length).toBeGreaterThan(3);
      // A time axis: round UTC times under the line.
      const labels = await svg.locator("text.time-tick").allTextContents();
      expect(labels.length, chart).toBeGreaterThanOrEqual(2);
      for (const label of labels) expect(label).toMatch(/^\d\d:\d\d(:\d\d)?$/);
    }

    const status = (await call("GET", `/api/towns/${TOWN}/status`, DEV_TOKENS.read)).body;
    const shown = async (name: string) => (await page.locator(`[data-metric="${name}"]`).textContent())?.trim();
    for (const [key, n] of Object.entries(status.beads)) expect(await shown(`beads.${key}`), `beads.${key}`).toBe(String(n));
    for (const [key, n] of Object.entries(status.agents)) expect(await shown(`agents.${key}`), `agents.${key}`).toBe(String(n));
    expect(await shown("queue.pending")).toBe(String(status.queue.pending));
    expect(await shown("queue.dead")).toBe(String(status.queue.dead));
    expect(await shown("violations.open")).toBe(String(status.violations.open));
    expect(await shown("breaker.status")).toBe(status.breaker.status);

    // It refreshes itself: reload with the cookie alone.
    const again = await page.reload();
    expect(again?.status()).toBe(200);

    // What is stuck comes first on the page.
    expect(await page.locator("body > section").first().getAttribute("id")).toBe("stuck");
    expect(await shown("stuck.failed")).toBe("1");
    expect(await shown("stuck.waiting")).toBe("2");

    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/status-page.png", fullPage: true });
    await page.close();
  });

  it("lists the failed and the waiting beads with their reasons, and every link answers with the token", async () => {
    const page = await context.newPage();
    await page.goto(`${worker.url}/towns/${TOWN}?token=${DEV_TOKENS.read}`);
    const stuck = page.locator("#stuck");

    const failed = stuck.locator('li[data-bead="doomed"][data-kind="failed"]');
    await expect(failed.isVisible()).resolves.toBe(true);
    expect(await failed.locator("[data-reason]").evaluateAll((items) => items.map((li) => li.getAttribute("data-reason")))).toContain("failed");

    const held = stuck.locator('li[data-bead="held"][data-kind="waiting"]');
    expect((await held.locator('[data-reason="held"]').textContent())?.trim()).toMatch(
      /^held the bead is held; release it to dispatch itcurl -X POST .*\/beads\/held\/release$/,
    );
    const blocked = stuck.locator('li[data-bead="behind-held"][data-kind="waiting"]');
    expect((await blocked.locator('[data-reason="blocked"]').textContent())?.trim()).toMatch(
      /^blocked blocked by held \(open\) \(edit its blockers to change that\)curl -X PATCH/,
    );
    // Finished and moving work is not listed.
    for (const id of ["a", "b", "c"]) expect(await stuck.locator(`li[data-bead="${id}"]`).count(), id).toBe(0);

    // The failed card says why, and offers the retry.
    expect(await failed.locator("[data-failure]").getAttribute("data-failure")).toBe("cancelled");
    expect(await failed.locator("[data-command]").first().getAttribute("data-command")).toBe(`POST /api/towns/${TOWN}/beads/doomed/retry`);

    // Every link opens a page in the browser, with the cookie alone — never a JSON error.
    const links = await stuck
      .locator("a[data-link]")
      .evaluateAll((anchors) => anchors.map((a) => ({ kind: a.getAttribute("data-link")!, href: (a as unknown as { readonly href: string }).href })));
    const byKind = (kind: string) => links.filter((l) => l.kind === kind).map((l) => new URL(l.href).pathname + new URL(l.href).hash);
    expect(byKind("bead")).toEqual(expect.arrayContaining([`/towns/${TOWN}/beads/doomed`, `/towns/${TOWN}/beads/held`, `/towns/${TOWN}/beads/behind-held`]));
    expect(byKind("explain")).toEqual(expect.arrayContaining([`/towns/${TOWN}/beads/doomed#explain`, `/towns/${TOWN}/beads/held#explain`]));
    expect(byKind("history")).toContain(`/towns/${TOWN}/beads/doomed#history`);
    for (const { href } of new Map(links.map((l) => [l.href.split("#")[0], l])).values()) {
      const opened = await context.newPage();
      const response = await opened.goto(href);
      expect(response?.status(), href).toBe(200);
      expect(response?.headers()["content-type"], href).toContain("text/html");
      expect(await opened.locator("h1").textContent(), href).toMatch(/^Bead /);
      expect(await opened.locator("#explain li").count(), href).toBeGreaterThan(0);
      await opened.close();
    }
    // The explain link answers with the reasons the page shows.
    const explained = (await call("GET", `/api/towns/${TOWN}/beads/behind-held/explain`, DEV_TOKENS.read)).body;
    expect(explained.reasons).toContainEqual({
      code: "blocked",
      message: "blocked by held (open) (edit its blockers to change that)",
      command: `PATCH /api/towns/${TOWN}/beads/behind-held`,
    });
    await page.close();
  });

  it("fits a 390 px wide phone without scrolling sideways", async () => {
    // The shared context (the packaged Chromium ends when a context of its own closes), at a phone's width.
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = () => page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));
    await page.goto(`${worker.url}/towns/${TOWN}?token=${DEV_TOKENS.read}`);
    const town = await overflow();
    expect(town.scroll, JSON.stringify(town)).toBeLessThanOrEqual(town.view);
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/status-page-390.png", fullPage: true });
    await page.goto(`${worker.url}/towns/${TOWN}/beads/doomed`);
    const bead = await overflow();
    expect(bead.scroll, JSON.stringify(bead)).toBeLessThanOrEqual(bead.view);
    await page.close();
  });

  it("draws each chart to its data, with the alert line only when it is in range", async () => {
    const page = await context.newPage();
    await page.goto(`${worker.url}/towns/${TOWN}?token=${DEV_TOKENS.read}`);
    // A quiet town: ticks take milliseconds and the queue stays short, far below the 500 ms and 50 event alerts.
    for (const chart of ["wall-clock", "queue-depth"]) {
      const svg = page.locator(`#chart-${chart}`);
      expect(await svg.locator(".alert-line").count(), chart).toBe(0);
      const ys = ((await svg.locator("polyline").getAttribute("points")) ?? "").split(" ").map((p) => Number(p.split(",")[1]));
      const axis = Math.max(...ys);
      // Where the data is not all zero, its highest point reaches the chart's top part (scaled to the
      // data, not to an alert line far above it).
      if (Math.min(...ys) < axis) expect(Math.min(...ys), chart).toBeLessThan(60);
    }
    await page.close();
  });

  it("opens from a link on another site, as from Grafana, a chat or a pager (the cookie is SameSite=Lax)", async () => {
    await context.clearCookies();
    // Another site: "localhost" is not the Worker's 127.0.0.1.
    const elsewhere = createServer((_request, response) =>
      response.writeHead(200, { "content-type": "text/html" }).end(`<a id="go" href="${worker.url}/towns/${TOWN}?token=${DEV_TOKENS.read}">the town</a>`),
    );
    const port = await new Promise<number>((resolve) => elsewhere.listen(0, "localhost", () => resolve((elsewhere.address() as AddressInfo).port)));
    try {
      const page = await context.newPage();
      await page.goto(`http://localhost:${port}/`);
      await page.click("#go");
      await page.waitForURL(`${worker.url}/towns/${TOWN}`);
      // The page itself, not a 401: the cookie set on the way in came along on the redirect.
      expect(await page.title()).toBe(`Town ${TOWN} — town-reconciler`);
      expect(await page.locator("#stuck").count()).toBe(1);
      await page.close();
    } finally {
      elsewhere.close();
    }
  });
});

describe("the home page", () => {
  it("lists the fleet worst first with each town linking to its page, signs in once, and fits a phone", async () => {
    const unsigned = await fetch(`${worker.url}/`, { headers: { accept: "text/html" } });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toContain("Sign in");
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${worker.url}/?token=${DEV_TOKENS.read}`);
    // The token went into the cookie and out of the address.
    expect(new URL(page.url()).search).toBe("");
    const fleet = (await call("GET", "/api/fleet/status", DEV_TOKENS.read)).body.towns as Array<{ town: string; problems: number }>;
    expect(fleet.length).toBeGreaterThan(0);
    const listed = await page.locator("#towns tr[data-town]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-town")));
    expect(listed).toEqual(fleet.map((row) => row.town));
    const row = page.locator(`#towns tr[data-town="${TOWN}"]`);
    const problems = fleet.find((r) => r.town === TOWN)!.problems;
    expect(await row.locator('td[data-field="problems"]').textContent()).toBe(String(problems));
    expect(await page.locator("#legend li").count()).toBeGreaterThan(0);
    const size = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));
    expect(size.scroll, JSON.stringify(size)).toBeLessThanOrEqual(size.view);
    mkdirSync("test-results", { recursive: true });
    await page.screenshot({ path: "test-results/home-page-390.png", fullPage: true });
    // The link opens the town's page under the same cookie.
    const opened = await Promise.all([page.waitForNavigation(), row.locator('a[data-link="town"]').click()]);
    expect(opened[0]?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe(`/towns/${TOWN}`);
    await page.close();
  });
});
