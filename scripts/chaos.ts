/**
 * `npm run chaos`: the town under a crashing runtime and a misbehaving agent platform, on loopback.
 *
 * Starts the Worker under `wrangler dev` with the http container adapter pointed at a fake agent
 * platform served from here. The platform runs containers the way a real one does — each heartbeats,
 * works a while, reports done through the agent routes and exits — and misbehaves: some dispatches are
 * answered too late (the container starts anyway and runs until it is stopped), some dispatches and
 * some stops fail. Several towns take their work from sling to merged while the runtime's whole process
 * group is SIGKILLed several times and restarted on the same storage; a request that got no answer is
 * sent again, as a real client would.
 *
 * Then it checks, from the platform's record and the towns' own counters:
 * - every event a town acknowledged was applied exactly once;
 * - no bead ever had containers of two generations running at once;
 * - every stop a town owed was delivered (no container it stopped is still running; nothing owed);
 * - no 5xx, except while the runtime was down.
 * The containers speak with the dispatch credential each dispatch hands them, never the town's agent
 * token. Meanwhile a flooding client (CHAOS_FLOODERS clients, 4 by default; 0: none) sends the first
 * town batches of 1,000 stale container statuses with that town's agent token, as fast as it is
 * answered, for CHAOS_FLOOD_SECONDS (60): the slowest agent_done of the other towns and of the flooded
 * one (from its acceptance to its bead moving on) say whether anyone waited on the flood.
 * Prints the figures and exits non-zero on any breach. CHAOS_TOWNS, CHAOS_BEADS, CHAOS_KILLS and
 * CHAOS_SECONDS (the time limit) change the shape.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DEV_TOKENS, startLocalWorker, type LocalWorker } from "./local-worker";

const TOWNS = Number(process.env.CHAOS_TOWNS ?? 4);
const BEADS = Number(process.env.CHAOS_BEADS ?? 10);
const KILLS = Number(process.env.CHAOS_KILLS ?? 3);
const LIMIT_MS = Number(process.env.CHAOS_SECONDS ?? 240) * 1_000;
/** What the platform does with a request, by its idempotency key (so a retried call meets the same fate). */
const SLOW_DISPATCH = 0.12;
const FAILED_DISPATCH = 0.08;
const FAILED_STOP = 0.3;
/** The town's side-effect timeout; a slow dispatch answers after twice that. */
const EFFECT_TIMEOUT_MS = 400;
const HEARTBEAT_MS = 400;
const FLOODERS = Number(process.env.CHAOS_FLOODERS ?? 4);
const FLOOD_MS = Number(process.env.CHAOS_FLOOD_SECONDS ?? 60) * 1_000;
/** How often the watcher looks whether an accepted agent_done was applied (its bead moved on). */
const WATCH_MS = 100;

interface Container {
  readonly town: string;
  readonly agentId: string;
  readonly generation: number;
  readonly beadId: string;
  readonly role: string;
  readonly startedAt: number;
  /** What the dispatch handed it to speak with (DESIGN §4.8): its heartbeats and callbacks carry it. */
  readonly credential: string;
  /** When it reports done and exits; a container whose dispatch was answered too late never does. */
  readonly finishAt: number | null;
  running: boolean;
  /** The town refused its heartbeat (it should be stopped). */
  refusedAt: number | null;
}

interface TownRun {
  readonly id: string;
  agentToken: string;
  /** Agent event ids the town acknowledged (accepted or duplicate). */
  readonly acknowledged: Set<string>;
  duplicates: number;
}

/** An agent_done the town accepted, until its bead moves on. */
interface Watch {
  readonly town: string;
  readonly beadId: string;
  readonly agentId: string;
  readonly generation: number;
  readonly acceptedAt: number;
}

const flood = { batches: 0, accepted: 0, refused: new Map<string, number>(), from: 0, to: 0 };
/** The delay from acceptance to application of each agent_done, by town. */
const applyDelays = new Map<string, number[]>();

const stats = {
  dispatches: 0,
  slowDispatches: 0,
  failedDispatches: 0,
  stops: 0,
  failedStops: 0,
  heartbeats: 0,
  refusedHeartbeats: 0,
  resent: 0,
  requests: 0,
  fiveXX: 0,
  fiveXXWhileDown: 0,
};
const breaches: string[] = [];
const containers = new Map<string, Container>();
const downtime: Array<{ from: number; to: number }> = [];
let runtimeDown = false;

