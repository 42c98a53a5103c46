import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG, mergeOverrides, resolveConfig, TownConfigOverridesSchema } from "../../src/domain/config";

describe("town config", () => {
  it("lays overrides over the defaults, merging each group rather than replacing it", () => {
    const config = resolveConfig({ maxPolecatsPerRig: 2, breaker: { cooldownMs: 1_000 }, alertRetry: { maxAttempts: 3 }, finishedBeadRetentionMs: 86_400_000 });
    expect(config.maxPolecatsPerRig).toBe(2);
    expect(config.breaker).toEqual({ ...DEFAULT_TOWN_CONFIG.breaker, cooldownMs: 1_000 });
    expect(config.alertRetry).toEqual({ ...DEFAULT_TOWN_CONFIG.alertRetry, maxAttempts: 3 });
    expect(config.finishedBeadRetentionMs).toBe(86_400_000);
    expect(config.simulation).toEqual(DEFAULT_TOWN_CONFIG.simulation);
  });

  it("keeps what a town overrode before when it is reconfigured, group by group", () => {
    const merged = mergeOverrides(
      { soonMs: 10, simulation: { workMs: 1 }, finishedBeadRetentionMs: 86_400_000 },
      { simulation: { failureRate: 0.5 }, finishedBeadRetentionMs: null },
    );
    expect(merged).toEqual({ soonMs: 10, simulation: { workMs: 1, failureRate: 0.5 }, finishedBeadRetentionMs: null });
  });

  it("lets every default be overridden: each setting and group has a bound in the overrides schema", () => {
    const keys = (o: object, prefix = ""): string[] =>
      Object.entries(o).flatMap(([k, v]) => (typeof v === "object" && v !== null ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    const parsed = TownConfigOverridesSchema.safeParse(DEFAULT_TOWN_CONFIG);
    expect(parsed.success, parsed.success ? "" : parsed.error.message).toBe(true);
    expect(keys(parsed.data!).sort()).toEqual(keys(DEFAULT_TOWN_CONFIG).sort());
  });
});
