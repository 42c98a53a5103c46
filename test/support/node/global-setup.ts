import type { TestProject } from "vitest/node";
import { startFakeAgentService } from "./fake-agent-service";
import { startFakeSentry } from "./fake-sentry";
import { ensurePromtool, startHostTools } from "./host-tools";

/**
 * Real loopback servers the Worker under test talks to (an agent container service, a Sentry ingest),
 * and host tools (promtool, installed first if it is missing and can be).
 */
export default async function setup(project: TestProject) {
  const promtool = ensurePromtool();
  const agentService = await startFakeAgentService();
  const sentry = await startFakeSentry();
  const tools = await startHostTools(promtool);
  project.provide("agentServiceUrl", agentService.url);
  project.provide("agentServiceTlsHost", agentService.tlsHost);
  project.provide("sentryDsn", sentry.dsn);
  project.provide("sentryUrl", sentry.url);
  project.provide("hostToolsUrl", tools.url);
  // Set only by `npm run record-bundles`: which bundles to record.
  project.provide("recordBundles", process.env.RECORD_BUNDLES ?? "");
  return async () => {
    for (const server of [...agentService.servers, sentry.server, tools.server]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  };
}
