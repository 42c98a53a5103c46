import type { Action } from "./actions";
import { graceEnd, heartbeatDeadline, stallDeadline } from "./deadlines";
import { flappingEnds, isFlapping, reopensWithin } from "./flapping";
import type { BeadId } from "./ids";
import { isLive, isFinished, type Bead } from "./model";
import { Plan } from "./plan";
import { stalledWork, type StalledWork } from "./progress";
import { reconcile } from "./reconcile";
import { beadHolds, isReady, type Hold } from "./rules/beads";
import { iso } from "./format";
import { budgetFigures } from "./budget";
import { DAY_MS, dayStart } from "./usage";
import { NO_FLAPPING, WORK_MOVES } from "./invariants";
import type { TownState } from "./state";
import type { Focus } from "./focus";
import { byUrgency } from "./work-index";

export interface Reason {
  readonly code: string;
  readonly message: string;
  /** When this reason lapses on its own, if it does. */
  readonly until?: number;
  /** The operator's command that lifts it, where one does (the API names its route). */
  readonly lift?: Lift;
}

/** The commands a person can lift a reason with (DESIGN §4.6). */
export type Lift = "retry" | "release" | "edit" | "requeue" | "hold" | "resume" | "reconfigure";

export interface Explanation {
  readonly beadId: BeadId;
  readonly status: Bead["status"];
  readonly type: Bead["type"];
  readonly reasons: readonly Reason[];
}

/**
 * Why a bead is or is not moving now, in the reconciler's own terms: the holds its dispatch rule
 * checks, the breaker, agent capacity, the review queue, the agent working on it and its deadlines.
 * Runs the real reconcile to say what the next tick would do with it.
 */
export function explainBead(state: TownState, bead: Bead, now: number): Explanation {
  // The rules about single entities need only the bead and its agents in view (dispatch and review
  // read their rig's queues whatever the focus): one bead's answer costs what its neighbourhood costs.
  return new Explainer(state, now, { agents: new Set(state.agentsHookedTo(bead.id)), beads: new Set([bead.id]) }).explain(bead);
}

/**
 * Explains many beads against one run of the reconciler: what `explainBead` answers for each, for the
 * price of one reconcile pass instead of one per bead (the status page explains every bead it lists).
 * `focus` is what the pass looks at (default: the whole working set).
 */
export class Explainer {
  private readonly plan: Plan;
  /** The next tick's actions by the bead they touch: directly, or through the agent hooked to it. */
  private readonly nextByBead = new Map<BeadId, Action[]>();
  /** Invariant 11: work waits and nothing has moved for longer than the progress window (or null). */
  private readonly stalled: StalledWork | null;

  constructor(
    private readonly state: TownState,
    private readonly now: number,
    focus: Focus = "all",
  ) {
    const config = state.town.config;
    for (const action of reconcile(state, now, config, focus).actions) {
      const touched = new Set<BeadId>();
      if ("beadId" in action && action.beadId) touched.add(action.beadId);
      if ("agentId" in action) {
        const hook = state.agent(action.agentId)?.hook;
        if (hook) touched.add(hook);
      }
      for (const beadId of touched) {
        const list = this.nextByBead.get(beadId);
        if (list) list.push(action);
        else this.nextByBead.set(beadId, [action]);
      }
    }
    this.plan = new Plan(state, now, config);
    this.stalled = stalledWork(state, now);
  }

  /** Whether the next tick acts on this bead. */
  movesNext(beadId: BeadId): boolean {
    return this.nextByBead.has(beadId);
  }

