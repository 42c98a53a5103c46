/**
 * Where each invariant's runbook lives in `docs/runbooks/` (the groups of docs/runbooks/invariant-violations.md).
 * Pages link to it under RUNBOOKS_URL, the address where the repository's docs/runbooks/ can be read.
 */
const RUNBOOK_BY_INVARIANT: Readonly<Record<number, string>> = {
  1: "invariants-hooks.md",
  2: "invariants-work.md",
  3: "invariants-review.md",
  4: "invariants-review.md",
  5: "invariants-convoys.md",
  6: "invariants-hooks.md",
  7: "invariants-hooks.md",
  8: "queue-depth.md",
  9: "dead-letters.md",
  10: "invariants-hooks.md",
  11: "work-not-moving.md",
  12: "flapping.md",
};

/** The runbook page for an invariant: its group's page, or the general one for an invariant without. */
export function runbookFor(invariant: number): string {
  return RUNBOOK_BY_INVARIANT[invariant] ?? "invariant-violations.md";
}

export const RUNBOOKS_DIR = "docs/runbooks";
