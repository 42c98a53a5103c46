import type { Checking, Finding, TownInvariant } from "./invariant";

// The event queue drains: events are processed in time, and none is given up on.

export const QUEUE_DRAINS: TownInvariant = {
  id: 8,
  name: "queueDrains",
  description: "no pending event is older than the maximum event age",
  of: "town",
  check: queueDrains,
  runbook: "queue-depth.md",
};

export const NO_DEAD_LETTERS: TownInvariant = {
  id: 9,
  name: "noDeadLetters",
  description: "there are no dead-lettered events",
  of: "town",
  check: noDeadLetters,
  runbook: "dead-letters.md",
};

export function queueDrains({ config, queue }: Checking): Finding | null {
  const maxAge = config.maxEventAgeMs;
  if (queue.oldestPendingAgeMs === null || queue.oldestPendingAgeMs <= maxAge) return null;
  return { key: "queue", message: `the oldest pending event waited ${Math.round(queue.oldestPendingAgeMs / 1000)}s (limit ${maxAge / 1000}s)` };
}

export function noDeadLetters({ queue }: Checking): Finding | null {
  if (queue.dead <= 0) return null;
  return { key: "dead", message: `${queue.dead} event(s) are dead-lettered` };
}
