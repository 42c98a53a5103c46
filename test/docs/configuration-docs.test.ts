import { describe, expect, it } from "vitest";
import configurationDocs from "../../docs/configuration.md?raw";
import httpContainer from "../../src/effects/http-container.ts?raw";
import platform from "../../src/effects/platform.ts?raw";
import env from "../../src/env.ts?raw";
import shards from "../../src/fleet/shards.ts?raw";
import townEnv from "../../src/town/town-env.ts?raw";
import { DEFAULT_TOWN_CONFIG, TownConfigOverridesSchema } from "../../src/domain/config";

/**
 * docs/configuration.md lists every environment variable and binding the Worker reads, and every town
 * setting with the default and the bounds the code has: change one in src/domain/config.ts and this
 * page must change with it.
 */

const section = (heading: string) => {
  const start = configurationDocs.indexOf(`\n## ${heading}\n`);
  const end = configurationDocs.indexOf("\n## ", start + 1);
  return configurationDocs.slice(start, end === -1 ? undefined : end);
};

/** The rows of the section's tables, keyed by each `name` their first cell holds. */
function rows(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const cells = line.split(" | ").map((cell) => cell.replace(/^\| |\s*\|$/g, ""));
    for (const [, name] of cells[0]!.matchAll(/`([^`]+)`/g)) found.set(name!, cells);
  }
  return found;
}

/** The numbers a cell shows, in order (`60,000 (1 min)` → [60000, 1]). */
const numbers = (cell: string) => [...cell.replace(/(\d),(?=\d{3})/g, "$1").matchAll(/\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));

type Bounded = { minValue: number | null; maxValue: number | null; unwrap?: () => unknown; def: { type: string }; shape?: Record<string, unknown> };
const inner = (schema: unknown): Bounded => {
  let s = schema as Bounded;
  while (s.def.type === "optional" || s.def.type === "nullable") s = s.unwrap!() as Bounded;
  return s;
};

/** Every setting as `key` or `group.key`, with its default and its schema. */
function settings(): Array<{ key: string; value: unknown; schema: Bounded }> {
  const shape = TownConfigOverridesSchema.shape as Record<string, unknown>;
  return Object.entries(DEFAULT_TOWN_CONFIG).flatMap(([key, value]): Array<{ key: string; value: unknown; schema: Bounded }> => {
    const schema = inner(shape[key]);
    // The budget is one value, null by default: its fields have their own table (checked below).
    if (key === "budget") return [];
    if (value === null || typeof value !== "object") return [{ key, value, schema }];
    return Object.entries(value).map(([sub, subValue]) => ({ key: `${key}.${sub}`, value: subValue, schema: inner(schema.shape![sub]) }));
  });
}

/** The budget's fields, as the schema takes them. */
const BUDGET_FIELDS = (inner(TownConfigOverridesSchema.shape.budget) as unknown as { shape: Record<string, unknown> }).shape;

describe("docs/configuration.md", () => {
  it("gives the budget's fields with their defaults", () => {
    const documented = rows(section("Town settings"));
    expect(documented.get("budget")?.[1]).toMatch(/^null\b/);
    for (const field of Object.keys(BUDGET_FIELDS)) expect(documented.get(`budget.${field}`), `budget.${field}`).toBeDefined();
    const parsed = TownConfigOverridesSchema.parse({ budget: { containerHoursPerDay: 1 } }).budget!;
    expect(numbers(documented.get("budget.warnAt")![1]!)[0]).toBe(parsed.warnAt);
    expect(documented.get("budget.onExceeded")![1]).toBe(`\`"${parsed.onExceeded}"\``);
  });

  it("gives every town setting with its default and bounds", () => {
    const documented = rows(section("Town settings"));
    const all = settings();
    expect(all.length).toBeGreaterThan(40);
    for (const { key, value, schema } of all) {
      const row = documented.get(key);
      expect(row, `${key} is not in the table`).toBeDefined();
      const [, defaultCell, boundsCell] = row!;
      if (value === null) expect(defaultCell, key).toMatch(/^null\b/);
      else expect(numbers(defaultCell!)[0], `${key}: default`).toBe(value);
      expect(numbers(boundsCell!).slice(0, 2), `${key}: bounds`).toEqual([schema.minValue, schema.maxValue]);
    }
    // And nothing the town does not take.
    const keys = new Set([...all.map((s) => s.key), "budget", ...Object.keys(BUDGET_FIELDS).map((field) => `budget.${field}`)]);
    expect([...documented.keys()].filter((key) => !keys.has(key))).toEqual([]);
  });

  it("names every variable and binding the Worker reads", () => {
    const documented = rows(section("Environment"));
    const read = [env, townEnv, platform, httpContainer, shards].flatMap((text) => [...text.matchAll(/readonly ([A-Z][A-Z0-9_]+)\??:/g)].map((m) => m[1]!));
    expect(read.length).toBeGreaterThan(10);
    expect(read.filter((name) => !documented.has(name))).toEqual([]);
  });
});
