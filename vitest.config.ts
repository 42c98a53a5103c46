import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** Tokens the tests use; the Worker reads them as its secrets. */
const TEST_BINDINGS = { ADMIN_TOKEN: "test-admin", READ_TOKEN: "test-read", DEBUG_TOKEN: "test-debug", LOG_LEVEL: "error" };

/** The Worker under test: production code with a test town object whose clock the tests move. */
const worker = { main: "./test/support/test-worker.ts", wrangler: { configPath: "./wrangler.toml" } };

export default defineConfig({
  test: {
    // Generous: the machines are shared and some tests walk through an hour of simulated time.
    testTimeout: 60_000,
    projects: [
      {
        // Domain, town, HTTP: against the simulated container adapter (the default).
        plugins: [cloudflareTest({ ...worker, miniflare: { bindings: { ...TEST_BINDINGS, CONTAINER_ADAPTER: "simulated" } } })],
        test: { name: "workers", testTimeout: 60_000, include: ["test/**/*.test.ts"], exclude: ["test/effects/**"] },
      },
      {
        // The http adapter against a fake agent service on loopback, started by globalSetup.
        plugins: [
          cloudflareTest(({ inject }) => ({
            ...worker,
            miniflare: { bindings: { ...TEST_BINDINGS, CONTAINER_ADAPTER: "http", CONTAINER_URL: inject("agentServiceUrl") } },
          })),
        ],
        test: { name: "http-adapter", testTimeout: 60_000, include: ["test/effects/**/*.test.ts"], globalSetup: ["./test/support/global-setup.ts"] },
      },
    ],
  },
});
