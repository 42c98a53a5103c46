import { iso, mib, MiB } from "../domain/format";
import type { TownStore } from "../db/town-store";
import { resolveConfig, type TownConfigOverrides } from "../domain/config";
import { parseLoggedEvent, type LoggedEvent } from "../domain/events";
import type { Bead } from "../domain/model";
import { archivedUpToOf } from "../domain/snapshot";
import { ArchiveLookups } from "./archive-lookups";
import { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleArchive, type ConfigChange } from "./bundle-format";
import { BundleStream } from "./bundle-stream";
import { REPLAY_LIMITS } from "./replay-window";
import { fail, ok, type Result } from "../domain/result";
import { findHistory, readSnapshot } from "./stored-history";

/** Tick records per chunk of the stream. */
const PAGE = 1_000;
/** Events per read: a bead_created payload may carry a 100 KB body, so a page stays a few MB at worst. */
const EVENT_PAGE = 200;
/** Bodies per chunk (each up to 100 KB). */
const BODY_PAGE = 50;

export const HISTORY_LIMITS = {
  /** Longest window, as for replay. */
  maxWindowMs: REPLAY_LIMITS.maxWindowMs,
  /**
   * Bytes of a bundle. The export streams a page at a time, so its memory does not grow with the
   * bundle; the bound keeps one request's reading and sending — and the offline replay that loads it
   * whole — in proportion. A busy day of the demo workload is a few MiB (docs/benchmarks.md, Replay).
   */
  maxBytes: 64 * MiB,
} as const;

/** JSON a bundle adds around what storage holds: keys and quotes per record, escapes in payload text. */
const EVENT_JSON_BYTES = 100;
const TICK_JSON_BYTES = 140;
const ESCAPED_PAYLOAD = 1.25;

export interface HistoryExport {
  readonly filename: string;
  /** The size the limit was checked against (an upper estimate: the stream is what it is). */
  readonly estimatedBytes: number;
  readonly body: ReadableStream<Uint8Array>;
}

/**
 * A replay bundle of a window (format: `src/replay/bundle-format.ts`): checked and bounded before the
 * first byte is sent (400, 413), then streamed a page at a time from storage — events and ticks are
 * never held whole. What replay starts from (the snapshot, and the finished beads it may look up) is
 * read before, since the archive's part depends on the whole window.
 */
