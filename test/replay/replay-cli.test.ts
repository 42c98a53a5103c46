import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLES_DIR, bundleText, edited } from "./recorded";

/** `npm run replay` as an engineer runs it: the script in Node, a bundle file, its exit status and output. */
function replayCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/replay.ts", ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "replay-cli-"));
let files = 0;
function file(text: string): string {
  const path = join(dir, `bundle-${files++}.json`);
  writeFileSync(path, text);
  return path;
}

describe("npm run replay", () => {
  it("replays a recorded bundle with this checkout: exit 0 and a summary line", async () => {
    const { code, stdout, stderr } = await replayCli([join(BUNDLES_DIR, "failures.json")]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Replaying town failures from \S+ to \S+ \(snapshot 1 of 2100-01-01T00:00:00\.000Z\) with this checkout\.\n/);
    expect(stdout.trimEnd().split("\n").at(-1)).toMatch(/^0 of \d+ ticks in the window diverge; replayed \d+ ticks and \d+ events in \d+\.\d\d s\.$/);
  });

  it("prints each diverging tick and exits 1 when this build decides differently from the recording", async () => {
    // A history this build disagrees with: the first dispatch tick recorded one action it did not take
    // and lacks one it did (as a bundle from a town running other rules would).
    const bundle = await edited("demo", (b) => {
      const tick = b.ticks.find((t: any) => t.actions.some((a: any) => a.rule === "beads.dispatch"));
      const dispatch = tick.actions.findIndex((a: any) => a.type === "dispatch_agent");
      tick.actions[dispatch] = { ...tick.actions[dispatch], beadId: "docs-site" };
    });
    const tick = JSON.parse(bundle).ticks.find((t: any) => t.actions.some((a: any) => a.beadId === "docs-site"));
    const { code, stdout } = await replayCli([file(bundle)]);
    expect(code).toBe(1);
    expect(stdout).toContain(
      [
        `tick ${tick.id} at ${new Date(tick.at).toISOString()}: 1 action only recorded, 1 only replayed`,
        "  - recorded  beads.dispatch             dispatch_agent agentId=api:polecat:1 beadId=docs-site generation=1",
        "  + replayed  beads.dispatch             dispatch_agent agentId=api:polecat:1 beadId=session-api generation=1",
        "              reason: open, unblocked, unheld; attempt 1 of 3",
      ].join("\n"),
    );
    expect(stdout.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^1 of \\d+ ticks in the window diverge \\(first: tick ${tick.id} at `));
  });

  it("answers in JSON for machines with --json", async () => {
    const { code, stdout } = await replayCli(["--json", join(BUNDLES_DIR, "archive.json")]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      townId: "archive",
      divergentTicks: 0,
      divergences: [],
      configDrift: [],
      ticksInWindow: expect.any(Number),
      seconds: expect.any(Number),
    });
  });

  describe("refuses a bundle it cannot trust, exit 2, naming what is wrong", () => {
    it.each([
      [
        "of another format version",
        () => edited("archive", (b) => (b.version = 2)),
        /refused: the bundle is format version 2; this build reads version 1 only/,
      ],
      ["truncated", async () => bundleText("archive").slice(0, 3_000), /refused: the bundle is truncated: its JSON stops after 3,000 bytes/],
      [
        "edited after export",
        () => edited("archive", (b) => (b.ticks[0].at += 1), { seal: false }),
        /refused: the bundle's checksum does not match its content: it was edited or damaged after export/,
      ],
      ["without a checksum", async () => JSON.stringify({ ...JSON.parse(bundleText("archive")), checksum: undefined }), /refused: the bundle has no checksum/],
      ["not a bundle at all", async () => JSON.stringify({ ticks: [] }), /refused: this is not a replay bundle: its format is null/],
      ["not JSON", async () => "<html>502 Bad Gateway</html>", /refused: the bundle is not valid JSON/],
      [
        "lacking a finished bead the replay looks up",
        () =>
          edited("archive", (b) => {
            b.archive.beads = b.archive.beads.filter((bead: any) => bead.id !== "old");
            b.counts.archivedBeads = b.archive.beads.length;
          }),
        /refused: the replay looked up bead old, which the bundle's archive does not cover: the bundle is incomplete/,
      ],
      [
        "lacking an event of its window",
        () =>
          edited("archive", (b) => {
            b.events = b.events.slice(1);
            b.counts.events -= 1;
          }),
        /refused: the bundle lacks event 9 of its window \(9 to 16\): it is incomplete/,
      ],
    ])("%s", async (_what, make, message) => {
      const { code, stdout, stderr } = await replayCli([file(await make())]);
      expect(stderr).toMatch(message);
      expect(code).toBe(2);
      expect(stdout).toBe("");
    });

    it("too large, before reading it", async () => {
      const { code, stderr } = await replayCli(["--max-bytes", "4096", join(BUNDLES_DIR, "archive.json")]);
      expect(code).toBe(2);
      expect(stderr).toMatch(/refused: the bundle is [\d,]+ bytes; at most 4,096 bytes is read \(--max-bytes raises it/);
    });

    it("a file that is not there, and arguments that make no sense", async () => {
      expect(await replayCli([join(dir, "nope.json")])).toMatchObject({ code: 2, stderr: expect.stringMatching(/refused: cannot read it: ENOENT/) });
      expect(await replayCli([])).toMatchObject({ code: 2, stderr: expect.stringContaining("usage: npm run replay") });
      expect(await replayCli(["--fast", "a.json"])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown option --fast") });
    });
  });
});
