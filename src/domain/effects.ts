import type { Effect } from "./actions";
import type { TownState } from "./state";

/**
 * Whether a side effect decided by an earlier tick is still what the town wants when its turn comes.
 * A stop always is (a container that may be running must not be left behind). A dispatch is only while
 * its agent is still at that generation, hooked to that bead and not idle: an agent that was stopped or
 * re-dispatched since must not get a container for its old work.
 */
export function isStillWanted(state: TownState, effect: Effect): boolean {
  if (effect.kind === "stop") return true;
  const agent = state.agent(effect.agentId);
  if (!agent || !effect.beadId || !state.bead(effect.beadId) || !state.rig(effect.rigId)) return false;
  return agent.generation === effect.generation && agent.hook === effect.beadId && agent.status !== "idle";
}
