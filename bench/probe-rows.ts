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
  if (process.env.PROBE_CALIBRATE) {
    // A finished bead's rows, statement by statement (the cost table's calibration, 100 issues).
    const profile = await call("probe-calibration", "calibrate", { issues: 100, bodyChars: 600 });
    console.log(`== per finished issue: written ${profile.rowsWrittenPerIssue.toFixed(1)}`);
    for (const s of profile.statements)
      console.log(`${s.written.toFixed(2).padStart(7)} w ${s.read.toFixed(1).padStart(8)} r ${s.calls.toFixed(2).padStart(6)}×  ${s.query}`);
  } else await probeSteps();
  async function probeSteps() {
    const [agents, beads] = (process.env.PROBE_SIZE ?? "100,1000").split(",").map(Number);
    await call("probe", "seed", { agents, beads });
    for (const step of (process.env.PROBE_STEPS ?? "tick,busy-tick,alarm,busy-alarm").split(",")) {
      await call("probe", "rows", { step: "alarm" });
      const r = await call("probe", "rows", { step });
      console.log(`\n== ${step}: read ${r.read}, written ${r.written}`);
      for (const s of r.statements.slice(0, 25))
        console.log(`${String(s.written).padStart(6)} w ${String(s.read).padStart(7)} r ${String(s.calls).padStart(5)}×  ${s.query}`);
    }
  }
} finally {
  await server.stop();
}
