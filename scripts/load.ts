/**
 * `npm run load`: a bounded load test on loopback. Starts the Worker under `wrangler dev` (or uses
 * TOWN_URL), creates LOAD_TOWNS towns (50) with working agents, and has one client per town ingest
 * batches of container status events for LOAD_SECONDS (60). Then it waits for the towns to drain and
 * checks, from each town's own counters, that every accepted event was applied exactly once.
 *
 * Prints throughput, latency (p50, p99, max), errors (must be zero) and the exactly-once check; exits
 * non-zero if there was any error or any event was lost or applied twice.
 */
import { DEV_TOKENS, startLocalWorker, type LocalWorker } from "./local-worker";

const TOWNS = Number(process.env.LOAD_TOWNS ?? 50);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const BATCH = Number(process.env.LOAD_BATCH ?? 20);
const AGENTS_PER_TOWN = 3;

interface Town {
  id: string;
  agentToken: string;
  agents: string[];
  accepted: number;
  duplicates: number;
}

async function main() {
  const server: LocalWorker | null = process.env.TOWN_URL ? null : await startLocalWorker();
  const base = process.env.TOWN_URL ?? server!.url;
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) };
  };
  try {
    // ---- setup: towns whose agents stay at work (the simulated containers never finish) -------------
    const run = Date.now().toString(36);
    const towns: Town[] = await Promise.all(
      Array.from({ length: TOWNS }, async (_, i) => {
        const id = `load-${run}-${i}`;
        const created = await call("PUT", `/api/towns/${id}`, DEV_TOKENS.admin, {
          config: {
            maxPolecatsPerRig: AGENTS_PER_TOWN,
            simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 },
            heartbeatTimeoutMs: 86_400_000,
            coldStartGraceMs: 86_400_000,
          },
        });
        if (created.status !== 201) throw new Error(`creating ${id}: ${created.status} ${created.text}`);
        await call("POST", `/api/towns/${id}/rigs`, DEV_TOKENS.admin, { id: "web", name: "web", gitUrl: "https://git.test/web.git" });
        for (let b = 0; b < AGENTS_PER_TOWN; b++)
          await call("POST", `/api/towns/${id}/beads`, DEV_TOKENS.admin, { id: `b${b}`, rigId: "web", title: `Task ${b}` });
        return {
          id,
          agentToken: created.json().agentToken,
          agents: Array.from({ length: AGENTS_PER_TOWN }, (_, a) => `web:polecat:${a + 1}`),
          accepted: 0,
          duplicates: 0,
        };
      }),
    );
    await waitFor(async () => {
      const working = await Promise.all(towns.map(async (t) => (await call("GET", `/api/towns/${t.id}/status`, DEV_TOKENS.read)).json().agents.working));
      return working.every((n: number) => n === AGENTS_PER_TOWN);
    }, "every town's agents at work");
    const before = new Map(await Promise.all(towns.map(async (t) => [t.id, await drainedStatusEvents(call, t.id)] as const)));
    console.log(`${TOWNS} towns ready, ${AGENTS_PER_TOWN} agents each; ingesting batches of ${BATCH} for ${SECONDS} s …`);

    // ---- load: one client per town, as fast as it is answered ------------------------------------------
    const latencies: number[] = [];
    const errors: string[] = [];
    const end = Date.now() + SECONDS * 1_000;
    let requests = 0;
    const progress = setInterval(() => process.stdout.write(`\r  ${requests} requests, ${latencies.length * BATCH} events, ${errors.length} errors   `), 1_000);
    await Promise.all(
      towns.map(async (town) => {
        for (let n = 0; Date.now() < end; n++) {
          const events = Array.from({ length: BATCH }, (_, i) => ({
            eventId: `${town.id}-${n}-${i}`,
            type: "container_status",
            agentId: town.agents[(n * BATCH + i) % town.agents.length],
            payload: { generation: 1, status: (n + i) % 2 ? "running" : "starting" },
          }));
          const started = performance.now();
          try {
            const response = await call("POST", `/api/towns/${town.id}/events`, town.agentToken, { events });
            latencies.push(performance.now() - started);
            if (response.status !== 202) errors.push(`${town.id}: ${response.status} ${response.text.slice(0, 200)}`);
            else {
              const { accepted, duplicates } = response.json();
              town.accepted += accepted;
              town.duplicates += duplicates;
            }
          } catch (error) {
            errors.push(`${town.id}: ${error instanceof Error ? error.message : error}`);
          }
          requests += 1;
        }
      }),
    );
    clearInterval(progress);
    const elapsed = SECONDS;

    // ---- exactly once: every accepted event drained once, none retried, none dead ----------------------
    await waitFor(async () => {
      const pending = await Promise.all(towns.map(async (t) => (await call("GET", `/api/towns/${t.id}/status`, DEV_TOKENS.read)).json().queue.pending));
      return pending.every((n: number) => n === 0);
    }, "every town's queue to drain");
    const mismatches: string[] = [];
    for (const town of towns) {
      const drained = (await drainedStatusEvents(call, town.id)) - before.get(town.id)!;
      const status = (await call("GET", `/api/towns/${town.id}/status`, DEV_TOKENS.read)).json();
      if (drained !== town.accepted || status.totals.eventRetries !== 0 || status.queue.dead !== 0) {
        mismatches.push(`${town.id}: accepted ${town.accepted}, applied ${drained}, retries ${status.totals.eventRetries}, dead ${status.queue.dead}`);
      }
    }

    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
    const accepted = towns.reduce((n, t) => n + t.accepted, 0);
    console.log(`\n
Load: ${TOWNS} towns, one client each, batches of ${BATCH} events, ${elapsed} s
  requests        ${requests} (${Math.round(requests / elapsed)}/s)
  events accepted ${accepted} (${Math.round(accepted / elapsed)}/s), duplicates ${towns.reduce((n, t) => n + t.duplicates, 0)}
  latency         p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms
  errors          ${errors.length}${errors.length ? `: ${errors.slice(0, 5).join("; ")}` : ""}
  exactly once    ${mismatches.length === 0 ? `yes: every accepted event applied once in every town (from each town's counters)` : `NO: ${mismatches.slice(0, 5).join("; ")}`}`);
    if (errors.length > 0 || mismatches.length > 0) process.exitCode = 1;
  } finally {
    await server?.stop();
  }
}

/** container_status events the town has applied, from its Prometheus counters. */
async function drainedStatusEvents(call: (m: string, p: string, t: string) => Promise<{ text: string }>, townId: string): Promise<number> {
  const text = (await call("GET", `/api/towns/${townId}/metrics`, DEV_TOKENS.read)).text;
  const line = text.split("\n").find((l) => l.startsWith("town_reconciler_events_drained_total{") && l.includes('type="container_status"'));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
