/** Scripted towns that tests replay, export and record as bundles: the same history, told once. */
import { TownStore } from "../../src/db/town-store";
import { DEMO_BEADS, DEMO_CONFIG, DEMO_CONVOY, DEMO_RIGS } from "../../scripts/demo-workload";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { api, bead, createTown, heartbeat, sling, status, tick, TOKENS, type TestTown } from "./town";

export interface Checkpoint {
  at: number;
  summary: unknown;
}

/**
 * A long scripted scenario on the simulated platform: agents work, fail a quarter of the time,
 * heartbeat; beads are slung, blocked, cancelled; a container dies; the town is reconfigured.
 * After every tick the live state is kept as a checkpoint.
 */
export async function scriptedTown(options: { townId?: string } = {}): Promise<{ town: TestTown; checkpoints: Checkpoint[] }> {
  const town = await createTown(
    {
      maxPolecatsPerRig: 3,
      // Often enough that the scenario's ticks (a town that owes nothing sleeps) take several snapshots.
      snapshotIntervalMs: 180_000,
      // Work outlasts the cold-start grace, so heartbeats decide who stalls.
      coldStartGraceMs: 20_000,
      heartbeatTimeoutMs: 40_000,
      simulation: { workMs: 45_000, failureRate: 0.25, heartbeatIntervalMs: 15_000 },
    },
    options.townId ? { id: options.townId } : {},
  );
  const checkpoints: Checkpoint[] = [];
  const runFor = async (ms: number) => {
    const end = (await town.stub.testNow()) + ms;
    for (;;) {
      const alarmAt = await town.stub.testAlarmAt();
      if (alarmAt === null || alarmAt > end) break;
      await town.stub.testSetTime(Math.max(alarmAt, await town.stub.testNow()));
      await tick(town);
      checkpoints.push({ at: await town.stub.testNow(), summary: await town.stub.testStateSummary() });
    }
    await town.stub.testSetTime(end);
  };
  // Commands come a millisecond after the last tick, so a checkpoint is never ambiguous.
  const later = () => town.stub.testAdvance(1);

  for (let i = 1; i <= 6; i++) await sling(town, { id: `b${i}`, title: `Task ${i}`, priority: i % 3, ...(i === 6 ? { blockedBy: ["b1"] } : {}) });
  await api("POST", `/api/towns/${town.townId}/convoys`, { token: TOKENS.admin, body: { id: "release-1", title: "Release 1", beadIds: ["b1", "b2"] } });
  await runFor(20 * 60_000);

  await later();
  await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { maxPolecatsPerRig: 5 } } });
  for (let i = 7; i <= 12; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
  await api("POST", `/api/towns/${town.townId}/beads/b12/cancel`, { token: TOKENS.admin, body: { status: "closed" } });
  await runFor(30_000);
  // The object is evicted and reloads from storage mid-scenario.
  await evictDurableObject(town.stub);

  // A working agent's container dies: the simulated run is gone, and the platform reports it.
  await later();
  const working = ((await town.stub.testStateSummary()) as any).agents.find((a: any) => a.status === "working");
  await runInDurableObject(town.stub, (_instance, state) => state.storage.sql.exec("DELETE FROM simulated_runs WHERE agent_id = ?", working.id));
  expect((await heartbeat(town, working.id, { generation: working.generation, containerStatus: "exited" })).status).toBe(204);
  await runFor(5 * 60_000);
  // Another container hangs silently: no report, its heartbeats just stop; the agent stalls and is stopped.
  await later();
  for (let i = 13; i <= 16; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
  await runFor(20_000);
  await later();
  const silent = ((await town.stub.testStateSummary()) as any).agents.find((a: any) => a.status === "working");
  await runInDurableObject(town.stub, (_instance, state) => state.storage.sql.exec("DELETE FROM simulated_runs WHERE agent_id = ?", silent.id));
  await runFor(40 * 60_000);
  return { town, checkpoints };
}

/**
 * The demo workload (scripts/demo.ts) on the test clock: a town with two rigs, the demo's beads and
 * convoy slung at once, a container that dies mid-task at 3 s, the held bead replaced at 20 s, and
 * time moving a second at a time (the demo polls every second) until nothing is in flight for 5 s.
 * `waves` > 1 repeats the workload every `waveEveryMs` with fresh ids (`<id>-w<k>`): a busy day.
 */
export async function demoTown(
  options: { townId?: string; waves?: number; waveEveryMs?: number; onWave?: (wave: number) => void } = {},
): Promise<{ town: TestTown; startedAt: number }> {
  const town = await createTown(DEMO_CONFIG, { rig: false, ...(options.townId ? { id: options.townId } : {}) });
  for (const rig of DEMO_RIGS) {
    const added = await api("POST", `/api/towns/${town.townId}/rigs`, {
      token: TOKENS.admin,
      body: { id: rig, name: rig, gitUrl: `https://git.example/${rig}.git` },
    });
    expect(added.status).toBe(201);
  }
  const startedAt = await town.stub.testNow();
  const waves = options.waves ?? 1;
  for (let wave = 0; wave < waves; wave++) {
    await runAlarmsUntil(town, startedAt + wave * (options.waveEveryMs ?? 0));
    await demoWave(town, wave);
    options.onWave?.(wave);
  }
  return { town, startedAt };
}

async function demoWave(town: TestTown, wave: number): Promise<void> {
  const id = (name: string) => (wave === 0 ? name : `${name}-w${wave}`);
  const admin = (method: string, path: string, body: unknown) => api(method, `/api/towns/${town.townId}${path}`, { token: TOKENS.admin, body });
  for (const { blockedBy, ...bead } of DEMO_BEADS) await sling(town, { ...bead, id: id(bead.id), ...(blockedBy ? { blockedBy: blockedBy.map(id) } : {}) });
  await admin("POST", "/convoys", { ...DEMO_CONVOY, id: id(DEMO_CONVOY.id), beadIds: DEMO_CONVOY.beadIds.map(id) });

  const started = await town.stub.testNow();
  let killed = false;
  let released = false;
  let retried = false;
  let quietFor = 0;
  for (;;) {
    const elapsed = (await town.stub.testNow()) - started;
    // A container dies mid-task: the platform reports it, the town recovers the bead.
    if (!killed && elapsed >= 3_000) {
      const victim = (await bead(town, id("rate-limits"))).agent;
      if (victim?.status === "working") {
        expect((await heartbeat(town, victim.id, { generation: victim.generation, containerStatus: "exited" })).status).toBe(204);
        killed = true;
      }
    }
    // The held bead may go now.
    if (!released && elapsed >= 20_000) {
      expect((await admin("POST", `/beads/${id("cleanup")}/release`, {})).status).toBe(202);
      released = true;
    }
    const now = await status(town);
    quietFor = now.beads.in_progress + now.beads.in_review + now.queue.pending === 0 ? quietFor + 1 : 0;
    // Once quiet, the failed issues of this wave are retried, once.
    if (released && quietFor >= 5 && !retried) {
      const failed = DEMO_BEADS.map((b) => id(b.id));
      expect((await admin("POST", "/beads/bulk", { action: "retry", filter: { ids: failed } })).status).toBe(202);
      retried = true;
      quietFor = 0;
    }
    if ((retried && quietFor >= 5) || elapsed >= 240_000) return;
    await runAlarmsUntil(town, started + elapsed + 1_000);
  }
}

/** Lets time pass to `end`, running every alarm that falls due on the way, at its time. */
export async function runAlarmsUntil(town: TestTown, end: number): Promise<void> {
  for (;;) {
    const alarmAt = await town.stub.testAlarmAt();
    if (alarmAt === null || alarmAt > end) break;
    await town.stub.testSetTime(Math.max(alarmAt, await town.stub.testNow()));
    await tick(town);
  }
  if ((await town.stub.testNow()) < end) await town.stub.testSetTime(end);
}

/**
 * A window whose replay reads the archive and the log's own commands: a bead finished (and left the
 * working set) before the snapshot the window starts from, and new work in the window is blocked by
 * it; an event the drain cannot parse is dead-lettered, retried by an operator, dead-lettered again and
 * discarded. Returns the first moment after that snapshot.
 */
export async function archiveTown(options: { townId?: string } = {}): Promise<{ town: TestTown; windowFrom: number }> {
  const quick = { simulation: { workMs: 1_000, heartbeatIntervalMs: 500 }, snapshotIntervalMs: 60_000, maxEventAttempts: 2 };
  const town = await createTown(quick, options.townId ? { id: options.townId } : {});
  await sling(town, { id: "old", title: "Finished long ago" });
  await runAlarmsUntil(town, (await town.stub.testNow()) + 30_000);
  expect(await town.stub.testInMemory("old")).toBe(false);
  // A snapshot after it left the working set: the window starts there.
  await town.stub.testAdvance(61_000);
  await tick(town);
  const windowFrom = (await town.stub.testNow()) + 1;
  await town.stub.testAdvance(1_000);

  await sling(town, { id: "new", title: "Builds on it", blockedBy: ["old"] });
  // A row no build can parse (as an older version might have left): the drain fails it twice.
  await runInDurableObject(town.stub, (_instance, state) => {
    state.storage.sql.exec(
      "INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts) VALUES ('poison', 'agent_done', 'web:polecat:1', 'not json', ?, 'pending', 0)",
      windowFrom + 1_000,
    );
    new TownStore(state.storage).events.recountTotals();
  });
  await runAlarmsUntil(town, (await town.stub.testNow()) + 10_000);
  const seq = await runInDurableObject(
    town.stub,
    (_instance, state) => state.storage.sql.exec<{ seq: number }>("SELECT seq FROM town_events WHERE event_id = 'poison'").one().seq,
  );
  expect((await api("POST", `/api/towns/${town.townId}/debug/events/${seq}/retry`, { token: TOKENS.admin, body: {} })).status).toBe(202);
  await runAlarmsUntil(town, (await town.stub.testNow()) + 10_000);
  expect((await api("POST", `/api/towns/${town.townId}/debug/events/${seq}/discard`, { token: TOKENS.admin, body: {} })).status).toBe(200);
  await runAlarmsUntil(town, (await town.stub.testNow()) + 30_000);
  expect((await bead(town, "new")).bead.status).toBe("closed");
  return { town, windowFrom };
}