  explain(bead: Bead): Explanation {
    const { state, now, plan } = this;
    const config = state.town.config;
    const reasons: Reason[] = [];
    for (const action of this.nextByBead.get(bead.id) ?? []) {
      reasons.push({ code: "next_tick", message: `the next tick will ${action.type.replace(/_/g, " ")} (${action.rule}: ${action.reason})` });
    }

    if (isFinished(bead)) {
      const failure = bead.lastFailure;
      const why = failure ? `: ${failure.code} at ${iso(failure.at)} — ${failure.message}` : "";
      if (bead.status === "failed" && bead.type !== "merge_request") {
        reasons.push({ code: "failed", message: `the bead failed${why}; retry it to dispatch it again`, lift: "retry" });
      } else if (bead.status === "failed") {
        reasons.push({ code: "failed", message: `the merge request failed${why}; nothing more will happen to it (retry its issue for a new one)` });
      } else {
        reasons.push({ code: bead.status, message: `the bead is ${bead.status}; nothing more will happen to it` });
      }
      return { beadId: bead.id, status: bead.status, type: bead.type, reasons };
    }
    if (bead.status === "open") {
      if (bead.type === "convoy") {
        const unfinished = state.unfinishedTracked(bead);
        reasons.push({ code: "tracking", message: `waiting for ${unfinished.length} tracked bead(s): ${unfinished.join(", ")}` });
      } else {
        const paused = state.town.paused;
        const budget = config.budget;
        if (paused?.by === "budget" && budget) {
          // The figures as of now: containers that were still running when it paused went on counting until they stopped.
          const until = dayStart(now) + DAY_MS;
          const figures = budgetFigures(state.usageToday(now).containerMs, budget, now);
          const message = `the town's budget is exhausted (${figures}): nothing is dispatched until ${iso(until)}, when a new day's budget begins, or until an operator resumes the town (which waives the rest of today's budget)`;
          reasons.push({ code: "budget_exhausted", message, until, lift: "resume" });
        } else if (paused) {
          const message = `the town is paused (by ${paused.by} at ${iso(paused.at)}: ${paused.reason}): nothing is dispatched until it is resumed`;
          reasons.push({ code: "town_paused", message, lift: "resume" });
        }
        reasons.push(...beadHolds(plan, bead).map(toReason));
        const breaker = state.town.breaker;
        if (breaker.status === "open") {
          const until = breaker.since + config.breaker.cooldownMs;
          reasons.push({ code: "breaker_open", message: `dispatching is suspended: the circuit breaker opened at ${iso(breaker.since)}`, until });
        } else if (breaker.status === "half_open" && breaker.probeAt !== null) {
          reasons.push({
            code: "breaker_open",
            message: `the breaker is half-open and its one probe dispatch (at ${iso(breaker.probeAt)}) has not reported back`,
          });
        }
        if (bead.type === "issue" && bead.rigId) reasons.push(...agentCapacity(plan, bead));
        if (bead.type === "merge_request" && bead.rigId) reasons.push(...reviewQueue(plan, bead));
      }
    } else if (bead.status === "in_progress") {
      const agent = plan.liveAgentOf(bead.id);
      if (!agent) {
        reasons.push({ code: "no_agent", message: "in progress with no live agent: the next tick reopens it" });
      } else if (agent.status === "stalled") {
        const until = stallDeadline(agent, config);
        reasons.push({
          code: "agent_stalled",
          message: `agent ${agent.id} stalled at ${iso(agent.statusSince)}; it is stopped and the bead reopened at ${iso(until)} (requeue it to do so now)`,
          until,
          lift: "requeue",
        });
      } else {
        const deadline = heartbeatDeadline(agent, config);
        const heard = agent.lastHeartbeatAt === null ? "no heartbeat yet" : `last heartbeat ${iso(agent.lastHeartbeatAt)}`;
        reasons.push({
          code: "working",
          message: `agent ${agent.id} (generation ${agent.generation}) is working on it since ${iso(agent.dispatchedAt ?? agent.statusSince)}; ${heard}; it stalls without a heartbeat by ${iso(deadline)}`,
          until: deadline,
        });
        if (
          agent.containerStatus &&
          agent.containerStatus !== "running" &&
          agent.containerStatusSince !== null &&
          agent.containerStatusSince >= (agent.dispatchedAt ?? 0)
        ) {
          const ends = graceEnd(agent, config);
          reasons.push({
            code: `container_${agent.containerStatus}`,
            message: `its container reported ${agent.containerStatus} at ${iso(agent.containerStatusSince)}${agent.containerStatus === "not_found" && now < ends ? `; the cold-start grace runs until ${iso(ends)}, then the agent is released` : ""}`,
            ...(agent.containerStatus === "not_found" && now < ends ? { until: ends } : {}),
          });
        }
      }
    } else if (bead.status === "in_review") {
      const requests = state
        .mergeRequestsOf(bead.id)
        .map((id) => state.bead(id))
        .filter((mr): mr is Bead => mr !== undefined);
      const active = requests.filter((mr) => !isFinished(mr));
      if (active.length === 0) reasons.push({ code: "review_settling", message: "no merge request is open: the next tick closes or reopens it" });
      for (const mr of active) reasons.push({ code: "waiting_for_review", message: `waiting for merge request ${mr.id} (${mr.status})` });
    }
    reasons.push(...this.livenessReasons(bead));
    if (reasons.length === 0) reasons.push({ code: "ready", message: "nothing holds it; the next tick should act on it" });
    return { beadId: bead.id, status: bead.status, type: bead.type, reasons };
  }

