import { budgetFigures, limitMs, verdictOf, type Budget } from "../budget";
import type { Verdict } from "../model";
import { iso } from "../format";
import type { Plan } from "../plan";
import { DAY_MS, dayStart, utcDay } from "../usage";

/**
 * The budget (DESIGN §4.7): container hours per UTC day, the containers still running included. Its
 * rules run first, so a town its budget pauses dispatches nothing more in the same pass.
 */

/** Today's verdict and the figures behind it (null: the town has no budget). */
function judged(plan: Plan): { budget: Budget; verdict: Verdict; usedMs: number; day: string } | null {
  const budget = plan.config.budget;
  if (!budget) return null;
  const usedMs = plan.state.usageToday(plan.now).containerMs;
  return { budget, verdict: verdictOf(usedMs, budget), usedMs, day: utcDay(plan.now) };
}

/** The verdict changed (or a new day began): the town records it, and Sentry hears of a warn or a stop. */
export function judge(plan: Plan): void {
  const today = judged(plan);
  if (!today) return;
  const standing = plan.state.town.budgetStanding;
  if (standing?.day === today.day && standing.verdict === today.verdict) return;
  plan.emit("budget.judge", `${today.verdict}: ${budgetFigures(today.usedMs, today.budget, plan.now)}`, {
    type: "judge_budget",
    day: today.day,
    verdict: today.verdict,
    usedMs: today.usedMs,
    limitMs: limitMs(today.budget),
  });
}

/** At the budget, with `onExceeded: "pause"`, the town pauses — unless an operator waived today's budget. */
export function pause(plan: Plan): void {
  const today = judged(plan);
  const town = plan.state.town;
  if (today?.verdict !== "stop" || today.budget.onExceeded !== "pause" || town.paused) return;
  const standing = town.budgetStanding;
  if (standing?.day === today.day && standing.waived) return;
  const until = iso(dayStart(plan.now) + DAY_MS);
  plan.emit("budget.pause", `budget exhausted: ${budgetFigures(today.usedMs, today.budget, plan.now)}; paused until ${until}`, {
    type: "pause_town",
    by: "budget",
  });
  plan.dispatchBudget = 0;
}

/** The budget's own pause ends when its verdict is no longer `stop`: a new UTC day, a larger budget, or none. */
export function resume(plan: Plan): void {
  if (plan.state.town.paused?.by !== "budget") return;
  const today = judged(plan);
  if (today && today.verdict === "stop" && today.budget.onExceeded === "pause") return;
  const why = today ? `${today.verdict}: ${budgetFigures(today.usedMs, today.budget, plan.now)}` : "the town has no budget any more";
  plan.emit("budget.resume", why, { type: "resume_town", by: "budget" });
}
