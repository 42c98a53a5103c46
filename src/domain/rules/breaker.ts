import type { Plan } from "../plan";
import { iso, seconds } from "../format";

/**
 * The circuit breaker: too many dispatch failures in a window suspend dispatching for the town; after
 * a cool-down one probe dispatch is allowed (half-open); its success closes the breaker, a failure
 * opens it again. A dead container service therefore costs a bounded number of dispatches per hour.
 */
export function transition(plan: Plan): void {
  const { now, config } = plan;
  const breaker = plan.state.town.breaker;
  const { failureThreshold, windowMs, cooldownMs } = config.breaker;
  let status = breaker.status;

  if (status === "closed") {
    const recent = breaker.failures.filter((at) => at > now - windowMs).length;
    if (recent >= failureThreshold) {
      plan.emit("breaker.trip", `${recent} dispatch failures in ${seconds(windowMs)} (threshold ${failureThreshold})`, {
        type: "set_breaker",
        from: "closed",
        to: "open",
      });
      status = "open";
    }
  } else if (status === "open") {
    const until = breaker.since + cooldownMs;
    if (now >= until) {
      plan.emit("breaker.halfOpen", `open since ${iso(breaker.since)}; cool-down of ${seconds(cooldownMs)} over, allowing one probe`, {
        type: "set_breaker",
        from: "open",
        to: "half_open",
      });
      status = "half_open";
    }
  } else if (breaker.lastFailureAt !== null && breaker.lastFailureAt >= breaker.since) {
    plan.emit("breaker.reopen", `probe failed at ${iso(breaker.lastFailureAt)}`, { type: "set_breaker", from: "half_open", to: "open" });
    status = "open";
  } else if (breaker.probeAt !== null && breaker.lastSuccessAt !== null && breaker.lastSuccessAt >= breaker.probeAt) {
    plan.emit("breaker.close", `probe succeeded at ${iso(breaker.lastSuccessAt)}`, { type: "set_breaker", from: "half_open", to: "closed" });
    status = "closed";
  }

  // A half-open breaker allows one probe until it is sent (every transition clears `probeAt`).
  const allowed = status === "closed" ? Infinity : status === "half_open" && breaker.probeAt === null ? 1 : 0;
  plan.dispatchBudget = Math.min(plan.dispatchBudget, allowed);
}
