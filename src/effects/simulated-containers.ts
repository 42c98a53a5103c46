import { fnv1a } from "../domain/hash";
import type { TownConfig } from "../domain/config";
import type { AgentId } from "../domain/ids";
import type { SimulationStore } from "../db/simulation-store";
import type { Clock } from "../domain/clock";
import type { CallOutcome, ContainerPort, DispatchRequest, StopRequest } from "./container-port";

/** What a simulated agent reports, the way a real agent platform would call back. */
export type SimulatedReport =
  | { readonly kind: "heartbeat"; readonly agentId: AgentId; readonly generation: number }
  | {
      readonly kind: "done";
      readonly agentId: AgentId;
      readonly generation: number;
      readonly branch: string;
    }
  | { readonly kind: "failed"; readonly agentId: AgentId; readonly generation: number; readonly reason: string };

/**
 * The container service, simulated (local runs and benchmarks): a dispatched agent heartbeats, works
 * for `simulation.workMs` and then reports done, or — at `simulation.failureRate` — failure.
 * Whether a run fails is decided from its agent and generation, so a run replays the same way.
 */
export class SimulatedContainers implements ContainerPort {
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

  /** When the next report falls due (null: no run is going), without reporting anything. */
  nextReportAt(): number | null {
    const { heartbeatIntervalMs } = this.config().simulation;
    let next: number | null = null;
    for (const run of this.runs.runs()) {
      const due = Math.min(run.finishAt, run.lastHeartbeatAt + heartbeatIntervalMs);
      if (next === null || due < next) next = due;
    }
    return next;
  }

  /** Reports due by `now` (finished runs end), and when the next one falls due. */
  progress(now: number): { reports: SimulatedReport[]; wakeAt: number | null } {
    const { heartbeatIntervalMs } = this.config().simulation;
    const reports: SimulatedReport[] = [];
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
    return { reports, wakeAt };
  }
}

/** A stable number in [0, 1) from a string (FNV-1a). */
function unitHash(text: string): number {
  return fnv1a(text) / 2 ** 32;
}
