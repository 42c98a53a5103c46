/**
 * The Worker the benchmark runs (`npm run bench`): the production Worker and town object, plus a
 * `/bench` control surface whose methods build synthetic towns and time the production code paths
 * from inside the object (in local workerd the clock advances during CPU work; in production it does not).
 */
import type { Env } from "../src/env";
import { TownDO as ProductionTownDO } from "../src/town/town.do";
import production from "../src/index";
import { toNewEvent } from "../src/town/event-log";
import { commitTick } from "../src/town/tick";
import { noFinished } from "../src/domain/state";
import { replayWindow } from "../src/town/replay";
import type { TownId } from "../src/domain/ids";
import { syntheticTown } from "./synthetic";

export { TownRegistry } from "./fleet-registry";
import { runFleetBench } from "./fleet-worker";

/** Cold loads measured by constructors, by town (module state survives an object reset). */
const coldLoads = new Map<string, number>();

export class TownDO extends ProductionTownDO {
  protected override load() {
    const started = performance.now();
    const runtime = super.load();
    if (runtime) coldLoads.set(runtime.state.town.id, performance.now() - started);
    return runtime;
  }

  /** A synthetic town of this size, written straight to storage and loaded back. */
  async benchSeed(townId: string, agents: number, beads: number) {
    const started = performance.now();
    const created = await this.putTown(townId as TownId, { maxPolecatsPerRig: 60, snapshotIntervalMs: 86_400_000, idleAlarmMs: 3_600_000 });
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    const town = syntheticTown(agents, beads, Date.now());
    this.store.transaction(() =>
      this.store.state.persist({ town: null, rigs: town.rigs, agents: town.agents, beads: town.beads, createdBeads: town.beads, createdAgents: town.agents, archived: [], purgedAgents: [] }, noFinished()),
    );
    this.runtime = null;
    this.load();
    await this.ctx.storage.deleteAlarm();
    return { ms: performance.now() - started, agentToken: created.value.created ? created.value.agentToken : null, working: town.working.length };
  }

  /** Appends `count` pending container status changes for working agents (each changes one agent). */
  async benchPending(count: number) {
    const runtime = this.runtime!;
    const working = [...runtime.state.agents()].filter((a) => a.status === "working" && a.role === "polecat");
    const now = Date.now();
    const rows = Array.from({ length: count }, (_, i) => {
      const agent = working[i % working.length]!;
      const status = agent.containerStatus === "starting" ? (i < working.length ? "running" : "starting") : i < working.length ? "starting" : "running";
      return toNewEvent(`bench:${now}:${i}`, { type: "container_status", agentId: agent.id, beadId: null, payload: { status } }, now);
    });
    this.store.transaction(() => this.store.events.append(rows));
    return { appended: rows.length };
  }

  /** One tick's transactional core, as the alarm runs it: drain, apply, reconcile, invariants, persist. */
  async benchTick() {
    const runtime = this.runtime!;
    const started = performance.now();
    const report = commitTick(runtime, Date.now());
    const ms = performance.now() - started;
    return { ms, drained: report.drained.length, actions: report.advance.actions.length, violations: report.violations.open.length, phases: report.record.phases };
  }

  /** The whole alarm: simulated platform, the tick, Sentry, side effects, snapshot check, scheduling, records. */
  async benchAlarm() {
    const started = performance.now();
    await this.alarm();
    const ms = performance.now() - started;
    await this.ctx.storage.deleteAlarm();
    return { ms };
  }

  /**
   * The floor: the SQLite work a tick with `events` pending cannot avoid, with the DO SQL API and
   * nothing else — read the pending events, mark them processed (99 to a statement, the parameter limit),
   * write each changed agent row once.
   */
  async benchFloor() {
    const sql = this.ctx.storage.sql;
    const started = performance.now();
    this.ctx.storage.transactionSync(() => {
      const rows = sql.exec<{ seq: number; agent_id: string; payload: string }>("SELECT seq, agent_id, payload FROM town_events WHERE status = 'pending' ORDER BY seq LIMIT 1000").toArray();
      const latest = new Map<string, string>();
      for (const row of rows) latest.set(row.agent_id, (JSON.parse(row.payload) as { status: string }).status);
      const now = Date.now();
      const seqs = rows.map((row) => row.seq);
      for (let i = 0; i < seqs.length; i += 99) {
        const chunk = seqs.slice(i, i + 99);
        sql.exec(`UPDATE town_events SET status = 'processed', processed_at = ? WHERE seq IN (${chunk.map(() => "?").join(",")})`, now, ...chunk);
      }
      for (const [agentId, status] of latest) sql.exec("UPDATE agents SET container_status = ?, container_status_since = ?, updated_at = ? WHERE id = ?", status, now, now, agentId);
    });
    return { ms: performance.now() - started };
  }

  /** Resets the object: the next call constructs it afresh and loads the town from storage. */
  async benchReset() {
    this.ctx.abort("benchmark: cold load");
  }

  async benchColdLoad(townId: string) {
    return { ms: coldLoads.get(townId) ?? null };
  }

