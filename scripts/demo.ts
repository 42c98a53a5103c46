/**
 * `npm run demo` — with `npm start` running in another terminal: creates a town with two rigs and drives
 * a realistic day in fast-forward: beads slung with priorities and blockers, simulated agents that work
 * a few seconds and sometimes fail, a container that dies mid-task, a review queue that backs up, a
 * convoy. Shows a progress line, then the URLs to look at.
 *
 * Settings: TOWN_URL (default http://localhost:$PORT, PORT 8787, as for `npm start`), ADMIN_TOKEN / READ_TOKEN / DEBUG_TOKEN (default:
 * the development tokens of .dev.vars), DEMO_TIMEOUT_S (default 180).
 */
import { DEMO_BEADS, DEMO_CONFIG, DEMO_CONVOY, DEMO_RIGS } from "./demo-workload";
import { DEV_TOKENS } from "./local-worker";

const base = (process.env.TOWN_URL ?? `http://localhost:${process.env.PORT ?? 8787}`).replace(/\/$/, "");
const tokens = {
  admin: process.env.ADMIN_TOKEN ?? DEV_TOKENS.admin,
  read: process.env.READ_TOKEN ?? DEV_TOKENS.read,
  debug: process.env.DEBUG_TOKEN ?? DEV_TOKENS.debug,
};
const timeoutS = Number(process.env.DEMO_TIMEOUT_S ?? 180);

