import { describe, expect, it } from "vitest";
import { INVARIANTS, type Invariant } from "../../src/domain/invariants";
import * as convoys from "../../src/domain/invariants/convoys";
import * as hooks from "../../src/domain/invariants/hooks";
import * as progress from "../../src/domain/invariants/progress";
import * as queue from "../../src/domain/invariants/queue";
import * as review from "../../src/domain/invariants/review";
import * as work from "../../src/domain/invariants/work";
import { FLEET_ALERTS } from "../../src/fleet/fleet-alerts";
import { METRICS, selector } from "../../src/observability/metrics";

/** The group files of src/domain/invariants/, each a module of records and their checks. */
const GROUPS: Record<string, Record<string, unknown>> = { convoys, hooks, progress, queue, review, work };

/** Every page of docs/runbooks/, by file name. */
const RUNBOOKS: Record<string, string> = Object.fromEntries(
  Object.entries(import.meta.glob<string>("../../docs/runbooks/*.md", { query: "?raw", import: "default", eager: true })).map(([path, text]) => [
    path.split("/").at(-1)!,
    text,
  ]),
);

const isRecord = (value: unknown): value is Invariant => typeof value === "object" && value !== null && "id" in value && "check" in value;

/** The invariants a page's title speaks of: "Invariants 3 and 4 — …", "… (also invariant 8)". */
const titledInvariants = (page: string): number[] =>
  [...(page.split("\n")[0] ?? "").matchAll(/\binvariants?\s+(\d+(?:(?:,\s*|\s+and\s+)\d+)*)/gi)].flatMap((m) => m[1]!.match(/\d+/g)!.map(Number));

describe("invariant records", () => {
  it("are DESIGN §4.5's invariants 1 to 12, each once, in order (the order of the metric's series)", () => {
    expect(INVARIANTS.map((invariant) => invariant.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("check with the function they name, exported by one group file", () => {
    for (const invariant of INVARIANTS) {
      expect(invariant.check.name, `invariant ${invariant.id}`).toBe(invariant.name);
      const homes = Object.keys(GROUPS).filter((group) => GROUPS[group]![invariant.name] === invariant.check);
      expect(homes, `invariant ${invariant.id}: src/domain/invariants/<group>.ts exports ${invariant.name}`).toHaveLength(1);
    }
  });

  it("leave no record or check out: every record a group file exports is listed, and every function it exports is a check", () => {
    const checks = new Set(INVARIANTS.map((invariant) => invariant.check));
    for (const [group, module] of Object.entries(GROUPS)) {
      for (const [name, value] of Object.entries(module)) {
        if (isRecord(value)) expect(INVARIANTS, `${group}.${name} is in INVARIANTS`).toContain(value);
        else if (typeof value === "function") expect(checks.has(value as Invariant["check"]), `${group}.${name} is some invariant's check`).toBe(true);
      }
    }
  });

  it("repair where DESIGN says a repair is safe: invariants 1, 4, 6 and 7", () => {
    expect(INVARIANTS.filter((invariant) => invariant.repair).map((invariant) => invariant.id)).toEqual([1, 4, 6, 7]);
  });
});

describe("runbooks", () => {
  it("exist for every invariant, and their title speaks of it", () => {
    for (const invariant of INVARIANTS) {
      const page = RUNBOOKS[invariant.runbook];
      expect(page, `invariant ${invariant.id} → docs/runbooks/${invariant.runbook}`).toBeDefined();
      expect(titledInvariants(page!), `the title of ${invariant.runbook}`).toContain(invariant.id);
    }
  });

  it("are where the page on all violations sends each invariant (its table, a row per group)", () => {
    const rows = RUNBOOKS["invariant-violations.md"]!.split("\n")
      .filter((line) => /^\|\s*\d/.test(line))
      .map((line) => ({ ids: line.split("|")[1]!.match(/\d+/g)!.map(Number), links: line.split("|").at(-2)! }));
    for (const invariant of INVARIANTS) {
      const row = rows.find((candidate) => candidate.ids.includes(invariant.id));
      expect(row, `invariant-violations.md has a row for invariant ${invariant.id}`).toBeDefined();
      expect(row!.links, `its row links ${invariant.runbook}`).toContain(`](${invariant.runbook})`);
    }
  });

  it("are no invariant's page unless its record says so: invariants-*.md, and any page titled with an invariant", () => {
    const runbooks = INVARIANTS.map((invariant) => invariant.runbook);
    for (const [file, page] of Object.entries(RUNBOOKS)) {
      if (file.startsWith("invariants-")) expect(runbooks, `${file} is some invariant's runbook`).toContain(file);
      for (const id of titledInvariants(page)) {
        expect(
          INVARIANTS.find((invariant) => invariant.id === id),
          `${file} is titled with invariant ${id}, whose runbook it is`,
        ).toMatchObject({ runbook: file });
      }
    }
  });
});

describe("fleet alerts an invariant names", () => {
  it("exist, watch the summary field the record says, and select that invariant's series for Prometheus", () => {
    const named = INVARIANTS.filter((invariant) => invariant.fleetAlert);
    expect(named.map((invariant) => invariant.id)).toEqual([11]);
    for (const invariant of named) {
      const alert = FLEET_ALERTS.find((candidate) => candidate.id === invariant.fleetAlert!.id);
      expect(alert, `invariant ${invariant.id} → the fleet alert ${invariant.fleetAlert!.id}`).toBeDefined();
      expect(alert!.field, `${alert!.id}'s field`).toBe(invariant.fleetAlert!.field);
      expect(alert!.runbook, `${alert!.id}'s runbook`).toBe(invariant.runbook);
      expect(alert!.metric, `${alert!.id}'s Prometheus series`).toBe(selector(METRICS.invariantViolationsOpen, { invariant: String(invariant.id) }));
    }
  });
});