export async function exportHistory(store: TownStore, townId: string, from: number, to: number, now: number, bodies: boolean): Promise<Result<HistoryExport>> {
  const found = findHistory(store, from, to, now, HISTORY_LIMITS.maxWindowMs, "history_too_large");
  if (!found.ok) return found;
  const ref = found.value;
  const lastTickId = store.ticks.nextId() - 1;

  // The cost of what storage holds, before reading any of it, and at a bounded cost: reading its sizes
  // stops once they are past what any bundle may hold (each event and tick adds at least its JSON).
  const ticks = store.ticks.sizeAfter(ref.tickId, to, Math.ceil(HISTORY_LIMITS.maxBytes / TICK_JSON_BYTES));
  const cap = {
    events: Math.ceil(HISTORY_LIMITS.maxBytes / EVENT_JSON_BYTES),
    bytes: Math.ceil(HISTORY_LIMITS.maxBytes / ESCAPED_PAYLOAD),
    countBodies: bodies,
  };
  const events = store.events.sizeAfter(ref.logSeq, to, cap);
  if (!events.complete) return fail("history_unavailable", `events after the snapshot of ${iso(ref.takenAt)} were pruned; pick a more recent window`);
  // Pinned now: what is logged while the bundle streams is not part of it. The log is read by seq, up
  // to the last event logged by `to` (the log has no gaps, so a reader can tell a bundle that lacks one).
  const lastSeq = events.lastSeq;
  const storedEventBytes = events.bytes - (bodies ? 0 : events.bodyBytes);
  const rough = ref.bytes + storedEventBytes * ESCAPED_PAYLOAD + events.events * EVENT_JSON_BYTES + ticks.bytes + ticks.ticks * TICK_JSON_BYTES;
  const tooLarge = (bytes: number) =>
    fail(
      "history_too_large",
      `the bundle of ${iso(from)} to ${iso(to)} would be ${events.capped ? "more than" : "about"} ${mib(bytes)} MiB; the limit is ${mib(HISTORY_LIMITS.maxBytes)} MiB: choose a shorter or later window${bodies ? ", or leave out bodies=1" : ""}`,
    );
  if (rough > HISTORY_LIMITS.maxBytes) return tooLarge(rough);

  const snapshot = await readSnapshot(store, ref);
  const state = snapshot.state;
  const lookups = new ArchiveLookups(state);
  const { revived, changes } = readCommands(store, lookups, ref.logSeq, lastSeq, to);
  // Events before the snapshot's log position that replay still reads: those pending at the snapshot,
  // and dead letters an operator retried within the window.
  const earlier = store.events.bySeqs([...new Set([...snapshot.pending.map(([seq]) => seq), ...revived])].filter((seq) => seq <= ref.logSeq));
  for (const event of earlier) lookups.addEvent(event);
  for (const id of store.events.beadIdsAfter(ref.logSeq, lastSeq)) lookups.name(id);
  const archive = lookUpArchive(store, lookups, archivedUpToOf(state));
  const bodyIds = bodies ? [...state.beads.map((b) => b.id), ...archive.beads.map((b) => b.id)] : [];

  const atSnapshot = { overrides: state.town.overrides, resolved: resolveConfig(state.town.overrides) };

  const head = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    townId,
    window: { from, to, lastSeq },
    exportedAt: now,
    bodies: bodies ? "included" : "omitted",
  };
  const snapshotJson = JSON.stringify({
    id: snapshot.id,
    takenAt: snapshot.takenAt,
    tickId: snapshot.tickId,
    logSeq: snapshot.logSeq,
    pending: snapshot.pending,
    state,
  });
  const estimate =
    rough - ref.bytes + snapshotJson.length + JSON.stringify(archive).length + (bodies ? store.state.bodyBytes(bodyIds) * ESCAPED_PAYLOAD : 0) + 1_000;
  if (estimate > HISTORY_LIMITS.maxBytes) return tooLarge(estimate);

  const strip = bodies ? (event: LoggedEvent) => event : withoutBody;
  const expected = { events: earlier.length + lastSeq - ref.logSeq, ticks: ticks.ticks };
  const stream = new BundleStream(function* (out) {
    out.head(head);
    out.member("config", JSON.stringify({ atSnapshot, changes }));
    out.member("snapshot", snapshotJson);
    out.list(
      "archive",
      `{"upToSeq":${archive.upToSeq},"mergeRequestPrefixes":${JSON.stringify(archive.mergeRequestPrefixes)},"absent":${JSON.stringify(archive.absent)},"beads":[`,
    );
    for (const bead of archive.beads) out.item(bead);
    out.endList("]}");
    yield;

    // The log, a page at a time: the events pending at the snapshot first, then the window's.
    let carried = earlier.length;
    out.list("events");
    for (const event of earlier) out.item(eventRecord(strip(event)));
    for (let after = ref.logSeq; ; ) {
      const page = store.events.page(after, lastSeq, EVENT_PAGE);
      for (const event of page) out.item(eventRecord(strip(event)));
      carried += page.length;
      yield;
      if (page.length < EVENT_PAGE) break;
      after = page.at(-1)!.seq;
    }
    out.endList();
    // Retention may prune while a bundle streams; a bundle that misses rows must not pass for whole.
    if (carried !== expected.events) throw new Error(`the log changed while it was exported (${carried} events read, ${expected.events} expected)`);

    let tickCount = 0;
    out.list("ticks");
    for (let after = ref.tickId; ; ) {
      const page = store.ticks.replayRecords(after, to, PAGE);
      const pinned = page.filter((tick) => tick.id <= lastTickId);
      for (const tick of pinned) out.item(tick);
      tickCount += pinned.length;
      yield;
      if (page.length < PAGE || pinned.length < page.length) break;
      after = page.at(-1)!.id;
    }
    out.endList();
    if (tickCount !== expected.ticks) throw new Error(`the tick history changed while it was exported (${tickCount} ticks read, ${expected.ticks} expected)`);

    if (bodies) {
      out.list("beadBodies");
      for (let i = 0; i < bodyIds.length; i += BODY_PAGE) {
        for (const pair of store.state.bodies(bodyIds.slice(i, i + BODY_PAGE))) out.item(pair);
        yield;
      }
      out.endList();
    }
    out.member("counts", JSON.stringify({ events: carried, ticks: tickCount, archivedBeads: archive.beads.length }));
  });

  const stamp = (ms: number) => iso(ms).replace(/[-:]/g, "").replace(/\.\d+/, "");
  return ok({ filename: `${townId}-${stamp(from)}-${stamp(to)}.replay.json`, estimatedBytes: Math.round(estimate), body: stream.readable });
}

