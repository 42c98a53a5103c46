import type { Violation } from "./invariants";

/** A violation as it stays on record while open: what the invariant check found, and when. */
export interface OpenViolation extends Pick<Violation, "key" | "invariant" | "message"> {
  readonly agentIds: readonly string[];
  readonly beadIds: readonly string[];
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  readonly lastReportedAt: number;
}

export interface ViolationChanges {
  /** Violations that start this tick: report them. */
  readonly started: readonly OpenViolation[];
  /** Still open, and the report cooldown has passed since the last report: report again. */
  readonly reminders: readonly OpenViolation[];
  /** Open last tick, gone now. */
  readonly resolved: readonly OpenViolation[];
  /** Everything open after this tick. */
  readonly open: readonly OpenViolation[];
}

/**
 * Turns "what the invariants found this tick" into "what to tell an operator": a violation is reported
 * when it starts, again at most once per cooldown while it stays open, and recorded when it resolves —
 * never once per tick (the failure mode of logging every 5 s with nobody paged).
 */
export function trackViolations(
  previous: ReadonlyMap<string, OpenViolation>,
  detected: readonly Violation[],
  now: number,
  cooldownMs: number,
): ViolationChanges {
  const started: OpenViolation[] = [];
  const reminders: OpenViolation[] = [];
  const open: OpenViolation[] = [];
  const seen = new Set<string>();
  for (const violation of detected) {
    if (seen.has(violation.key)) continue;
    seen.add(violation.key);
    const before = previous.get(violation.key);
    const facts = { message: violation.message, agentIds: violation.agentIds, beadIds: violation.beadIds };
    if (!before) {
      const fresh = { key: violation.key, invariant: violation.invariant, ...facts, firstSeenAt: now, lastSeenAt: now, lastReportedAt: now };
      started.push(fresh);
      open.push(fresh);
    } else if (now - before.lastReportedAt >= cooldownMs) {
      const reminded = { ...before, ...facts, lastSeenAt: now, lastReportedAt: now };
      reminders.push(reminded);
      open.push(reminded);
    } else {
      open.push({ ...before, ...facts, lastSeenAt: now });
    }
  }
  const resolved = [...previous.values()].filter((v) => !seen.has(v.key));
  return { started, reminders, resolved, open };
}
