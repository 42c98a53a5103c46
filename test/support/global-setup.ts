import type { TestProject } from "vitest/node";
import { startFakeAgentService } from "./fake-agent-service";
import { startFakeSentry } from "./fake-sentry";

/** Real loopback servers the Worker under test talks to: an agent container service and a Sentry ingest. */
export default async function setup(project: TestProject) {
  const agentService = await startFakeAgentService();
  const sentry = await startFakeSentry();
  project.provide("agentServiceUrl", agentService.url);
  project.provide("sentryDsn", sentry.dsn);
  project.provide("sentryUrl", sentry.url);
  return async () => {
    for (const server of [agentService.server, sentry.server]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  };
}
