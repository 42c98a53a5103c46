import { describe, expect, it } from "vitest";
import observabilityDocs from "../../docs/observability.md?raw";
import { METRICS } from "../../src/observability/metrics";

/** docs/observability.md names every metric family a town exposes (in full, or as `…_<rest>`). */
describe("docs/observability.md", () => {
  it("names every metric family of src/observability/metrics.ts", () => {
    const names = Object.values(METRICS).map((family) => family.name);
    expect(names.length).toBeGreaterThan(20);
    const missing = names.filter((name) => !observabilityDocs.includes(name) && !observabilityDocs.includes(`…${name.slice("town_reconciler".length)}`));
    expect(missing).toEqual([]);
  });
});
