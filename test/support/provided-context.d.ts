// Values test/support/global-setup.ts provides to the tests (vitest `inject`).
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    agentServiceUrl: string;
    agentServiceTlsHost: string;
    sentryDsn: string;
    sentryUrl: string;
    hostToolsUrl: string;
    recordBundles: string;
  }
}
