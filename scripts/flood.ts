/**
 * `npx tsx scripts/flood.ts`: the flood of issue 21 item 2, re-measured on loopback.
 *
 * Starts the Worker under `wrangler dev` with the http container adapter pointed at a fake platform
 * that takes each dispatch and keeps the credential it carries. One town, one bead at work. Then
 * FLOOD_CLIENTS clients (8) send batches of 1,000 `container_status` events (unique ids, stale
 * generation 999) with the town's agent token for FLOOD_SECONDS (40); FLOOD_PROBE_AT_S (20) seconds in,
 * the working agent reports `agent_done` with its credential, and the time until its bead moves on is
 * the figure. Prints what was accepted and refused, the backlog's peak, the slowest status read during
 * the flood, the agent_done's delay, and what still waits when the flood ends and FLOOD_AFTER_S (60)
 * seconds later.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { callApi, DEV_TOKENS, startLocalWorker } from "./local-worker";

const CLIENTS = Number(process.env.FLOOD_CLIENTS ?? 8);
const SECONDS = Number(process.env.FLOOD_SECONDS ?? 40);
const PROBE_AT_S = Number(process.env.FLOOD_PROBE_AT_S ?? 20);
const AFTER_S = Number(process.env.FLOOD_AFTER_S ?? 60);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const credentials = new Map<string, string>();
  const platform = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as { agentId?: string; generation?: number; credential?: string };
    if (req.url === "/dispatch" && body.credential) credentials.set(`${body.agentId}@${body.generation}`, body.credential);
    res.writeHead(202).end("{}");
  });
  await new Promise<void>((resolve) => platform.listen(0, "127.0.0.1", resolve));
  const platformUrl = `http://127.0.0.1:${(platform.address() as AddressInfo).port}`;
  const worker = await startLocalWorker({ vars: { CONTAINER_ADAPTER: "http", CONTAINER_URL: platformUrl, LOG_LEVEL: "error" } });
  const call = (method: string, path: string, token: string, body?: unknown) => callApi(worker.url, method, path, token, body);
  try {
    const town = `flood-${Date.now().toString(36)}`;
    // Agents that neither stall nor time out while the flood lasts: only the flood moves.
    const config = { heartbeatTimeoutMs: 3_600_000, stallTimeoutMs: 3_600_000 };
    const created = await call("PUT", `/api/towns/${town}`, DEV_TOKENS.admin, { config });
    const agentToken = created.body.agentToken as string;
    await call("POST", `/api/towns/${town}/rigs`, DEV_TOKENS.admin, { id: "web", name: "web", gitUrl: "https://git.test/web.git" });
    await call("POST", `/api/towns/${town}/beads`, DEV_TOKENS.admin, { id: "b1", rigId: "web", title: "The real work" });
    while (!credentials.has("web:polecat:1@1")) await sleep(100);
    const credential = credentials.get("web:polecat:1@1")!;

    const began = Date.now();
    const figures = { batches: 0, accepted: 0, refused: new Map<string, number>(), peak: 0, slowestStatusMs: 0 };
    let seq = 0;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      while (Date.now() - began < SECONDS * 1_000) {
        const events = Array.from({ length: 1_000 }, () => ({
          eventId: `flood-${c}-${seq++}`,
          type: "container_status",
          agentId: "web:polecat:1",
          payload: { generation: 999, status: "running" },
        }));
        const answer = await call("POST", `/api/towns/${town}/events`, agentToken, { events });
        figures.batches += 1;
        if (answer.status === 202) figures.accepted += answer.body.accepted;
        else {
          const code = answer.body?.error?.code ?? String(answer.status);
          figures.refused.set(code, (figures.refused.get(code) ?? 0) + 1);
          await sleep(100);
        }
      }
    });
    const watch = (async () => {
      while (Date.now() - began < SECONDS * 1_000) {
        const asked = Date.now();
        const status = await call("GET", `/api/towns/${town}/status`, DEV_TOKENS.read);
        figures.slowestStatusMs = Math.max(figures.slowestStatusMs, Date.now() - asked);
        figures.peak = Math.max(figures.peak, status.body.queue.pending);
        await sleep(500);
      }
    })();
    const probe = (async () => {
      await sleep(PROBE_AT_S * 1_000);
      const done = await call("POST", `/api/towns/${town}/events`, credential, {
        events: [{ eventId: "the-real-done", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } }],
      });
      const accepted = Date.now();
      if (done.status !== 202) return `agent_done refused: ${done.status} ${JSON.stringify(done.body)}`;
      for (;;) {
        const bead = await call("GET", `/api/towns/${town}/beads/b1`, DEV_TOKENS.read);
        if (bead.body.bead.status !== "in_progress") return `applied ${((Date.now() - accepted) / 1_000).toFixed(2)} s after it was accepted`;
        if (Date.now() - accepted > (SECONDS + AFTER_S) * 1_000) return `not applied ${((Date.now() - accepted) / 1_000).toFixed(0)} s after it was accepted`;
        await sleep(100);
      }
    })();
    await Promise.all([...clients, watch]);
    const atEnd = (await call("GET", `/api/towns/${town}/status`, DEV_TOKENS.read)).body.queue.pending;
    const probed = await probe;
    await sleep(Math.max(0, began + (SECONDS + AFTER_S) * 1_000 - Date.now()));
    const later = (await call("GET", `/api/towns/${town}/status`, DEV_TOKENS.read)).body;
    const ticks = (await call("GET", `/api/towns/${town}/ticks/summary`, DEV_TOKENS.read)).body.metrics?.durationMs;
    console.log(`
Flood: ${CLIENTS} clients × batches of 1,000 stale container_status for ${SECONDS} s, one town
  accepted          ${figures.accepted} events (${(figures.accepted / SECONDS).toFixed(0)}/s) in ${figures.batches} batches; refused ${[...figures.refused].map(([code, n]) => `${n} ${code}`).join(", ") || "none"}
  backlog           peak ${figures.peak} pending; ${atEnd} when the flood ended; ${later.queue.pending} ${AFTER_S} s later
  status reads      slowest ${figures.slowestStatusMs} ms during the flood
  ticks             ${ticks ? `p50 ${ticks.p50} ms, p99 ${ticks.p99} ms, max ${ticks.max} ms` : "n/a"}
  agent_done        sent with its credential ${PROBE_AT_S} s in: ${probed}`);
  } finally {
    await worker.stop().catch(() => undefined);
    platform.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
