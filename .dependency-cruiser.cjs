/**
 * The layering of src/, checked by `npm run lint` (dependency-cruiser). Dependencies point inward:
 *
 *   domain  ←  db  ←  observability  ←  the town's jobs  ←  town  ←  http, index
 *
 * The jobs are the tick (src/tick), writes (src/commands), reads (src/views), replay, the fleet and the
 * effects (the container service's adapters and the platform that drives them).
 * domain is pure (no storage, no platform); db stores what domain describes; the jobs run on a loaded
 * town (src/town/runtime.ts) and never on the object itself; only the Worker's edge speaks HTTP.
 * Type-only imports count: a cycle through types is still a cycle.
 */
const JOBS = "^src/(tick|commands|views|replay|fleet|effects)/";

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "No import cycle, through types or not: each module can be understood from what it imports.",
      from: {},
      to: { circular: true },
    },
    {
      name: "domain-is-pure",
      severity: "error",
      comment: "The domain core imports nothing but itself and zod: no storage, no platform, no HTTP.",
      from: { path: "^src/domain/" },
      to: { pathNot: ["^src/domain/", "^node_modules/zod/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "db-imports-only-domain",
      severity: "error",
      comment: "Storage stores what the domain describes: it knows nothing of observability, the fleet, replay, the jobs or HTTP.",
      from: { path: "^src/db/" },
      to: { path: "^src/", pathNot: ["^src/db/", "^src/domain/"] },
    },
    {
      name: "observability-stays-below-the-jobs",
      severity: "error",
      comment: "Logs, Sentry and metric families are used by the jobs and the object; they read only the domain and storage.",
      from: { path: "^src/observability/" },
      to: { path: "^src/", pathNot: ["^src/(observability|domain|db)/"] },
    },
    {
      name: "jobs-run-on-a-loaded-town",
      severity: "error",
      comment: "The tick, commands, views, replay, the fleet and the effects take a loaded town (runtime.ts, parts.ts), never the object.",
      from: { path: JOBS },
      to: { path: "^src/town/", pathNot: "^src/town/(runtime|parts)\\.ts$" },
    },
    {
      name: "only-the-edge-speaks-http",
      severity: "error",
      comment: "HTTP (statuses, routes, pages) lives in src/http; nothing inside imports it.",
      from: { path: "^src/", pathNot: "^src/(http/|index\\.ts$)" },
      to: { path: "^src/http/" },
    },
    {
      name: "no-orphans",
      severity: "error",
      comment: "A module nothing imports is dead code (the entry points and declaration files aside).",
      from: { orphan: true, path: "^src/", pathNot: ["^src/index\\.ts$", "\\.d\\.ts$"] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    includeOnly: ["^src/", "^node_modules/"],
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