const key = (town: string, agentId: string, generation: number) => `${town}|${agentId}@${generation}`;

/** A stable number in [0, 1) from a string, so the same request meets the same fate. */
function fate(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 2 ** 32;
}

/** The fake agent platform's HTTP side: the town calls it to start and stop containers. */
function platform(): Promise<{ url: string; close: () => void }> {
  const attempts = new Map<string, number>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as {
      townId: string;
      agentId: string;
      generation: number;
      role?: string;
      bead?: { id: string };
      credential?: string;
    };
    const idempotency = req.headers["idempotency-key"]?.toString() ?? "";
    const tries = (attempts.get(idempotency) ?? 0) + 1;
    attempts.set(idempotency, tries);
    const id = key(body.townId, body.agentId, body.generation);
    if (req.url === "/dispatch") {
      stats.dispatches += 1;
      const luck = fate(idempotency);
      if (luck < FAILED_DISPATCH && tries === 1) {
        stats.failedDispatches += 1;
        res.writeHead(503).end("busy");
        return;
      }
      if (!containers.has(id))
        start(
          body.townId,
          body.agentId,
          body.generation,
          body.bead!.id,
          body.role ?? "polecat",
          body.credential ?? "",
          luck < SLOW_DISPATCH + FAILED_DISPATCH && luck >= FAILED_DISPATCH,
        );
      if (luck >= FAILED_DISPATCH && luck < SLOW_DISPATCH + FAILED_DISPATCH) {
        // Started, but the answer comes after the town stopped waiting: it may be running, or not.
        stats.slowDispatches += 1;
        setTimeout(() => res.writeHead(202).end("{}"), EFFECT_TIMEOUT_MS * 2);
        return;
      }
      res.writeHead(202).end("{}");
      return;
    }
    if (req.url === "/stop") {
      stats.stops += 1;
      if (fate(`${idempotency}#${tries}`) < FAILED_STOP) {
        stats.failedStops += 1;
        res.writeHead(503).end("busy");
        return;
      }
      const container = containers.get(id);
      if (container) container.running = false;
      res.writeHead(200).end("{}");
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() })),
  );
}

/** A container starts: on a bead no other generation's container may be running on. */
function start(town: string, agentId: string, generation: number, beadId: string, role: string, credential: string, neverFinishes: boolean): void {
  if (!credential) breaches.push(`the dispatch of ${agentId}@${generation} of ${town} carried no credential`);
  for (const other of containers.values()) {
    if (other.running && other.town === town && other.beadId === beadId && `${other.agentId}@${other.generation}` !== `${agentId}@${generation}`) {
      breaches.push(`two containers on bead ${beadId} of ${town}: ${other.agentId}@${other.generation} still running when ${agentId}@${generation} started`);
    }
  }
  const now = Date.now();
  containers.set(key(town, agentId, generation), {
    town,
    agentId,
    generation,
    beadId,
    role,
    startedAt: now,
    credential,
    finishAt: neverFinishes ? null : now + 800 + Math.floor(fate(`${town}${agentId}${generation}`) * 1_500),
    running: true,
    refusedAt: null,
  });
}