  /** The invariants that watch a bead's progress over time: 12 (it flaps) and 11 (the town's work is not moving). */
  private livenessReasons(bead: Bead): Reason[] {
    const { state, now } = this;
    const config = state.town.config;
    const reasons: Reason[] = [];
    if (isFlapping(bead, now, config)) {
      const { maxReopens, windowMs } = config.flapping;
      const ends = flappingEnds(bead, config)!;
      reasons.push({
        code: "flapping",
        message: `it went back to open ${reopensWithin(bead, now, config)} times within ${Math.round(windowMs / 60_000)} min (limit ${maxReopens}): something keeps sending it back (invariant ${NO_FLAPPING.id}); see its history and the dispatch results, and hold it while you look`,
        until: ends,
        lift: "hold",
      });
    }
    // Waiting work: an issue its rig may dispatch, or a merge request waiting for review.
    const waiting = bead.status === "open" && bead.rigId !== null && (bead.type === "merge_request" || state.work.isDispatchable(bead));
    if (this.stalled && waiting) {
      reasons.push({
        code: "work_not_moving",
        message: `no bead in this town has changed status since ${iso(this.stalled.since)} while ${this.stalled.waiting} wait to be dispatched or reviewed (progress window ${Math.round(config.progressWindowMs / 60_000)} min, invariant ${WORK_MOVES.id}): check the breaker, the agents' capacity and whether ticks run`,
      });
    }
    return reasons;
  }
}

/** What lifts each hold a person can lift. */
const LIFT_OF_HOLD: Partial<Record<Hold["code"], Lift>> = { held: "release", blocked: "edit", attempts_exhausted: "retry" };

function toReason(hold: Hold): Reason {
  const lift = LIFT_OF_HOLD[hold.code];
  return { code: hold.code, message: hold.message, ...(hold.until === undefined ? {} : { until: hold.until }), ...(lift ? { lift } : {}) };
}

/** An open issue needs an idle polecat of its rig, or room under the rig's cap to create one. */
function agentCapacity(plan: Plan, bead: Bead): Reason[] {
  const work = plan.state.work.rig(bead.rigId!);
  if (!work || work.idlePolecats.size > 0 || work.alivePolecats < plan.config.maxPolecatsPerRig) return [];
  let ahead = 0;
  for (const other of work.dispatchable) {
    if (byUrgency(other, bead) >= 0) break;
    if (isReady(plan, other)) ahead += 1;
  }
  return [
    {
      code: "no_agent",
      message: `no idle polecat in rig ${bead.rigId} and the rig is at its cap of ${plan.config.maxPolecatsPerRig} (maxPolecatsPerRig); ${ahead} dispatchable issue(s) are ahead of it`,
      lift: "reconfigure",
    },
  ];
}

/** A merge request waits for the one in progress in its rig and for those ahead of it. */
function reviewQueue(plan: Plan, bead: Bead): Reason[] {
  const work = plan.state.work.rig(bead.rigId!);
  const reasons: Reason[] = [];
  const reviewing = work?.reviewing.first();
  if (reviewing) reasons.push({ code: "review_busy", message: `rig ${bead.rigId} is reviewing merge request ${reviewing.id}; one at a time` });
  const queue = work ? [...work.openReviews] : [];
  const ahead = queue.findIndex((mr) => mr.id === bead.id);
  if (ahead > 0)
    reasons.push({
      code: "review_queue",
      message: `${ahead} merge request(s) ahead of it: ${queue
        .slice(0, ahead)
        .map((mr) => mr.id)
        .join(", ")}`,
    });
  const refinery = work?.refineries.first();
  if (refinery && isLive(refinery) && refinery.hook !== bead.id)
    reasons.push({ code: "refinery_busy", message: `the refinery ${refinery.id} is busy with ${refinery.hook}` });
  return reasons;
}
