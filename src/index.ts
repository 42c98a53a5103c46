import type { Env } from "./env";
import { sweepFleet } from "./fleet/watchdog";
import { createRouter } from "./http/router";
import { createLogger, parseLogLevel } from "./observability/log";
import { createCronMonitor } from "./observability/sentry";

export { TownDO } from "./town/town.do";
export { TownRegistry } from "./fleet/registry.do";

const router = createRouter();

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
  /** The Cron Trigger (wrangler.toml): the watchdog's sweep, reported to a Sentry Crons monitor. */
  scheduled: async (controller, env) => {
    const log = createLogger(parseLogLevel(env.LOG_LEVEL), { component: "watchdog", cron: controller.cron });
    await createCronMonitor(env.SENTRY_DSN, controller.cron, log).run(() => sweepFleet(env, log));
  },
} satisfies ExportedHandler<Env>;
