import { clipError } from "../domain/format";
import type { IngestInput } from "../api/schemas";
import type { OutboxEntry } from "../db/outbox-store";
import type { TownStore } from "../db/town-store";
import type { Effect } from "../domain/actions";
import type { TownConfig } from "../domain/config";
import { isStillWanted } from "../domain/effects";
import { keyEpoch, mintDispatchCredential } from "../auth/dispatch-credential";
import { signingKeyOf } from "../auth/signing";
import type { CallOutcome, ContainerPort, DispatchRequest, StopRequest } from "./container-port";
import { httpContainerPort, type HttpContainerSettings } from "./http-container";
import { runOutbox, type OutboxRun } from "./outbox";
import { SimulatedContainers } from "./simulated-containers";
import type { Clock } from "../domain/clock";
import type { Wake } from "../domain/plan";
import { toNewEvent } from "../db/event-rows";
import { ingestEvents, observeAgent } from "../commands/ingest";
import type { TownRuntime } from "../town/runtime";
import { credentialDenied } from "../commands/credentials";

/** The environment's choice of container service. */
export interface PlatformSettings extends HttpContainerSettings {
  /** `simulated` (default) or `http`. */
  readonly CONTAINER_ADAPTER?: string;
  /**
   * The key agent tokens and dispatch credentials are signed with (a secret): the Worker checks a
   * signature before it wakes a town, so a made-up token costs no town anything. Unset: a key derived
   * from ADMIN_TOKEN (`signingKeyOf`).
   */
  readonly SIGNING_KEY?: string;
  readonly ADMIN_TOKEN?: string;
}

/**
 * The agent platform as the town sees it: the container service (the environment picks the adapter)
 * that side effects call, and the agents an adapter runs inside the object (the simulated ones), which
 * report back through the very paths a real platform uses (heartbeats, agent callbacks).
 */
export class Platform {
  private port: ContainerPort | null = null;

  constructor(
    private readonly env: PlatformSettings,
    private readonly store: TownStore,
    private readonly clock: Clock,
    private readonly config: () => TownConfig,
  ) {}

  /** The container service for this environment: `CONTAINER_ADAPTER` is `simulated` (default) or `http`. */
  containers(): ContainerPort {
    if (this.port) return this.port;
    const adapter = this.env.CONTAINER_ADAPTER ?? "simulated";
    if (adapter === "http") this.port = httpContainerPort(this.env);
    else if (adapter === "simulated") this.port = new SimulatedContainers(this.store.simulation, this.clock, this.config);
    else throw new Error(`CONTAINER_ADAPTER must be "simulated" or "http", not "${adapter}"`);
    return this.port;
  }

  /**
   * Lets the agents the container service runs inside this object (the simulated adapter's) report what
   * came due by `now` — heartbeats, done, failed — through the very paths a real platform calls.
   * Returns when they report next (null: no such agents, or none running).
   */
  takeReports(runtime: TownRuntime, now: number): Wake | null {
    const hosted = this.containers().hosted;
    if (!hosted) return null;
    const { reports, next } = hosted.progress(now);
    const tokenHash = this.store.state.agentTokenHash();
    for (const report of reports) {
      const { agentId, generation } = report;
      // Each container speaks with its own dispatch's credential, never the town's agent token (DESIGN
      // §4.8): the same claims, the same checks, and its callbacks in the agents' own lane.
      const claims = { townId: runtime.state.town.id, agentId, generation, epoch: tokenHash ? keyEpoch(tokenHash) : "" };
      if (credentialDenied(runtime, claims, now)) continue;
      if (report.kind === "heartbeat") {
        observeAgent(runtime, agentId, { generation, containerStatus: "running" }, now);
        continue;
      }
      const eventId = `simulated:${agentId}@${generation}:${report.kind}`;
      const event: IngestInput["events"][number] =
        report.kind === "done"
          ? { eventId, type: "agent_done", agentId, beadId: null, payload: { generation, branch: report.branch } }
          : { eventId, type: "agent_completed", agentId, beadId: null, payload: { generation, status: "failed", reason: report.reason } };
      // A report the intake refuses (the log at its byte budget) is lost, as a real container's would
      // be that gave up: the agent then stalls, and the town recovers its bead.
      ingestEvents(runtime, { events: [event] }, now, { kind: "dispatch", agentId, generation });
    }
    return next;
  }

  /** When the agents the service runs inside this object report next (null: none). */
  nextReport(): Wake | null {
    return this.containers().hosted?.nextReport() ?? null;
  }

  /** Executes the side effects that are due, after the tick committed; their outcomes enter the town as events. */
  runEffects(runtime: TownRuntime): Promise<OutboxRun> {
    return runOutbox({
      store: this.store,
      port: this.containers(),
      clock: this.clock,
      config: runtime.state.town.config,
      describe: (effect) => this.request(runtime, effect),
      report: (entry, outcome) => this.reportOutcome(entry, outcome),
    });
  }

  /** Forgets the adapter (the town was deleted). */
  reset(): void {
    this.port = null;
  }

  /**
   * The call for an effect, or null when the town no longer wants it. A dispatch carries the
   * credential its container speaks with (DESIGN §4.8), minted for its agent and generation under the
   * town's current key epoch.
   */
  private async request(runtime: TownRuntime, effect: Effect): Promise<DispatchRequest | StopRequest | null> {
    const { state } = runtime;
    const townId = state.town.id;
    if (!isStillWanted(state, effect)) return null;
    if (effect.kind === "stop") return { effectId: effect.id, townId, agentId: effect.agentId, generation: effect.generation };
    const agent = state.agent(effect.agentId)!;
    const bead = state.bead(effect.beadId!)!;
    const rig = state.rig(effect.rigId)!;
    const tokenHash = this.store.state.agentTokenHash();
    const signingKey = signingKeyOf(this.env);
    // Without a key there is no town either (it could not have been created); a hand-made one gets none.
    const credential =
      signingKey && tokenHash
        ? await mintDispatchCredential({ townId, agentId: agent.id, generation: effect.generation, epoch: keyEpoch(tokenHash) }, signingKey)
        : "";
    return {
      effectId: effect.id,
      credential,
      townId,
      agentId: agent.id,
      role: agent.role,
      generation: effect.generation,
      rig: { id: rig.id, name: rig.name, gitUrl: rig.gitUrl, defaultBranch: rig.defaultBranch },
      bead: { id: bead.id, type: bead.type, title: bead.title, body: this.store.state.beadBody(bead.id), branch: bead.branch, prUrl: bead.prUrl },
    };
  }

  /**
   * Called inside the outbox's transaction: the outcome enters the town as an event, named after the
   * request (a stop asked for again is a new request, with its own outcome).
   */
  private reportOutcome(entry: OutboxEntry, outcome: CallOutcome): void {
    const effect = entry.effect;
    const payload = {
      effectId: effect.id,
      kind: effect.kind,
      generation: effect.generation,
      outcome: outcome.outcome,
      beadId: effect.beadId,
      ...(outcome.outcome === "ok" ? {} : { error: clipError(outcome.error) }),
    };
    const body = { type: "dispatch_result", agentId: effect.agentId, beadId: null, payload } as const;
    this.store.events.append([toNewEvent(`result:${effect.id}:${entry.createdAt}`, body, this.clock.now())]);
  }
}
