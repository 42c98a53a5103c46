// Types for `exports` from "cloudflare:workers" inside the tests, and for values globalSetup provides.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./test-worker");
    durableNamespaces: "TownDO" | "TownRegistry";
  }
}
