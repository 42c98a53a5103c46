/**
 * The demo's town: its settings, rigs, beads (priorities, blockers, a held one) and convoy. `npm run
 * demo` slings it into a running Worker; the recorded bundles and the replay tests run it on the test
 * clock (test/support/scenarios.ts). One list, so the two cannot drift apart.
 */
export const DEMO_CONFIG = {
  maxPolecatsPerRig: 3,
  maxDispatchAttempts: 3,
  dispatchBackoffBaseMs: 2_000,
  simulation: { workMs: 4_000, failureRate: 0.15, heartbeatIntervalMs: 2_000 },
};

export const DEMO_RIGS = ["web", "api"] as const;

export const DEMO_BEADS: ReadonlyArray<{ id: string; rigId: string; title: string; priority: number; blockedBy?: string[]; held?: boolean }> = [
  { id: "login-page", rigId: "web", title: "Redesign the login page", priority: 1 },
  { id: "session-api", rigId: "api", title: "Session API v2", priority: 0 },
  { id: "login-wiring", rigId: "web", title: "Wire the login page to the session API", priority: 1, blockedBy: ["login-page", "session-api"] },
  { id: "rate-limits", rigId: "api", title: "Rate limits per tenant", priority: 2 },
  { id: "audit-log", rigId: "api", title: "Audit log", priority: 2 },
  { id: "dark-mode", rigId: "web", title: "Dark mode", priority: 3 },
  { id: "a11y-pass", rigId: "web", title: "Accessibility pass", priority: 2 },
  { id: "billing-hooks", rigId: "api", title: "Billing webhooks", priority: 1 },
  { id: "docs-site", rigId: "web", title: "Docs site search", priority: 4 },
  { id: "export-csv", rigId: "api", title: "CSV export", priority: 3 },
  { id: "onboarding", rigId: "web", title: "Onboarding checklist", priority: 2, blockedBy: ["login-wiring"] },
  { id: "cleanup", rigId: "api", title: "Remove the v1 session API", priority: 4, blockedBy: ["session-api"], held: true },
];

export const DEMO_CONVOY = { id: "login-release", title: "Login release", beadIds: ["login-page", "session-api", "login-wiring"] };