  /** Builds a history of `events` events, `perTick` at a time, each batch drained by a real tick. */
  async benchHistory(events: number, perTick: number) {
    const started = performance.now();
    const runtime = this.runtime!;
    for (let done = 0; done < events; done += perTick) {
      await this.benchPending(Math.min(perTick, events - done));
      commitTick(runtime, Date.now());
    }
    return { ms: performance.now() - started };
  }

  async benchReplay(from: number, to: number) {
    const started = performance.now();
    const result = replayWindow(this.store, from, to, Date.now());
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return { ms: performance.now() - started, eventsReplayed: result.value.eventsReplayed, ticks: result.value.ticksReplayed, divergent: result.value.divergence.ticks };
  }

  /** Average of `count` steady ticks run back to back (no request between them). */
  async benchTickLoop(count: number) {
    const runtime = this.runtime!;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      commitTick(runtime, Date.now());
    }
    return { msPerTick: (performance.now() - started) / count };
  }

  /** The town's side of ingest alone (validation with the API schema, the checks, the insert), `batches` × `size`. */
  async benchIngestInObject(size: number, batches: number) {
    const { IngestBody } = await import("../src/api/schemas");
    const { ingestEvents } = await import("../src/town/ingest");
    const agentId = [...this.runtime!.state.agents()][1]!.id;
    const stamp = Date.now();
    const bodies = Array.from({ length: batches }, (_, b) =>
      JSON.stringify({ events: Array.from({ length: size }, (_, i) => ({ eventId: `io-${stamp}-${b}-${i}`, type: "container_status", agentId, payload: { status: i % 2 ? "running" : "starting" } })) }),
    );
    const started = performance.now();
    for (const text of bodies) {
      const result = ingestEvents(this.runtime!, IngestBody.parse(JSON.parse(text)), Date.now());
      if (!result.ok) throw new Error(JSON.stringify(result.error));
    }
    const seconds = (performance.now() - started) / 1000;
    return { eventsPerSecond: (size * batches) / seconds };
  }

  /** Where a steady-state reconcile pass spends its time, rule by rule (50 passes each). */
  async benchProfileRules() {
    const runtime = this.runtime!;
    const { RULES } = await import("../src/domain/reconcile");
    const { Plan } = await import("../src/domain/plan");
    const { checkInvariants } = await import("../src/domain/invariants");
    const now = Date.now();
    const out: Record<string, number> = {};
    const rounds = 50;
    for (const rule of RULES) {
      const started = performance.now();
      for (let i = 0; i < rounds; i++) {
        rule(new Plan(runtime.state, now, runtime.state.town.config));
      }
      out[rule.name] = (performance.now() - started) / rounds;
    }
    let started = performance.now();
    for (let i = 0; i < rounds; i++) checkInvariants(runtime.state, now, { oldestPendingAt: null, dead: 0 });
    out["(invariants)"] = (performance.now() - started) / rounds;
    const { reconcile } = await import("../src/domain/reconcile");
    started = performance.now();
    for (let i = 0; i < rounds; i++) reconcile(runtime.state, now, runtime.state.town.config);
    out["(reconcile)"] = (performance.now() - started) / rounds;
    return out;
  }
}

type BenchStub = DurableObjectStub<TownDO>;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const fleet = /^\/bench\/fleet\/([a-z-]+)$/.exec(url.pathname);
    if (fleet) {
      const body = (await request.json().catch(() => ({}))) as Record<string, number>;
      return runFleetBench(env, fleet[1]!, body).then((result) => Response.json(result), (error) => Response.json({ error: String(error) }, { status: 500 }));
    }
    const match = /^\/bench\/towns\/([^/]+)\/([a-z-]+)$/.exec(url.pathname);
    if (!match) return production.fetch(request as Request<unknown, IncomingRequestCfProperties>, env, ctx);
    const [, townId, action] = match as unknown as [string, string, string];
    const stub = env.TOWN.getByName(townId) as unknown as BenchStub;
    const body = request.method === "POST" ? ((await request.json().catch(() => ({}))) as Record<string, number>) : {};
    try {
      const result = await run(stub, townId, action, body);
      return Response.json(result ?? {});
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 });
    }
  },
};

async function run(stub: BenchStub, townId: string, action: string, body: Record<string, number>) {
  switch (action) {
    case "seed":
      return stub.benchSeed(townId, body.agents!, body.beads!);
    case "pending":
      return stub.benchPending(body.count!);
    case "tick":
      return stub.benchTick();
    case "alarm":
      return stub.benchAlarm();
    case "floor":
      return stub.benchFloor();
    case "reset":
      return stub.benchReset().catch(() => ({ reset: true }));
    case "cold-load":
      return stub.benchColdLoad(townId);
    case "history":
      return stub.benchHistory(body.events!, body.perTick!);
    case "replay":
      return stub.benchReplay(body.from!, body.to!);
    case "ingest-in-object":
      return stub.benchIngestInObject(body.size!, body.batches!);
    case "tick-loop":
      return stub.benchTickLoop(body.count ?? 20);
    case "profile-rules":
      return stub.benchProfileRules();
    default:
      throw new Error(`unknown bench action ${action}`);
  }
}
