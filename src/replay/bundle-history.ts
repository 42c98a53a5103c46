import { COMMAND_EVENT_TYPES, type LoggedEvent } from "../domain/events";
import type { BeadId } from "../domain/ids";
import type { Bead } from "../domain/model";
import type { BeadArchive } from "../domain/archive";
import { upgradedBead } from "../domain/model";
import type { Bundle } from "./bundle-format";
import { BundleRefused } from "./bundle-reader";
import type { HistoryTick } from "../db/tick-store";
import type { HistorySnapshot, ReplayHistory } from "./history";

const COMMANDS: ReadonlySet<string> = new Set(COMMAND_EVENT_TYPES);
const MERGE_REQUEST_ID = /^(.+):mr:\d+$/;

/**
 * The recorded history a bundle carries, read the way the town's storage is read — except that what
 * the bundle does not hold is an error, never a silent "not there": a replay over an incomplete bundle
 * would otherwise report divergences that are not there.
 */
export class BundleHistory implements ReplayHistory {
  readonly snapshot: HistorySnapshot;
  readonly to: number;
  readonly archive: BundledArchive;
  private readonly bySeq = new Map<number, LoggedEvent>();
  private readonly commandList: LoggedEvent[];
  private readonly callbacks: LoggedEvent[];

  constructor(private readonly bundle: Bundle) {
    this.snapshot = bundle.snapshot;
    this.to = bundle.window.to;
    this.archive = new BundledArchive(bundle);
    const inWindow = [...bundle.events].sort((a, b) => a.seq - b.seq);
    for (const event of inWindow) this.bySeq.set(event.seq, event);
    // The log has no gaps: every seq from the snapshot's to the window's last is there, or the bundle is not whole.
    for (let seq = bundle.snapshot.logSeq + 1; seq <= bundle.window.lastSeq; seq++) {
      if (!this.bySeq.has(seq))
        throw new BundleRefused(
          "incomplete",
          `the bundle lacks event ${seq} of its window (${bundle.snapshot.logSeq + 1} to ${bundle.window.lastSeq}): it is incomplete — export it again`,
        );
    }
    for (const [seq] of bundle.snapshot.pending) {
      if (!this.bySeq.has(seq))
        throw new BundleRefused("incomplete", `the bundle lacks event ${seq}, pending when its snapshot was taken: it is incomplete — export it again`);
    }
    const after = inWindow.filter((e) => e.seq > bundle.snapshot.logSeq && e.createdAt <= this.to);
    this.commandList = after.filter((e) => COMMANDS.has(e.type));
    this.callbacks = after.filter((e) => !COMMANDS.has(e.type));
  }

  ticks(): Iterable<HistoryTick> {
    return this.bundle.ticks;
  }

  commands(): Iterable<LoggedEvent> {
    return this.commandList;
  }

  events(seqs: readonly number[]): LoggedEvent[] {
    return [...new Set(seqs)]
      .sort((a, b) => a - b)
      .map((seq) => {
        const event = this.bySeq.get(seq);
        if (!event)
          throw new BundleRefused("incomplete", `the bundle lacks event ${seq}, which its history drains or retries: it is incomplete — export it again`);
        return event;
      });
  }

  callbacksAfter(afterSeq: number): LoggedEvent[] {
    return this.callbacks.filter((e) => e.seq > afterSeq);
  }

  assertComplete(): void {
    this.archive.assertComplete();
  }
}

/**
 * The archive as the bundle carries it: beads found, ids known to be absent, and issues whose
 * merge-request ids were all looked up. Any other id was not looked up at export, so the bundle cannot
 * say whether the archive held it: the replay stops, naming the bead.
 */
class BundledArchive implements BeadArchive {
  private readonly beads = new Map<string, Bead>();
  private readonly absent: ReadonlySet<string>;
  private readonly probed: ReadonlySet<string>;
  private missing: string | null = null;

  constructor(bundle: Bundle) {
    for (const bead of bundle.archive.beads) this.beads.set(bead.id, upgradedBead(bead));
    this.absent = new Set(bundle.archive.absent);
    this.probed = new Set(bundle.archive.mergeRequestPrefixes);
  }

  get(id: BeadId): Bead | undefined {
    const bead = this.beads.get(id);
    if (bead) return bead;
    if (this.absent.has(id)) return undefined;
    const issue = MERGE_REQUEST_ID.exec(id)?.[1];
    if (issue !== undefined && this.probed.has(issue)) return undefined;
    this.missing ??= id;
    throw this.refusal(id);
  }

  /** The replay keeps the beads it archives itself (ReplayArchive); this one is as the snapshot knew it. */
  add(_beads: readonly Bead[]): void {}

  assertComplete(): void {
    if (this.missing !== null) throw this.refusal(this.missing);
  }

  private refusal(id: string): BundleRefused {
    return new BundleRefused(
      "incomplete",
      `the replay looked up bead ${id}, which the bundle's archive does not cover: the bundle is incomplete for this build (it carries what the exporting build knew replay looks up; a rule that reads other finished beads needs them exported too)`,
    );
  }
}
