import type { TestProject } from "vitest/node";
import { startFakeAgentService } from "./fake-agent-service";

/** Real loopback servers the Worker under test talks to. */
export default async function setup(project: TestProject) {
  const agentService = await startFakeAgentService();
  project.provide("agentServiceUrl", agentService.url);
  return async () => {
    agentService.server.closeAllConnections();
    await new Promise<void>((resolve) => agentService.server.close(() => resolve()));
  };
}
