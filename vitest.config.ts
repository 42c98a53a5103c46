import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import { unstable_getMiniflareWorkerOptions, type Unstable_MiniflareWorkerOptions } from "wrangler";

/** Tokens the tests use; the Worker reads them as its secrets (the admin and read tokens mid-rotation). */
const TEST_BINDINGS = {
  ADMIN_TOKEN: "test-admin",
  READ_TOKEN: "test-read",
  DEBUG_TOKEN: "test-debug",
  ADMIN_TOKEN_PREVIOUS: "test-admin-previous",
  READ_TOKEN_PREVIOUS: "test-read-previous",
  SIGNING_KEY: "test-signing-key",
  LOG_LEVEL: "error",
};

/**
 * The Worker as wrangler.toml declares it (compatibility date, Durable Objects on SQLite, module rules,
 * [vars]), read once, here. Handed to the pool as `wrangler.configPath` instead, it is read again for
 * every test file, and each time wrangler loads .dev.vars — the development tokens of `npm start` —
 * and prints "Using secrets defined in .dev.vars", 28 times, for tokens the tests replace with their
 * own. Naming a secrets file (what `wrangler dev --env-file` does) is how wrangler is told to leave
 * .dev.vars alone; this one does not exist, so the tests' only secrets are TEST_BINDINGS.
 */
const NO_SECRETS_FILE = "test/support/no-secrets.env";
// `envFiles` is wrangler's own option (its getPlatformProxy documents it); this function's types omit it.
const readWorkerConfig = unstable_getMiniflareWorkerOptions as (
  configPath: string,
  env: undefined,
  options: { envFiles: string[] },
) => Unstable_MiniflareWorkerOptions;
const { modulesRules, ...fromWrangler } = readWorkerConfig("./wrangler.toml", undefined, { envFiles: [NO_SECRETS_FILE] }).workerOptions;

/** The fake agent service's certificate (test/support/node/fake-agent-service.ts), trusted by the binding to it. */
const LOOPBACK_CERTIFICATE = readFileSync("test/support/node/tls/loopback.crt", "utf8");

type Inject = (key: "agentServiceUrl" | "agentServiceTlsHost") => string;
/** A service binding to an HTTPS server on this machine (miniflare's `external` service), trusting its certificate. */
type HostService = {
  external: { address: string; https: { tlsOptions: { trustedCertificates: string[] }; certificateHost: string } };
};

/**
 * The Worker under test: production code with a test town object whose clock the tests move, talking
 * to the fake Sentry (and, in the http-adapter project, the fake agent service) from globalSetup.
 */
const worker = (settings: (inject: Inject) => Record<string, string>, services: (inject: Inject) => Record<string, HostService> = () => ({})) =>
  cloudflareTest(({ inject }) => ({
    main: "./test/support/test-worker.ts",
    miniflare: {
      ...fromWrangler,
      modulesRules,
      bindings: { ...(fromWrangler.bindings ?? {}), ...TEST_BINDINGS, SENTRY_DSN: inject("sentryDsn"), ...settings((key) => inject(key)) },
      serviceBindings: { ...(fromWrangler.serviceBindings ?? {}), ...services((key) => inject(key)) },
    },
  }));

const globalSetup = ["./test/support/node/global-setup.ts"];

/**
 * `npm run record-bundles` (RECORD_BUNDLES set): the scenarios of test/record run in the Worker and
 * their exported bundles are written to test/replay/bundles. Not part of `npm test`.
 */
const recording = process.env.RECORD_BUNDLES
  ? [
      {
        plugins: [worker(() => ({ CONTAINER_ADAPTER: "simulated" }))],
        test: { name: "record-bundles", testTimeout: 3_600_000, globalSetup, include: ["test/record/**/*.record.ts"] },
      },
    ]
  : [];

export default defineConfig({
  test: {
    // Generous: the machines are shared and some tests walk through an hour of simulated time.
    testTimeout: 60_000,
    projects: [
      {
        // Domain, town, HTTP, observability: against the simulated container adapter (the default).
        plugins: [worker(() => ({ CONTAINER_ADAPTER: "simulated" }))],
        test: {
          name: "workers",
          testTimeout: 60_000,
          globalSetup,
          include: ["test/**/*.test.ts"],
          exclude: ["test/effects/**", "test/logs/**", "test/browser/**", "test/replay/**", "test/prometheus/**"],
        },
      },
      {
        // Recorded bundles replayed in Node with this checkout's code, the way `npm run replay` does.
        test: { name: "replay", environment: "node", testTimeout: 120_000, include: ["test/replay/**/*.test.ts"] },
      },
      {
        // What the logs say, with every line on (LOG_LEVEL=debug).
        plugins: [worker(() => ({ CONTAINER_ADAPTER: "simulated", LOG_LEVEL: "debug" }))],
        test: { name: "logs", testTimeout: 60_000, globalSetup, include: ["test/logs/**/*.test.ts"] },
      },
      {
        // Prometheus's own tools, in Node: the alert rules under promtool, and a real Prometheus
        // discovering and scraping every town of the Worker under `wrangler dev`.
        test: { name: "prometheus", environment: "node", testTimeout: 120_000, hookTimeout: 120_000, include: ["test/prometheus/**/*.test.ts"] },
      },
      {
        // The status page in Debian's Chromium, against the Worker under `wrangler dev` (runs in Node).
        test: { name: "browser", environment: "node", testTimeout: 120_000, hookTimeout: 120_000, include: ["test/browser/**/*.test.ts"] },
      },
      {
        // The http adapter against the fake agent service on loopback, bound as the CONTAINER_SERVICE
        // service binding. Not through CONTAINER_URL and the global fetch: locally, every global fetch
        // passes through miniflare's outbound proxy (a Worker of its own, `return fetch(request)`), and
        // when the fake drops a connection that proxy's rejected promise is logged by workerd as
        // "uncaught exception … Network connection lost" — though our code catches the failure. A
        // binding calls the service directly, over HTTPS as in production (and so a dropped connection
        // is not printed as a stack trace: test/support/node/fake-agent-service.ts). CONTAINER_URL names
        // a host that does not resolve, so a call that bypassed the binding would fail the tests.
        plugins: [
          worker(
            () => ({ CONTAINER_ADAPTER: "http", CONTAINER_URL: "http://agent-service.invalid" }),
            (inject) => ({
              CONTAINER_SERVICE: {
                external: {
                  address: inject("agentServiceTlsHost"),
                  https: { tlsOptions: { trustedCertificates: [LOOPBACK_CERTIFICATE] }, certificateHost: "localhost" },
                },
              },
            }),
          ),
        ],
        test: { name: "http-adapter", testTimeout: 60_000, globalSetup, include: ["test/effects/**/*.test.ts"] },
      },
      ...recording,
    ],
  },
});
