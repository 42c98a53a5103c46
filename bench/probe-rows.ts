/** Prints where a tick's rows go (`node --import tsx bench/probe-rows.ts`): a development aid for the cost table. */
import { startLocalWorker } from "../scripts/local-worker";

const server = await startLocalWorker({ script: "bench/worker.ts" });
try {
  const call = async (town: string, action: string, body: unknown = {}) => {
    const response = await fetch(`${server.url}/bench/towns/${town}/${action}`, { method: "POST", body: JSON.stringify(body) });
    const json = (await response.json()) as Record<string, any>;
    if (!response.ok) throw new Error(JSON.stringify(json));
    return json;
  };
  const [agents, beads] = (process.env.PROBE_SIZE ?? "100,1000").split(",").map(Number);
  await call("probe", "seed", { agents, beads });
  for (const step of (process.env.PROBE_STEPS ?? "tick,busy-tick,alarm,busy-alarm").split(",")) {
    await call("probe", "rows", { step: "alarm" });
    const r = await call("probe", "rows", { step });
    console.log(`\n== ${step}: read ${r.read}, written ${r.written}`);
    for (const s of r.statements.slice(0, 25))
      console.log(`${String(s.written).padStart(6)} w ${String(s.read).padStart(7)} r ${String(s.calls).padStart(5)}×  ${s.query}`);
  }
} finally {
  await server.stop();
}
