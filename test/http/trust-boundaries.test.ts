import { signingKeyOf } from "../../src/auth/signing";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { TownStore } from "../../src/db/town-store";
import { REPLAY_LIMITS } from "../../src/replay/replay-window";
import { registry, sweep } from "../support/fleet";
import { advance, api, createTown, PREVIOUS_TOKENS, sendEvents, sling, tick, TOKENS, townStub, uniqueTownId } from "../support/town";

/** Agents that do not finish on their own: the tests send every callback. */
const MANUAL = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

/** What a browser asks for when it opens a page (a refusal is then a page, not the JSON error). */
const BROWSER = "text/html,application/xhtml+xml";

describe("the browser pages", () => {
  it("may not be framed by another site, signed in or not", async () => {
    const town = await createTown();
    await sling(town, { id: "b1", title: "Work" });
    for (const [path, token] of [
      [`/towns/${town.townId}`, TOKENS.read],
      [`/towns/${town.townId}/beads/b1`, TOKENS.read],
      [`/towns/${town.townId}/dead-letters`, TOKENS.read],
      [`/towns/${town.townId}`, null],
    ] as const) {
      const response = await api("GET", path, { token, raw: true, headers: { accept: BROWSER } });
      expect(response.headers.get("content-type"), path).toContain("text/html");
      expect(response.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
      expect(response.headers.get("x-frame-options"), path).toBe("DENY");
    }
  });

  it("take only the read token in ?token= or the cookie: an admin or debug token is refused and never written into the cookie", async () => {
    const town = await createTown();
    for (const token of [TOKENS.admin, TOKENS.debug, PREVIOUS_TOKENS.admin]) {
      const query = await api("GET", `/towns/${town.townId}?token=${token}`, { raw: true, headers: { accept: BROWSER } });
      expect(query.status, token).toBe(403);
      expect(query.headers.get("set-cookie"), token).toBeNull();
      expect(query.body).toContain('data-error="insufficient_scope"');
      const cookie = await api("GET", `/towns/${town.townId}`, { headers: { cookie: `town_read_token=${token}`, accept: BROWSER }, raw: true });
      expect(cookie.status, token).toBe(403);
    }
    // The read token signs in; an admin token in the Authorization header (a script, not an address) is fine.
    const signedIn = await api("GET", `/towns/${town.townId}?token=${TOKENS.read}`);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("set-cookie")).toMatch(/^town_read_token=test-read;/);
    expect((await api("GET", `/towns/${town.townId}`, { token: TOKENS.admin, raw: true })).status).toBe(200);
  });
});

