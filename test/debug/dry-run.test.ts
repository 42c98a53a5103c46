import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { advance, api, createTown, heartbeat, sendEvents, sling, tick, TOKENS } from "../support/town";

const SILENT = { simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 } };

describe("reconcile dry-run", () => {
  it("changes nothing: rows, events, outbox, tick history and the alarm are as they were", async () => {
    const town = await createTown(SILENT);
    for (const id of ["b1", "b2", "b3"]) await sling(town, { id, title: id });
    await tick(town);
    await sendEvents(town, [{ eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/b1" } }]);
    await heartbeat(town, "web:polecat:2", { generation: 1, containerStatus: "exited" });
    await advance(town, 1_000);

    const before = await town.stub.testDump();
    const response = await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug, body: {} });
    expect(response.status).toBe(200);
    expect(await town.stub.testDump()).toBe(before);

    // It shows what it would drain, decide and record.
    const dry = response.body;
    expect(dry.events.map((e: any) => [e.type, e.outcome.outcome])).toEqual(
      expect.arrayContaining([
        ["agent_done", "applied"],
        ["container_status", "applied"],
      ]),
    );
    expect(dry.actions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "release_agent", rule: "agents.recoverLostContainer", reason: expect.stringContaining("container exited") }),
      ]),
    );
    expect(dry.metrics).toMatchObject({ eventsDrained: dry.events.length, actionsEmitted: dry.actions.length, result: "ok" });
    expect(dry.wake).toMatchObject({ at: expect.any(Number), reason: expect.any(String) });
  });

  it("equals reality: the next real tick at the same time takes exactly the dry-run's actions", async () => {
    const town = await createTown(SILENT);
    for (const id of ["b1", "b2", "b3", "b4"]) await sling(town, { id, title: id, priority: Number(id.slice(1)) % 3 });
    await tick(town);
    await sendEvents(town, [
      { eventId: "done-1", type: "agent_done", agentId: "web:polecat:1", payload: { generation: 1, branch: "feat/x" } },
      { eventId: "fail-2", type: "agent_completed", agentId: "web:polecat:2", payload: { generation: 1, status: "failed" } },
    ]);
    await advance(town, 30_000);

    const dry = (await api("POST", `/api/towns/${town.townId}/debug/reconcile-dry-run`, { token: TOKENS.debug })).body;
    expect(dry.actions.length).toBeGreaterThan(0);
    await tick(town);
    const recorded = await runInDurableObject(town.stub, (_instance, state) =>
      JSON.parse(state.storage.sql.exec<{ actions: string }>("SELECT actions FROM ticks ORDER BY id DESC LIMIT 1").one().actions),
    );
    const withoutReason = (actions: any[]) => actions.map(({ reason: _reason, ...rest }) => rest);
    // The tick records reasons too; the decisions are what must be the same.
    expect(withoutReason(recorded)).toEqual(withoutReason([...dry.actions, ...dry.repairs]));
    expect(dry.metrics.id).toBeNull();
  });
});
