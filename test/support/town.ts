/** Test helpers: drive the Worker over HTTP and the town object through its alarm and its test clock. */
import { env as workerEnv } from "cloudflare:workers";
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import type { Env } from "../../src/env";
import { expect } from "vitest";
import worker from "../../src/index";
import { withTestShards, type TownDO as TestTownDO } from "./test-worker";

/** The Worker's env, with the registry shard count a test may have changed (test-worker.ts `withTestShards`). */
export const env = withTestShards(workerEnv as unknown as Env);

export const TOKENS = { admin: "test-admin", read: "test-read", debug: "test-debug" } as const;
/** The values the admin and read tokens had before their rotation (vitest.config.ts), still accepted. */
export const PREVIOUS_TOKENS = { admin: "test-admin-previous", read: "test-read-previous" } as const;

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One HTTP call to the Worker. `body` is JSON-encoded unless it is already a string; `raw` keeps the answer as text. */
export async function api<T = any>(
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; headers?: Record<string, string>; raw?: boolean } = {},
): Promise<ApiResponse<T>> {
  // Each call from its own client address unless a test names one: the limit on requests without a
  // valid token is per address and town, and only the tests about that limit mean to reach it.
  const headers: Record<string, string> = { "cf-connecting-ip": `198.18.${(counter >> 8) & 255}.${counter++ & 255}`, ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  // The Worker's fetch handler, called directly: the pool's loopback fetch slows down with every call.
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`https://town.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  let body: any = text;
  try {
    body = !text ? null : options.raw ? text : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

let counter = 0;
/** A town id no other test uses. */
export const uniqueTownId = (prefix = "town") => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export function townStub(townId: string): DurableObjectStub<TestTownDO> {
  return env.TOWN.getByName(townId) as unknown as DurableObjectStub<TestTownDO>;
}

export interface TestTown {
  townId: string;
  agentToken: string;
  stub: DurableObjectStub<TestTownDO>;
}

/** Creates a town (optionally with config overrides, and an id of its own) and a rig `web` in it. */
export async function createTown(config: Record<string, unknown> = {}, options: { rig?: boolean; id?: string } = {}): Promise<TestTown> {
  const townId = options.id ?? uniqueTownId();
  const created = await api("PUT", `/api/towns/${townId}`, { token: TOKENS.admin, body: { config } });
  if (created.status !== 201) throw new Error(`could not create town: ${created.status} ${JSON.stringify(created.body)}`);
  if (options.rig !== false) {
    const rig = await api("POST", `/api/towns/${townId}/rigs`, { token: TOKENS.admin, body: { id: "web", name: "web", gitUrl: "https://git.test/web.git" } });
    if (rig.status !== 201) throw new Error(`could not add rig: ${rig.status} ${JSON.stringify(rig.body)}`);
  }
  return { townId, agentToken: created.body.agentToken, stub: townStub(townId) };
}

export async function sling(town: TestTown, bead: Record<string, unknown>) {
  const response = await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { rigId: "web", ...bead } });
  if (response.status !== 201) throw new Error(`could not sling: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.bead;
}

export async function status(town: TestTown) {
  const response = await api("GET", `/api/towns/${town.townId}/status`, { token: TOKENS.read });
  if (response.status !== 200) throw new Error(`status failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function bead(town: TestTown, beadId: string) {
  const response = await api("GET", `/api/towns/${town.townId}/beads/${beadId}`, { token: TOKENS.read });
  if (response.status !== 200) throw new Error(`bead failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function sendEvents(town: TestTown, events: unknown[]) {
  return api("POST", `/api/towns/${town.townId}/events`, { token: town.agentToken, body: { events } });
}

export async function heartbeat(town: TestTown, agentId: string, body: { generation: number; containerStatus?: string }) {
  return api("POST", `/api/towns/${town.townId}/agents/${agentId}/heartbeat`, { token: town.agentToken, body });
}

/** Runs the town's alarm now (at the current test time), if one is scheduled. */
export function tick(town: TestTown): Promise<boolean> {
  return runDurableObjectAlarm(town.stub);
}

/** Moves the town's clock. */
export function advance(town: TestTown, ms: number): Promise<number> {
  return town.stub.testAdvance(ms);
}

/**
 * Lets time pass the way the alarm schedules it: moves the clock to the next alarm and runs it, until
 * `done` holds or `maxTicks` ran. Returns the number of ticks run.
 */
export async function runUntil(town: TestTown, done: (status: any) => boolean, maxTicks = 50): Promise<number> {
  for (let ticks = 0; ticks < maxTicks; ticks++) {
    if (done(await status(town))) return ticks;
    const alarmAt = await town.stub.testAlarmAt();
    if (alarmAt === null) throw new Error("no alarm scheduled and the condition does not hold");
    const now = await town.stub.testNow();
    if (alarmAt > now) await town.stub.testSetTime(alarmAt);
    await tick(town);
  }
  if (done(await status(town))) return maxTicks;
  throw new Error(`condition still false after ${maxTicks} ticks: ${JSON.stringify(await status(town))}`);
}

/**
 * Ticks (a second apart) until `found` holds of the status, at most `max` times: for a violation made
 * outside any tick, which the rolling invariant sweep finds within SWEEP_BUCKETS ticks. Returns the status.
 * Such a state owes nothing the town knows of, so a town that sleeps is woken for each tick, as a
 * command would wake it.
 */
export async function tickUntilFound(town: TestTown, found: (status: any) => boolean, max: number): Promise<any> {
  for (let i = 0; i < max; i++) {
    await advance(town, 1_000);
    await town.stub.testWake();
    await tick(town);
    const now = await status(town);
    if (found(now)) return now;
  }
  throw new Error(`not found within ${max} ticks: ${JSON.stringify((await status(town)).violations)}`);
}

/** Makes the next SQL statement that starts with `prefix` throw, once. */
export function failNextStatement(town: TestTown, prefix: string) {
  return runInDurableObject(town.stub, (_instance, state) => {
    const sql = state.storage.sql;
    const original = sql.exec;
    (sql as { exec: typeof original }).exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      if (query.toLowerCase().startsWith(prefix)) {
        (sql as { exec: typeof original }).exec = original;
        throw new Error("injected fault: disk on fire");
      }
      return original.call(this, query, ...bindings);
    } as typeof original;
  });
}

/**
 * Makes the town's database full for the statements `full` picks (by their SQL, lower-cased): each
 * throws what the runtime throws at the object's limit, until `roomAgain` lifts it.
 */
export function fillStorage(town: TestTown, full: (query: string) => boolean) {
  return runInDurableObject(town.stub, (_instance, state) => {
    const sql = state.storage.sql as SqlStorage & { exec: SqlStorage["exec"]; unfilled?: SqlStorage["exec"] };
    const original = sql.unfilled ?? sql.exec;
    sql.unfilled = original;
    sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      if (full(query.toLowerCase())) throw new Error("database or disk is full: SQLITE_FULL");
      return original.call(this, query, ...bindings);
    } as SqlStorage["exec"];
  });
}

export function roomAgain(town: TestTown) {
  return runInDurableObject(town.stub, (_instance, state) => {
    const sql = state.storage.sql as SqlStorage & { exec: SqlStorage["exec"]; unfilled?: SqlStorage["exec"] };
    if (sql.unfilled) sql.exec = sql.unfilled;
    delete sql.unfilled;
  });
}

/** For `fillStorage`: the first statement `pick` picks, and no other (the next write finds it full, once). */
export function once(pick: (query: string) => boolean): (query: string) => boolean {
  let picked = false;
  return (query) => {
    if (picked || !pick(query)) return false;
    picked = true;
    return true;
  };
}

/** The town's whole history since `from` replayed: it must decide exactly what it decided, and end where it is. */
export async function expectFaithfulReplay(town: TestTown, from: number) {
  const to = await town.stub.testNow();
  const replayed = await api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
    token: TOKENS.debug,
    body: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
  });
  expect(replayed.status, JSON.stringify(replayed.body)).toBe(200);
  expect(replayed.body.divergence).toEqual({ ticks: 0, shown: [] });
  expect(replayed.body.state).toEqual(await town.stub.testStateSummary());
}