async function main() {
  const agents = await platform();
  let worker: LocalWorker = await startLocalWorker({
    vars: { CONTAINER_ADAPTER: "http", CONTAINER_URL: agents.url, LOG_LEVEL: "error" },
  });
  const restart = async () => {
    worker = await startLocalWorker({
      vars: { CONTAINER_ADAPTER: "http", CONTAINER_URL: agents.url, LOG_LEVEL: "error" },
      persistTo: worker.persistTo,
      port: worker.port,
    });
  };
  const began = Date.now();

  /** One HTTP call; a connection the runtime dropped is an answer of null. 5xx are counted against the downtime. */
  const call = async (method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any } | null> => {
    stats.requests += 1;
    const sentWhileDown = runtimeDown;
    try {
      const response = await fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      if (response.status >= 500) {
        if (sentWhileDown || runtimeDown || recentlyDown()) stats.fiveXXWhileDown += 1;
        else {
          stats.fiveXX += 1;
          breaches.push(`${response.status} from ${method} ${path} while the runtime was up: ${text.slice(0, 200)}`);
        }
      }
      return { status: response.status, json: text ? JSON.parse(text) : null };
    } catch {
      return null;
    }
  };
  /** Sends until answered (a client resends what got no answer, with the same event ids). */
  const send = async (method: string, path: string, token: string, body?: unknown) => {
    for (let tries = 0; ; tries++) {
      const answer = await call(method, path, token, body);
      if (answer && answer.status < 500) return answer;
      if (tries > 0) stats.resent += 1;
      await sleep(250);
      if (Date.now() - began > LIMIT_MS) throw new Error(`no answer to ${method} ${path} within the time limit`);
    }
  };

  const towns: TownRun[] = [];
  const config = {
    maxPolecatsPerRig: 3,
    effectTimeoutMs: EFFECT_TIMEOUT_MS,
    effectMaxAttempts: 2,
    effectBackoffBaseMs: 200,
    // A refused stop is asked again later than a bead would be redispatched: the window in which a
    // town that did not wait for its owed stop would run two containers on one bead.
    stopRetryBaseMs: 1_500,
    stopRetryMaxMs: 3_000,
    dispatchBackoffBaseMs: 300,
    dispatchBackoffMaxMs: 1_000,
    maxDispatchAttempts: 50,
    heartbeatTimeoutMs: 5_000,
    coldStartGraceMs: 5_000,
    stallTimeoutMs: 5_000,
    breaker: { failureThreshold: 1_000 },
  };
  const run = Date.now().toString(36);
  try {
    for (let t = 0; t < TOWNS; t++) {
      const id = `chaos-${run}-${t}`;
      const created = await send("PUT", `/api/towns/${id}`, DEV_TOKENS.admin, { config });
      if (created.status !== 201) throw new Error(`creating ${id}: ${created.status} ${JSON.stringify(created.json)}`);
      towns.push({ id, agentToken: created.json.agentToken, acknowledged: new Set(), duplicates: 0 });
      await send("POST", `/api/towns/${id}/rigs`, DEV_TOKENS.admin, { id: "web", name: "web", gitUrl: "https://git.test/web.git" });
      for (let b = 0; b < BEADS; b++) await send("POST", `/api/towns/${id}/beads`, DEV_TOKENS.admin, { id: `b${b}`, rigId: "web", title: `Task ${b}` });
    }
    console.log(
      `chaos: ${TOWNS} towns × ${BEADS} beads, ${KILLS} crashes of the runtime; the platform answers ${SLOW_DISPATCH * 100}% of dispatches too late, fails ${FAILED_DISPATCH * 100}% of dispatches and ${FAILED_STOP * 100}% of stops`,
    );

    // The platform's containers: heartbeats while running, done when their work is over.
    let stopping = false;
    const outbox = new Map<string, { town: TownRun; container: Container; event: unknown }>();
    const watches: Watch[] = [];
    let staleDones = 0;
    const platformLoop = (async () => {
      while (!stopping) {
        const now = Date.now();
        await Promise.all(
          [...containers.values()]
            .filter((c) => c.running)
            .map(async (c) => {
              const town = towns.find((t) => t.id === c.town)!;
              if (c.finishAt !== null && now >= c.finishAt) {
                // Reports done (kept until acknowledged, as a real agent would retry), then exits.
                const eventId = `done-${c.agentId}@${c.generation}`;
                outbox.set(`${c.town}|${eventId}`, {
                  town,
                  container: c,
                  event: { eventId, type: "agent_done", agentId: c.agentId, payload: { generation: c.generation, branch: `agents/${c.beadId}` } },
                });
                c.running = false;
                return;
              }
              stats.heartbeats += 1;
              const answer = await call("POST", `/api/towns/${c.town}/agents/${c.agentId}/heartbeat`, c.credential, {
                generation: c.generation,
                containerStatus: "running",
              });
              // 409: the town does not want this container; 403: its generation is over.
              if (answer?.status === 409 || answer?.status === 403) {
                stats.refusedHeartbeats += 1;
                c.refusedAt ??= now;
              }
            }),
        );
        for (const [id, { town, container, event }] of [...outbox]) {
          const answer = await call("POST", `/api/towns/${town.id}/events`, container.credential, { events: [event] });
          if (answer?.status === 202) {
            town.acknowledged.add((event as { eventId: string }).eventId);
            town.duplicates += answer.json.duplicates;
            if (answer.json.accepted > 0)
              watches.push({ town: town.id, beadId: container.beadId, agentId: container.agentId, generation: container.generation, acceptedAt: Date.now() });
            outbox.delete(id);
          } else if (answer?.status === 403) {
            // Its generation ended long enough ago that the credential is spent: nothing to report any more.
            outbox.delete(id);
          }
        }
        await sleep(HEARTBEAT_MS);
      }
    })();

    // The watcher: when each accepted agent_done was applied, seen as its bead moving on from in_progress
    // (one the town had already given to another generation is stale: ignored, not timed).
    let stoppedAt: number | null = null;
    const watcher = (async () => {
      while (stoppedAt === null || (watches.length > 0 && Date.now() - stoppedAt < 10_000)) {
        if (stopping) stoppedAt ??= Date.now();
        for (const w of [...watches]) {
          const answer = await call("GET", `/api/towns/${w.town}/beads/${w.beadId}`, DEV_TOKENS.read);
          if (answer?.status !== 200) continue;
          const { bead, agent } = answer.json;
          const stale = bead.status === "in_progress" && agent && (agent.id !== w.agentId || agent.generation !== w.generation);
          if (bead.status === "in_progress" && !stale) continue;
          if (stale) staleDones += 1;
          else {
            const delays = applyDelays.get(w.town) ?? [];
            delays.push(Date.now() - w.acceptedAt);
            applyDelays.set(w.town, delays);
          }
          watches.splice(watches.indexOf(w), 1);
        }
        await sleep(WATCH_MS);
      }
      if (watches.length > 0) breaches.push(`${watches.length} accepted agent_done never seen applied`);
    })();

    // The flooding client: batches of 1,000 stale container statuses, unique ids, with the first town's agent token.
    const flooded = towns[0]!;
    let floodSeq = 0;
    flood.from = Date.now();
    const flooders = Array.from({ length: FLOODERS }, async (_, f) => {
      while (!stopping && Date.now() - flood.from < FLOOD_MS) {
        const events = Array.from({ length: 1_000 }, () => ({
          eventId: `flood-${run}-${f}-${floodSeq++}`,
          type: "container_status",
          agentId: "web:polecat:1",
          payload: { generation: 999, status: "running" },
        }));
        const answer = await call("POST", `/api/towns/${flooded.id}/events`, flooded.agentToken, { events });
        flood.batches += 1;
        if (answer?.status === 202) flood.accepted += answer.json.accepted;
        else {
          const code = answer ? (answer.json?.error?.code ?? String(answer.status)) : "no answer";
          flood.refused.set(code, (flood.refused.get(code) ?? 0) + 1);
          // Before its first dispatch the agent does not exist yet (404); a refusal says when to come back.
          await sleep(answer?.status === 429 ? 100 : 250);
        }
      }
      flood.to = Date.now();
    });

    // Crashes, spread over the run while work is under way.
    for (let kill = 0; kill < KILLS; kill++) {
      await sleep(4_000 + fate(`kill${kill}${run}`) * 4_000);
      const from = Date.now();
      runtimeDown = true;
      await worker.crash();
      await sleep(500);
      await restart();
      runtimeDown = false;
      downtime.push({ from, to: Date.now() });
      console.log(`  crash ${kill + 1}: runtime SIGKILLed and back on the same storage in ${((Date.now() - from) / 1_000).toFixed(1)} s`);
    }

    // Until every bead is merged, every event applied, no stop owed and no container the towns stopped still running.
    const finished = async () => {
      for (const town of towns) {
        const status = await call("GET", `/api/towns/${town.id}/status`, DEV_TOKENS.read);
        if (status?.status !== 200) return false;
        const s = status.json;
        if (s.beads.closed !== 2 * BEADS || s.queue.pending !== 0 || s.owedStops.count !== 0 || s.outbox.pending !== 0 || s.agents.working !== 0) return false;
      }
      return outbox.size === 0 && ![...containers.values()].some((c) => c.running);
    };
    while (!(await finished())) {
      if (Date.now() - began > LIMIT_MS) {
        breaches.push(`the towns did not finish within ${LIMIT_MS / 1_000} s`);
        break;
      }
      await sleep(1_000);
    }
    stopping = true;
    await platformLoop;
    await Promise.all([watcher, ...flooders]);

    // ---- the checks --------------------------------------------------------------------------------------
    let acknowledged = 0;
    for (const town of towns) {
      const drained = counter(await metricsText(worker, town.id), "town_reconciler_events_drained_total", 'type="agent_done"');
      acknowledged += town.acknowledged.size;
      if (drained !== town.acknowledged.size) breaches.push(`${town.id}: ${town.acknowledged.size} agent_done events acknowledged, ${drained} applied`);
      const status = (await send("GET", `/api/towns/${town.id}/status`, DEV_TOKENS.read)).json;
      if (status.queue.dead !== 0) breaches.push(`${town.id}: ${status.queue.dead} dead-lettered event(s)`);
      if (status.owedStops.count !== 0) breaches.push(`${town.id}: ${status.owedStops.count} stop(s) still owed`);
    }
    for (const c of containers.values()) {
      if (c.running) breaches.push(`container ${c.agentId}@${c.generation} of ${c.town} (bead ${c.beadId}) still running at the end`);
    }
    const late = [...containers.values()].filter((c) => c.finishAt === null).length;
    const down = downtime.reduce((n, d) => n + d.to - d.from, 0);
    console.log(`
Chaos: ${TOWNS} towns × ${BEADS} beads (issues and merge requests), ${((Date.now() - began) / 1_000).toFixed(0)} s
  runtime crashes       ${downtime.length} (SIGKILL to the process group), down ${(down / 1_000).toFixed(1)} s in all
  containers            ${containers.size} started: ${stats.dispatches} dispatch calls (${stats.slowDispatches} answered too late → ${late} containers the towns had to stop, ${stats.failedDispatches} refused)
  stops                 ${stats.stops} calls, ${stats.failedStops} refused (and asked again)
  heartbeats            ${stats.heartbeats}, ${stats.refusedHeartbeats} refused (a container the town did not want)
  events acknowledged   ${acknowledged} agent_done (${towns.reduce((n, t) => n + t.duplicates, 0)} duplicates after a resend), requests resent ${stats.resent}
  5xx                   ${stats.fiveXX} while up, ${stats.fiveXXWhileDown} around a crash
  exactly once          ${breaches.some((b) => b.includes("applied")) ? "NO" : "yes: every acknowledged event applied once (each town's counters)"}
  one container a bead  ${breaches.some((b) => b.includes("two containers")) ? "NO" : "yes: never two generations' containers on one bead"}
  owed stops            ${breaches.some((b) => b.includes("still owed") || b.includes("running at the end")) ? "NO" : "all delivered: nothing owed, no stopped container running"}
  flood                 ${FLOODERS} clients on ${towns[0]?.id} for ${((flood.to - flood.from) / 1_000).toFixed(0)} s: ${flood.batches} batches of 1,000, ${flood.accepted} events accepted (${(flood.accepted / Math.max(1, (flood.to - flood.from) / 1_000)).toFixed(0)}/s), refused ${[...flood.refused].map(([code, n]) => `${n} ${code}`).join(", ") || "none"}
  agent_done applied    from acceptance to its bead moving on (${staleDones} stale ones not timed); a crash's downtime counts
    other towns         ${delays(towns.slice(1).map((t) => t.id))}
    the flooded town    ${delays([towns[0]?.id ?? ""])}
  breaches              ${breaches.length}${breaches.length ? `\n    ${breaches.slice(0, 10).join("\n    ")}` : ""}`);
    if (breaches.length > 0) process.exitCode = 1;
  } finally {
    await worker.stop().catch(() => undefined);
    agents.close();
  }
}

/** The delays from acceptance to application of the agent_done events of these towns: the slowest, p95 and p50. */
function delays(townIds: readonly string[]): string {
  const all = townIds.flatMap((id) => applyDelays.get(id) ?? []).sort((a, b) => a - b);
  if (all.length === 0) return "none timed";
  const at = (p: number) => `${(all[Math.min(all.length - 1, Math.floor(p * all.length))]! / 1_000).toFixed(2)} s`;
  return `slowest ${(all.at(-1)! / 1_000).toFixed(2)} s, p95 ${at(0.95)}, p50 ${at(0.5)} (of ${all.length})`;
}

/** Within two seconds of the runtime coming back: a request in flight at the crash may answer 5xx. */
function recentlyDown(): boolean {
  const last = downtime.at(-1);
  return last !== undefined && Date.now() - last.to < 2_000;
}

async function metricsText(worker: LocalWorker, townId: string): Promise<string> {
  const response = await fetch(`${worker.url}/api/towns/${townId}/metrics`, { headers: { authorization: `Bearer ${DEV_TOKENS.read}` } });
  return response.text();
}

function counter(text: string, name: string, label: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