async function call(method: string, path: string, token: string, body?: unknown) {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error(`cannot reach ${base}: start the server first with \`npm start\` (or set TOWN_URL)`);
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (response.status >= 400) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return json;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const openBeads = (status: { beads: { open: number } }) => status.beads.open;

async function main() {
  const town = `demo-${new Date().toISOString().replace(/\D/g, "").slice(2, 14)}`;
  console.log(`Creating town ${town} on ${base} …`);
  const created = await call("PUT", `/api/towns/${town}`, tokens.admin, { config: DEMO_CONFIG });
  const agentToken: string = created.agentToken;
  for (const rig of DEMO_RIGS) await call("POST", `/api/towns/${town}/rigs`, tokens.admin, { id: rig, name: rig, gitUrl: `https://git.example/${rig}.git` });
  const beads = DEMO_BEADS;
  for (const bead of beads) await call("POST", `/api/towns/${town}/beads`, tokens.admin, bead);
  await call("POST", `/api/towns/${town}/convoys`, tokens.admin, DEMO_CONVOY);
  console.log(`Slung ${beads.length} beads into 2 rigs (one held, some blocked) and a convoy.`);

  const started = Date.now();
  let killed = false;
  let released = false;
  let retried = false;
  let quietFor = 0;
  for (;;) {
    const elapsed = Math.round((Date.now() - started) / 1000);
    const status = await call("GET", `/api/towns/${town}/status`, tokens.read);
    const b = status.beads;
    process.stdout.write(
      `\r[${String(elapsed).padStart(3)}s] beads: ${b.open} open · ${b.in_progress} in progress · ${b.in_review} in review · ${b.closed} closed · ${b.failed} failed` +
        ` | agents working ${status.agents.working} | queue ${status.queue.pending} | breaker ${status.breaker.status}   `,
    );
    // A container dies mid-task: the platform reports it, the town recovers the bead. The platform's
    // own report, with the town's agent token (a dead container speaks no more, with its credential or
    // any other); the simulated agents' own reports carry their dispatch's credential, in the object.
    if (!killed && elapsed >= 3) {
      const victim = (await call("GET", `/api/towns/${town}/beads/rate-limits`, tokens.read)).agent;
      if (victim?.status === "working") {
        await call("POST", `/api/towns/${town}/agents/${victim.id}/heartbeat`, agentToken, { generation: victim.generation, containerStatus: "exited" });
        process.stdout.write(`\n  ↳ the container of ${victim.id} (working on rate-limits) died; the town releases it and re-dispatches.\n`);
        killed = true;
      }
    }
    // Halfway, the held bead may go: an operator releases it.
    if (!released && elapsed >= 20) {
      await call("POST", `/api/towns/${town}/beads/cleanup/release`, tokens.admin, {});
      process.stdout.write(`\n  ↳ released the held 'cleanup' (POST …/beads/cleanup/release); it waits for its blocker session-api.\n`);
      released = true;
    }
    // Done when nothing is in flight for a few seconds: what is still open then is waiting on something.
    quietFor = b.in_progress + b.in_review + status.queue.pending === 0 ? quietFor + 1 : 0;
    if (released && quietFor >= 5 && !retried) {
      retried = true;
      quietFor = 0;
      // The failed issues, and why each failed, then one retry of them all.
      const failed = await call("GET", `/api/towns/${town}/beads?status=failed&type=issue`, tokens.read);
      if (failed.beads.length > 0) {
        process.stdout.write(`\n  ↳ ${failed.beads.length} issue(s) failed:\n`);
        for (const f of failed.beads)
          process.stdout.write(`      ${f.id}: ${f.lastFailure ? `${f.lastFailure.code} — ${f.lastFailure.message}` : "no reason recorded"}\n`);
        const retry = await call("POST", `/api/towns/${town}/beads/bulk`, tokens.admin, { action: "retry", filter: { status: "failed", type: "issue" } });
        process.stdout.write(`  ↳ retried ${retry.applied} of them (POST …/beads/bulk {"action":"retry"}).\n`);
      }
    }
    if ((retried && quietFor >= 5) || elapsed >= timeoutS) break;
    await sleep(1_000);
  }
  const final = await call("GET", `/api/towns/${town}/status`, tokens.read);
  console.log(
    `\n\nDone: ${final.beads.closed} beads closed (issues and their merge requests), ${final.beads.failed} failed, ${final.totals.ticks} ticks, ${final.violations.open} open violations.`,
  );
  console.log("(Simulated agents fail 15% of their runs: a failed review reopens its issue for another try; the demo retried its failed issues once.)");
  if (openBeads(final) > 0) {
    console.log("\nStill open, and why (GET …/beads/:id/explain):");
    for (const bead of [...beads.map((b) => b.id), "login-release"]) {
      const why = await call("GET", `/api/towns/${town}/beads/${bead}/explain`, tokens.read);
      if (why.status === "open") console.log(`  ${bead}: ${why.reasons.map((r: { message: string }) => r.message).join("; ")}`);
    }
  }
  console.log(`
Look at:
  home page        ${base}/?token=${tokens.read}
  status page      ${base}/towns/${town}?token=${tokens.read}
  status (JSON)    curl -s ${base}/api/towns/${town}/status -H "Authorization: Bearer ${tokens.read}"
  tick history     curl -s "${base}/api/towns/${town}/ticks?format=csv" -H "Authorization: Bearer ${tokens.read}"
  metrics          curl -s ${base}/api/towns/${town}/metrics -H "Authorization: Bearer ${tokens.read}"
  why a bead       curl -s ${base}/api/towns/${town}/beads/onboarding/explain -H "Authorization: Bearer ${tokens.read}"
  a bead's story   curl -s ${base}/api/towns/${town}/beads/onboarding/history -H "Authorization: Bearer ${tokens.read}"
  failed beads     curl -s "${base}/api/towns/${town}/beads?status=failed" -H "Authorization: Bearer ${tokens.read}"
  retry them       curl -s -X POST ${base}/api/towns/${town}/beads/bulk -H "Authorization: Bearer ${tokens.admin}" -d '{"action":"retry","filter":{"status":"failed","type":"issue"}}'
  pause the town   curl -s -X POST ${base}/api/towns/${town}/pause -H "Authorization: Bearer ${tokens.admin}" -d '{"reason":"looking into it"}'
  dry run          curl -s -X POST ${base}/api/towns/${town}/debug/reconcile-dry-run -H "Authorization: Bearer ${tokens.debug}"
  API description  ${base}/api/openapi.json
  agent token      ${agentToken}`);
}

main().catch((error) => {
  console.error(`\n${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