/**
 * The window's commands that name beads, change the config or revive dead letters, read a page at a
 * time: what replay will look up, the dead letters it will drain again, the config over the window.
 */
function readCommands(
  store: TownStore,
  lookups: ArchiveLookups,
  afterSeq: number,
  lastSeq: number,
  to: number,
): { revived: number[]; changes: ConfigChange[] } {
  const revived: number[] = [];
  const changes: ConfigChange[] = [];
  for (let after = afterSeq; ; ) {
    const page = store.events.ofTypesAfter(after, to, NAMING_COMMANDS, EVENT_PAGE).filter((e) => e.seq <= lastSeq);
    for (const event of page) {
      lookups.addEvent(event);
      const parsed = parseLoggedEvent(event);
      if (!parsed.ok) continue;
      if (parsed.event.type === "dead_letter_retried") revived.push(parsed.event.payload.seq);
      if (parsed.event.type === "town_configured") {
        const overrides: TownConfigOverrides = parsed.event.payload.overrides;
        changes.push({ seq: event.seq, at: event.createdAt, overrides, resolved: resolveConfig(overrides) });
      }
    }
    if (page.length < EVENT_PAGE) return { revived, changes };
    after = page.at(-1)!.seq;
  }
}

const NAMING_COMMANDS = ["town_configured", "dead_letter_retried", "bead_created", "convoy_created"];

/**
 * The archive's part of a bundle: every id replay may look up, read as the archive held it at the
 * snapshot (its first `upToSeq` beads) — found or absent — and each issue's merge-request ids as one
 * primary-key range.
 */
function lookUpArchive(store: TownStore, lookups: ArchiveLookups, upToSeq: number): BundleArchive {
  const found = new Map<string, Bead>();
  const absent: string[] = [];
  for (const id of lookups.ids()) {
    const bead = store.state.archivedBead(id as Bead["id"], upToSeq);
    if (bead) found.set(id, bead);
    else absent.push(id);
  }
  const prefixes = lookups.mergeRequestPrefixes();
  for (const issue of prefixes) for (const bead of store.state.archivedWithPrefix(`${issue}:mr:`, upToSeq)) found.set(bead.id, bead);
  return { upToSeq, mergeRequestPrefixes: prefixes, absent, beads: [...found.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

/** An event as the bundle carries it: the row's own fields, the payload as the stored text. */
function eventRecord(e: LoggedEvent): LoggedEvent {
  return { seq: e.seq, eventId: e.eventId, type: e.type, agentId: e.agentId, beadId: e.beadId, payload: e.payload, createdAt: e.createdAt };
}

/** A bead_created payload without the bead's body (bodies are left out unless asked for; replay never reads them). */
function withoutBody(event: LoggedEvent): LoggedEvent {
  if (event.type !== "bead_created") return event;
  try {
    const { body: _body, ...payload } = JSON.parse(event.payload) as Record<string, unknown>;
    return { ...event, payload: JSON.stringify(payload) };
  } catch {
    return event; // not JSON: replay fails it as the drain did, body or not
  }
}
