import { iso } from "../domain/format";
import { resolveConfig } from "../domain/config";
import type { Bundle } from "./bundle-format";
import type { Divergence } from "./divergence";
import type { ReplayReport } from "./replay";

/**
 * What `npm run replay` prints for a replayed bundle: where it starts, notes on config this build
 * resolves differently, each diverging tick, and a summary line with the time it took
 * (docs/replay.md shows one, and a test holds that sample to this).
 */
export function replayReportText(bundle: Bundle, report: ReplayReport, seconds: number): string {
  const lines = [
    `Replaying town ${bundle.townId} from ${iso(bundle.window.from)} to ${iso(bundle.window.to)} (snapshot ${report.snapshot.id} of ${iso(report.snapshot.takenAt)}) with this checkout.`,
  ];
  for (const line of configDrift(bundle)) lines.push(`note: this build resolves the town's config differently — ${line}`);
  for (const divergence of report.divergence.shown) lines.push(`\n${divergenceText(divergence)}`);
  const divergent = report.divergence.ticks;
  const first = report.divergence.shown[0];
  lines.push(
    `${divergent === 0 ? "" : "\n"}${divergent} of ${report.ticksInWindow.toLocaleString("en-US")} ticks in the window diverge${first ? ` (first: tick ${first.tickId} at ${iso(first.at)})` : ""}; ` +
      `replayed ${report.ticksReplayed.toLocaleString("en-US")} ticks and ${report.eventsReplayed.toLocaleString("en-US")} events in ${seconds.toFixed(2)} s.`,
  );
  return lines.join("\n");
}

/**
 * What `npm run replay` prints, and what the replay tests show when a recorded bundle diverges: per
 * diverging tick, its id and time, the actions only recorded and the actions only replayed, each with
 * its rule (and, for a replayed one, the reason that decided it: ticks do not store reasons).
 */
export function divergenceText(divergence: Divergence): string {
  const { onlyRecorded, onlyReplayed } = divergence;
  const lines = [
    `tick ${divergence.tickId} at ${iso(divergence.at)}: ${count(onlyRecorded.length, "action")} only recorded, ${onlyReplayed.length} only replayed`,
  ];
  if (onlyRecorded.length === 0 && onlyReplayed.length === 0) {
    // The same actions, decided in another order: show both orders.
    lines[0] = `tick ${divergence.tickId} at ${iso(divergence.at)}: the same actions in another order`;
    for (const action of divergence.recorded) lines.push(`  recorded  ${actionText(action)}`);
    for (const action of divergence.replayed) lines.push(`  replayed  ${actionText(action)}`);
    return lines.join("\n");
  }
  for (const action of onlyRecorded) lines.push(`  - recorded  ${actionText(action)}`);
  for (const action of onlyReplayed) lines.push(`  + replayed  ${actionText(action)}`, `              reason: ${action.reason}`);
  return lines.join("\n");
}

/** `rule  type key=value …`: an action on one line, whatever its type. */
export function actionText(action: unknown): string {
  const { rule, type, reason: _reason, ...fields } = action as Record<string, unknown>;
  const rest = Object.entries(fields).map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return `${String(rule).padEnd(26)} ${[type, ...rest].join(" ")}`;
}

/** The settings this build resolves differently from the build that exported the bundle (its defaults changed). */
export function configDrift(bundle: Bundle): string[] {
  const drift: string[] = [];
  const points = [{ label: "at the snapshot", ...bundle.config.atSnapshot }, ...bundle.config.changes.map((c) => ({ label: `after event ${c.seq}`, ...c }))];
  for (const { label, overrides, resolved } of points) {
    const here = resolveConfig(overrides) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(resolved)) {
      if (JSON.stringify(here[key]) !== JSON.stringify(value))
        drift.push(`${key} ${label}: recorded ${JSON.stringify(value)}, this build ${JSON.stringify(here[key])}`);
    }
  }
  return drift;
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
