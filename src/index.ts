import type { Env } from "./env";
import { createRouter } from "./http/router";

export { TownDO } from "./town/town.do";
export { TownRegistry } from "./town/registry.do";

const router = createRouter();

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
