import type { AgentId, BeadId, RigId, TownId } from "../domain/ids";
import type { AgentRole, BeadType } from "../domain/model";
import type { Wake } from "../domain/plan";

/** What the container service needs to start an agent on a bead. */
export interface DispatchRequest {
  readonly effectId: string;
  readonly townId: TownId;
  readonly agentId: AgentId;
  readonly role: AgentRole;
  readonly generation: number;
  /**
   * What the container speaks with (DESIGN §4.8): its heartbeats and callbacks as
   * `Authorization: Bearer <credential>`, for this agent and generation only. Hand it to the
   * container, never the town's agent token.
   */
  readonly credential: string;
  readonly rig: { readonly id: RigId; readonly name: string; readonly gitUrl: string; readonly defaultBranch: string };
  readonly bead: {
    readonly id: BeadId;
    readonly type: BeadType;
    readonly title: string;
    readonly body: string | null;
    readonly branch: string | null;
    readonly prUrl: string | null;
  };
}

export interface StopRequest {
  readonly effectId: string;
  readonly townId: TownId;
  readonly agentId: AgentId;
  readonly generation: number;
}

/** How a call went. `retryable` failures are tried again by the outbox; the rest are final. */
export type CallOutcome =
  | { readonly outcome: "ok" }
  | { readonly outcome: "failed"; readonly error: string; readonly retryable: boolean }
  | { readonly outcome: "timeout"; readonly error: string };

/** The agent container service, as the town sees it. Adapters: simulated and http. */
export interface ContainerPort {
  dispatch(request: DispatchRequest, signal: AbortSignal): Promise<CallOutcome>;
  stop(request: StopRequest, signal: AbortSignal): Promise<CallOutcome>;
  /**
   * A service whose agents run inside the town's own object (the simulated one) has nobody to call the
   * town on their behalf: the town lets them report when it wakes, and wakes when they are due.
   */
  readonly hosted?: HostedAgents;
}

/** What an agent reports, the way a platform calls back: a heartbeat, work done, or a failure. */
export type AgentReport =
  | { readonly kind: "heartbeat"; readonly agentId: AgentId; readonly generation: number }
  | { readonly kind: "done"; readonly agentId: AgentId; readonly generation: number; readonly branch: string }
  | { readonly kind: "failed"; readonly agentId: AgentId; readonly generation: number; readonly reason: string };

/** Agents a container service runs inside the town's object. */
export interface HostedAgents {
  /** Reports due by `now` (finished runs end), and when the next one falls due. */
  progress(now: number): { reports: AgentReport[]; next: Wake | null };
  /** When the next report falls due, without reporting anything (null: none is). */
  nextReport(): Wake | null;
}
