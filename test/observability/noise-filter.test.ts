import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import type { AgentId } from "../../src/domain/ids";
import { createTown, sling, status, tick } from "../support/town";

const AGENTS = 100;
const ROUNDS = 720; // one hour of reports every 5 s
const EVERY_MS = 5_000;

it("stores at most 1% of an hour of steady container reports as events, and loses no status change", async () => {
  // 100 agents at work (simulated containers that stay silent: the test reports for them).
  const town = await createTown({ maxPolecatsPerRig: AGENTS, simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } });
  for (let i = 1; i <= AGENTS; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
  await tick(town);
  expect((await status(town)).agents.working).toBe(AGENTS);
  const agentIds = Array.from({ length: AGENTS }, (_, i) => `web:polecat:${i + 1}` as AgentId);

  // Injected changes: 20 agents blip to "starting" for one report, 5 agents' containers exit in the last round.
  const blips = new Map(Array.from({ length: 20 }, (_, k) => [`${agentIds[k * 5]!}@${30 + k * 30}`, "starting"] as const));
  const exits = new Set(agentIds.slice(95));
  let observations = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const last = round === ROUNDS - 1;
    await runInDurableObject(town.stub, async (instance) => {
      await instance.testAdvance(EVERY_MS);
      for (const agentId of agentIds) {
        const containerStatus = last && exits.has(agentId) ? "exited" : (blips.get(`${agentId}@${round}`) ?? "running");
        // The same entry point the heartbeat route calls, invoked in-process to keep 72,000 reports fast.
        const result = await instance.heartbeat(town.agentToken, agentId, { generation: 1, containerStatus });
        if (!result.ok) throw new Error(JSON.stringify(result.error));
        observations += 1;
      }
    });
    const alarmAt = await town.stub.testAlarmAt();
    if (alarmAt !== null && alarmAt <= (await town.stub.testNow())) await runDurableObjectAlarm(town.stub);
  }
  await town.stub.testAdvance(1_000);
  await tick(town);

  const events = await runInDurableObject(town.stub, (_instance, state) =>
    state.storage.sql
      .exec<{ agent_id: string; payload: string; status: string }>(
        "SELECT agent_id, payload, status FROM town_events WHERE type = 'container_status' ORDER BY seq",
      )
      .toArray()
      .map((row) => ({ agentId: row.agent_id, status: JSON.parse(row.payload).status as string, logStatus: row.status })),
  );
  const reduction = 1 - events.length / observations;
  console.log(`noise filter: ${observations} observations → ${events.length} container_status events (${(reduction * 100).toFixed(2)}% fewer)`);
  expect(observations).toBe(AGENTS * ROUNDS);
  expect(events.length).toBeLessThanOrEqual(observations * 0.01);

  // Every change is in the log and was applied: first report (unknown → running) per agent,
  // each blip and its return to running, each exit.
  expect(events.every((e) => e.logStatus === "processed")).toBe(true);
  expect(events.filter((e) => e.status === "starting")).toHaveLength(blips.size);
  expect(events.filter((e) => e.status === "running")).toHaveLength(AGENTS + blips.size);
  expect(
    events
      .filter((e) => e.status === "exited")
      .map((e) => e.agentId)
      .sort(),
  ).toEqual([...exits].sort());
  const final = await status(town);
  // The exited containers' agents were released; everyone else is still at work.
  expect(final.lastTick.actionsByRule["agents.recoverLostContainer"] ?? 0).toBe(exits.size);
  expect(final.agents.working + final.agents.idle).toBe(AGENTS);
}, 300_000);
