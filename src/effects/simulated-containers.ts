import { fnv1a } from "../domain/hash";
import type { TownConfig } from "../domain/config";
import type { AgentId } from "../domain/ids";
import type { SimulationStore } from "../db/simulation-store";
import type { Clock } from "../domain/clock";
import type { Wake } from "../domain/plan";
import type { AgentReport, CallOutcome, ContainerPort, DispatchRequest, HostedAgents, StopRequest } from "./container-port";

/** Why a town with simulated agents wakes for them. */
const REPORT_DUE = "simulated agent report due";

/**
 * The container service, simulated (local runs and benchmarks): a dispatched agent heartbeats, works
 * for `simulation.workMs` and then reports done, or — at `simulation.failureRate` — failure.
 * Whether a run fails is decided from its agent and generation, so a run replays the same way. Its
 * agents live in the town's object: they report when the town lets them (`hosted`).
 */
export class SimulatedContainers implements ContainerPort, HostedAgents {
  readonly hosted: HostedAgents = this;

  constructor(
    private readonly runs: SimulationStore,
    private readonly clock: Clock,
    private readonly config: () => TownConfig,
  ) {}

  async dispatch(request: DispatchRequest): Promise<CallOutcome> {
    const now = this.clock.now();
    const { workMs, failureRate } = this.config().simulation;
    this.runs.start({
      agentId: request.agentId,
      generation: request.generation,
      beadId: request.bead.id,
      role: request.role,
      branch: request.bead.branch ?? `sim/${request.bead.id}`,
      finishAt: now + workMs,
      outcome: unitHash(`${request.agentId}@${request.generation}`) < failureRate ? "failed" : "done",
      lastHeartbeatAt: now,
    });
    return { outcome: "ok" };
  }

  async stop(request: StopRequest): Promise<CallOutcome> {
    this.runs.end(request.agentId, request.generation);
    return { outcome: "ok" };
  }

  nextReport(): Wake | null {
    const { heartbeatIntervalMs } = this.config().simulation;
    let next: number | null = null;
    for (const run of this.runs.runs()) {
      const due = Math.min(run.finishAt, run.lastHeartbeatAt + heartbeatIntervalMs);
      if (next === null || due < next) next = due;
    }
    return next === null ? null : { at: next, reason: REPORT_DUE };
  }

  progress(now: number): { reports: AgentReport[]; next: Wake | null } {
    const { heartbeatIntervalMs } = this.config().simulation;
    const reports: AgentReport[] = [];
    let wakeAt: number | null = null;
    for (const run of this.runs.runs()) {
      const agentId = run.agentId as AgentId;
      if (run.finishAt <= now) {
        reports.push(
          run.outcome === "failed"
            ? { kind: "failed", agentId, generation: run.generation, reason: "simulated failure" }
            : { kind: "done", agentId, generation: run.generation, branch: run.branch },
        );
        this.runs.end(run.agentId, run.generation);
        continue;
      }
      let nextHeartbeat = run.lastHeartbeatAt + heartbeatIntervalMs;
      if (nextHeartbeat <= now) {
        reports.push({ kind: "heartbeat", agentId, generation: run.generation });
        this.runs.touch(run.agentId, now);
        nextHeartbeat = now + heartbeatIntervalMs;
      }
      const due = Math.min(run.finishAt, nextHeartbeat);
      if (wakeAt === null || due < wakeAt) wakeAt = due;
    }
    return { reports, next: wakeAt === null ? null : { at: wakeAt, reason: REPORT_DUE } };
  }
}

/** A stable number in [0, 1) from a string (FNV-1a). */
function unitHash(text: string): number {
  return fnv1a(text) / 2 ** 32;
}