describe("a merge request's prUrl", () => {
  it("is an http or https address: javascript:, data: and file: URLs are refused (400) and nothing is logged", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const pending = async () => (await api("GET", `/api/towns/${town.townId}/debug/events?status=pending`, { token: TOKENS.debug })).body.count;
    const before = await pending();
    for (const prUrl of ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd", "ftp://git.test/pr/1"]) {
      const response = await sendEvents(town, [
        { eventId: `done-${prUrl}`, type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/x", prUrl } },
      ]);
      expect(response.status, prUrl).toBe(400);
      expect(response.body.error.message, prUrl).toContain("http or https");
    }
    expect(await pending()).toBe(before);
    const fine = await sendEvents(town, [
      { eventId: "done", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/x", prUrl: "https://git.test/web/pull/1" } },
    ]);
    expect(fine.status).toBe(202);
  });
});

describe("a replay or export refused as too large", () => {
  it("is refused after reading about as much as its limit, not the whole log", async () => {
    const town = await createTown();
    const now = await town.stub.testNow();
    // 500,000 small events after the creation snapshot, all in the window (made in SQLite).
    const logged = 500_000;
    await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO town_events (event_id, type, payload, created_at, status, attempts) SELECT 'e-' || i, 'container_status', '{}', ?, 'processed', 0 FROM n`,
        logged,
        now,
      ),
    );
    const at = new Date(now).toISOString();
    const replay = await api("POST", `/api/towns/${town.townId}/debug/replay-events`, { token: TOKENS.debug, body: { from: at, to: at } });
    expect(replay.status).toBe(413);
    expect(replay.body.error).toEqual({ code: "replay_too_large", message: expect.stringContaining(`reads more than ${REPLAY_LIMITS.maxEvents} events`) });
    const exported = await api("GET", `/api/towns/${town.townId}/debug/history?from=${now}&to=${now}`, { token: TOKENS.debug });
    expect(exported.status).toBe(413);
    expect(exported.body.error.code).toBe("history_too_large");

    // What the check read: its limit and a range of seqs more (1,000), of the half million logged.
    const read = await runInDurableObject(town.stub, (_instance, state) => {
      const store = new TownStore(state.storage);
      return store.events.sizeAfter(0, now, { events: REPLAY_LIMITS.maxEvents, bytes: REPLAY_LIMITS.maxBytesRead, countBodies: true });
    });
    expect(read.capped).toBe(true);
    expect(read.rowsRead).toBeLessThanOrEqual(REPLAY_LIMITS.maxEvents + 2_000);
  });
});

describe("scope tokens mid-rotation", () => {
  it("accept the previous value of a scope as well as the current one, with the same scope; a made-up one is 401", async () => {
    const town = await createTown();
    for (const token of [TOKENS.read, PREVIOUS_TOKENS.read, TOKENS.admin, PREVIOUS_TOKENS.admin]) {
      expect((await api("GET", `/api/towns/${town.townId}/status`, { token })).status, token).toBe(200);
    }
    const rig = { id: "api", name: "api", gitUrl: "https://git.test/api.git" };
    expect((await api("POST", `/api/towns/${town.townId}/rigs`, { token: PREVIOUS_TOKENS.admin, body: rig })).status).toBe(201);
    // The previous read token is still only a read token.
    const refused = await api("POST", `/api/towns/${town.townId}/rigs`, { token: PREVIOUS_TOKENS.read, body: rig });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("insufficient_scope");
    // No previous debug token is configured: only the current one works.
    expect((await api("GET", `/api/towns/${town.townId}/status`, { token: "test-debug-previous" })).status).toBe(401);
  });
});

describe("the limit on requests without a valid token", () => {
  const MADE_UP = "A".repeat(43);

  it("refuses every request from a limited address before its token is looked at: the right token too, on any path", async () => {
    const town = await createTown(MANUAL);
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    const address = { "cf-connecting-ip": "203.0.113.21" };
    for (let i = 0; i < 30; i++) expect((await api("GET", `/api/towns/${town.townId}/status`, { token: `guess-${i}`, headers: address })).status).toBe(401);
    expect((await api("GET", `/api/towns/${town.townId}/status`, { token: "guess-30", headers: address })).status).toBe(429);
    // Now the right tokens, from the limited address, on other paths: refused, with Retry-After.
    for (const [method, path, token, body] of [
      ["GET", `/api/towns/${town.townId}/status`, TOKENS.read, undefined],
      ["GET", "/api/fleet/status", TOKENS.admin, undefined],
      ["POST", `/api/towns/${town.townId}/agents/web:polecat:1/heartbeat`, town.agentToken, { generation: 1 }],
      ["GET", `/towns/${town.townId}`, TOKENS.read, undefined],
    ] as const) {
      const response = await api(method, path, { token, body, headers: address });
      expect(response.status, path).toBe(429);
      expect(Number(response.headers.get("retry-after")), path).toBeGreaterThan(0);
    }
    // From another address the same tokens work.
    expect((await api("GET", `/api/towns/${town.townId}/status`, { token: TOKENS.read })).status).toBe(200);
  });

  it("counts per address whatever town the path names: 100 made-up town ids from one address are limited after 30", async () => {
    const address = { "cf-connecting-ip": "203.0.113.22" };
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) {
      const townId = `made-up-${i}`;
      statuses.push((await api("POST", `/api/towns/${townId}/events`, { token: `${townId}.${MADE_UP}`, body: { events: [] }, headers: address })).status);
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(30);
    expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
  });

  it("never wakes a town for a made-up agent token, whatever path it is sent to; the town's own token still reaches it", async () => {
    const town = await createTown(MANUAL);
    const forged = `${town.townId}.${MADE_UP}`;
    const before = await town.stub.testAgentTokenCalls();
    for (const [method, path, body] of [
      ["POST", `/api/towns/${town.townId}/events`, { events: [] }],
      ["POST", `/api/towns/${town.townId}/agents/web:polecat:1/heartbeat`, { generation: 1 }],
      ["POST", `/api/towns/${town.townId}/events`, { events: "broken" }],
      ["POST", "/api/towns/elsewhere/events", { events: [] }],
      ["GET", `/api/towns/${town.townId}/status`, undefined],
      ["GET", "/api/fleet/status", undefined],
    ] as const) {
      expect((await api(method, path, { token: forged, body })).status, path).toBe(401);
    }
    expect(await town.stub.testAgentTokenCalls()).toBe(before);
    // The real token, sent where it does not belong, is recognised by its town (403, not 401).
    expect((await api("GET", `/api/towns/${town.townId}/status`, { token: town.agentToken })).status).toBe(403);
    expect(await town.stub.testAgentTokenCalls()).toBe(before + 1);
  });
});

describe("deleting and creating a town at once", () => {
  const listed = async () => new Set((await api("GET", "/api/towns", { token: TOKENS.read })).body.towns.map((t: { id: string }) => t.id));

  it("never answers 5xx nor leaves a town listed that does not exist: 20 towns deleted and created again in parallel", async () => {
    const towns = await Promise.all(Array.from({ length: 20 }, () => createTown({}, { rig: false })));
    const answers = await Promise.all(
      towns.flatMap((town) => [
        api("DELETE", `/api/towns/${town.townId}`, { token: TOKENS.admin }),
        api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: {} } }),
      ]),
    );
    for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
    const list = await listed();
    for (const town of towns) {
      const status = (await api("GET", `/api/towns/${town.townId}/status`, { token: TOKENS.read })).status;
      // Listed if and only if it exists: no ghost, and no town missing from the list.
      expect(status === 200, `${town.townId}: ${status}, listed ${list.has(town.townId)}`).toBe(list.has(town.townId));
    }
  });

  it("drops from the registry a listed town whose object holds no town, at the watchdog's next sweep", async () => {
    const ghost = uniqueTownId("ghost");
    // Listed, with no town behind it: as a deletion whose registry write was lost would leave it.
    await registry.register(ghost, Date.UTC(2100, 0, 1));
    expect(await listed()).toContain(ghost);
    await sweep(Date.UTC(2100, 0, 3));
    expect(await listed()).not.toContain(ghost);
  });
});

describe("rotating a town's agent token", () => {
  it("runs rotations one after another, and after the creation they arrive during: each token answered works until the next answer, and the last works", async () => {
    const townId = uniqueTownId();
    // The creation and 5 rotations at once: the rotations reach the object while the creation awaits
    // its snapshot and the town list, and must wait for it (without that, a rotation replaces the
    // token the creation is about to answer, or finds no town yet: 404).
    // Sent a few milliseconds apart: one sent before the creation reached the object finds no town (404).
    const rotate = (delayMs: number) =>
      new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => api("POST", `/api/towns/${townId}/agent-token`, { token: TOKENS.admin }));
    const [created, ...answers] = await Promise.all([
      api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: { config: MANUAL } }),
      ...[0, 2, 4, 6, 8].map(rotate),
    ]);
    expect(created!.status).toBe(201);
    for (const answer of answers) expect([201, 404], JSON.stringify(answer.body)).toContain(answer.status);
    const rotated = answers.filter((a) => a.status === 201);
    expect(rotated.length).toBeGreaterThan(0);
    const tokens = [created!.body.agentToken as string, ...rotated.map((a) => a.body.agentToken as string)];
    expect(new Set(tokens).size).toBe(tokens.length);
    // The order the town answered in, as it recorded it (each token checked as it was answered): the
    // creation first, then the rotations in turn.
    const town = { townId, stub: townStub(townId) };
    const order = await town.stub.testRotations();
    expect(order[0]).toBe(created!.body.agentToken);
    expect([...order].sort()).toEqual([...tokens].sort());
    const works = async (token: string) => (await api("POST", `/api/towns/${townId}/events`, { token, body: { events: [] } })).status !== 401;
    for (const token of order.slice(0, -1)) expect(await works(token)).toBe(false);
    expect(await works(order.at(-1)!)).toBe(true);
  });
});

describe("a dispatch credential", () => {
  /** A town with two polecats at work (generation 1 each), and each one's credential. */
  async function twoAgents() {
    const town = await createTown({ ...MANUAL, maxPolecatsPerRig: 2 });
    await sling(town, { id: "b1", title: "One" });
    await sling(town, { id: "b2", title: "Two" });
    await tick(town);
    const agents = (await api("GET", `/api/towns/${town.townId}/agents`, { token: TOKENS.read })).body.agents.filter((a: any) => a.status === "working");
    expect(agents).toHaveLength(2);
    const [a, b] = agents.map((agent: any) => agent.id as string);
    return { town, a: a!, b: b!, credential: await town.stub.testCredential(a!, 1) };
  }
  const send = (townId: string, token: string, events: unknown[]) => api("POST", `/api/towns/${townId}/events`, { token, body: { events } });

  it("speaks for its own agent's heartbeats and callbacks, and for no other agent (403 wrong_agent)", async () => {
    const { town, a, b, credential } = await twoAgents();
    expect((await api("POST", `/api/towns/${town.townId}/agents/${a}/heartbeat`, { token: credential, body: { generation: 1 } })).status).toBe(204);
    const other = await api("POST", `/api/towns/${town.townId}/agents/${b}/heartbeat`, { token: credential, body: { generation: 1 } });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe("wrong_agent");
    // An agent_done for the other agent, as in the issue: refused whole, nothing logged.
    const evil = await send(town.townId, credential, [
      { eventId: "mine", type: "container_status", agentId: a, payload: { generation: 1, status: "running" } },
      { eventId: "evil", type: "agent_done", agentId: b, payload: { generation: 1, branch: "evil/branch" } },
    ]);
    expect(evil.status).toBe(403);
    expect(evil.body.error.code).toBe("wrong_agent");
    // Another generation of its own agent is not its to speak for either.
    expect((await send(town.townId, credential, [{ eventId: "later", type: "agent_done", agentId: a, payload: { generation: 2, branch: "x" } }])).status).toBe(
      403,
    );
    const own = await send(town.townId, credential, [{ eventId: "done", type: "agent_done", agentId: a, payload: { generation: 1, branch: "feat/a" } }]);
    expect(own.status, JSON.stringify(own.body)).toBe(202);
    await advance(town, 100);
    await tick(town);
    const beads = (await api("GET", `/api/towns/${town.townId}/beads?status=in_review`, { token: TOKENS.read })).body.beads;
    expect(beads).toHaveLength(1);
    expect((await api("GET", `/api/towns/${town.townId}/beads?type=merge_request`, { token: TOKENS.read })).body.beads.map((m: any) => m.branch)).toEqual([
      "feat/a",
    ]);
  });

  it("cannot send a platform event (pr_status_changed: 403)", async () => {
    const { town, credential } = await twoAgents();
    const response = await send(town.townId, credential, [{ eventId: "merged", type: "pr_status_changed", beadId: "b1", payload: { status: "merged" } }]);
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("insufficient_scope");
  });

  it("is refused once its generation has ended, after a grace for final reports", async () => {
    const { town, a, credential } = await twoAgents();
    const done = await send(town.townId, credential, [{ eventId: "done", type: "agent_done", agentId: a, payload: { generation: 1, branch: "feat/a" } }]);
    expect(done.status).toBe(202);
    await advance(town, 100);
    await tick(town);
    // The generation is over; a final report within the grace is still taken.
    const final = await send(town.townId, credential, [
      { eventId: "exit", type: "container_status", agentId: a, payload: { generation: 1, status: "exited" } },
    ]);
    expect(final.status, JSON.stringify(final.body)).toBe(202);
    await advance(town, 5 * 60_000 + 1);
    const late = await api("POST", `/api/towns/${town.townId}/agents/${a}/heartbeat`, { token: credential, body: { generation: 1 } });
    expect(late.status).toBe(403);
    expect(late.body.error.code).toBe("generation_ended");
  });

  it("is checked by its signature in the Worker: a forged or altered one wakes no town; a rotation of the agent token retires it", async () => {
    const { town, a, credential } = await twoAgents();
    const before = await town.stub.testAgentTokenCalls();
    const [prefix, claims, signature] = credential.split(".");
    const otherAgent = btoa(JSON.stringify({ t: town.townId, a: "web:polecat:9", g: 1, e: "0".repeat(16) })).replace(/=+$/, "");
    for (const forged of [`${prefix}.${claims}.${"A".repeat(signature!.length)}`, `${prefix}.${otherAgent}.${signature}`, "dc1.nothing"]) {
      const response = await api("POST", `/api/towns/${town.townId}/agents/${a}/heartbeat`, { token: forged, body: { generation: 1 } });
      expect(response.status, forged).toBe(401);
    }
    expect(await town.stub.testAgentTokenCalls()).toBe(before);
    expect((await api("POST", `/api/towns/${town.townId}/agent-token`, { token: TOKENS.admin })).status).toBe(201);
    const retired = await api("POST", `/api/towns/${town.townId}/agents/${a}/heartbeat`, { token: credential, body: { generation: 1 } });
    expect(retired.status).toBe(401);
  });
});

describe("the signing key", () => {
  it("is SIGNING_KEY where it is set, else derived from ADMIN_TOKEN (a Worker configured as before still creates towns), else none", () => {
    expect(signingKeyOf({ SIGNING_KEY: "k", ADMIN_TOKEN: "a" })).toBe("k");
    const derived = signingKeyOf({ ADMIN_TOKEN: "a" });
    expect(derived).toBeDefined();
    expect(derived).not.toBe(signingKeyOf({ ADMIN_TOKEN: "b" }));
    expect(signingKeyOf({})).toBeUndefined();
  });
});
