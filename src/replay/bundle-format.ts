import { z } from "zod";
import type { TownConfig, TownConfigOverrides } from "../domain/config";
import type { LoggedEvent } from "../domain/events";
import type { RecordedBead } from "../domain/model";
import type { HistoryTick } from "../db/tick-store";
import type { HistorySnapshot } from "./history";

/**
 * A replay bundle: a town's recorded history over a window, as `GET …/debug/history` exports it and
 * `npm run replay` reads it. One JSON object, its members in this order (the export streams them):
 *
 *   format, version       what this is, and which layout (a reader refuses any version it does not know)
 *   townId, window        whose history, from when to when (epoch ms), and the last event seq logged by
 *                         then (the log has no gaps: the events after the snapshot's are all there); exportedAt
 *   bodies                "omitted" (bead bodies, and the body in bead_created payloads, left out) or "included"
 *   config                the town's config overrides at the snapshot and each change in the window, each with
 *                         the config the exporting build resolved from them
 *   snapshot              the working set replay starts from (the last snapshot at or before `from`)
 *   archive               finished beads replay may look up, as the archive held them at the snapshot:
 *                         those found, the ids looked up and not found, and the issues whose merge-request
 *                         ids (`<issue>:mr:<n>`) were all looked up
 *   events                the log from the snapshot to `to`, and the events pending at the snapshot (payloads
 *                         as the stored text: replay validates them again, as the drain does)
 *   ticks                 each tick's recorded inputs (logSeq, observations, drainedSeqs) and actions
 *   beadBodies            only with bodies "included": [id, body] for the snapshot's and the archive's beads
 *   counts                how many events, ticks and archived beads it carries
 *   checksum              "sha256:<hex>" of the canonical content: JSON.stringify of the bundle without this
 *                         member (so re-indenting keeps it valid; an edit or a cut does not)
 *
 * The export writes one record per line, so a re-recorded bundle diffs line by line in a commit.
 */
export const BUNDLE_FORMAT = "town-reconciler.replay-bundle";
export const BUNDLE_VERSION = 1;

export interface ConfigAt {
  readonly overrides: TownConfigOverrides;
  /** The config the exporting build resolved from the overrides (defaults may differ in another build). */
  readonly resolved: TownConfig;
}

export interface ConfigChange extends ConfigAt {
  readonly seq: number;
  readonly at: number;
}

export interface BundleArchive {
  /** The archive held the first `upToSeq` finished beads when the snapshot was taken. */
  readonly upToSeq: number;
  /** Issues all of whose `<issue>:mr:<n>` ids were looked up (an agent's done report probes them). */
  readonly mergeRequestPrefixes: readonly string[];
  /** Ids looked up and not archived at the snapshot. */
  readonly absent: readonly string[];
  /** As the archive held them (recorded by an older version, a bead lacks the fields added since). */
  readonly beads: readonly RecordedBead[];
}

export interface Bundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: typeof BUNDLE_VERSION;
  readonly townId: string;
  readonly window: { readonly from: number; readonly to: number; readonly lastSeq: number };
  readonly exportedAt: number;
  readonly bodies: "omitted" | "included";
  readonly config: { readonly atSnapshot: ConfigAt; readonly changes: readonly ConfigChange[] };
  readonly snapshot: HistorySnapshot;
  readonly archive: BundleArchive;
  readonly events: readonly LoggedEvent[];
  readonly ticks: readonly HistoryTick[];
  readonly beadBodies?: ReadonlyArray<readonly [string, string]>;
  readonly counts: { readonly events: number; readonly ticks: number; readonly archivedBeads: number };
  readonly checksum: string;
}

/** The checksum of a bundle's canonical content: SHA-256 of `JSON.stringify` of everything but `checksum`. */
export async function checksumOf(content: string | Uint8Array): Promise<string> {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return `sha256:${hex(new Uint8Array(digest))}`;
}

export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// ---- the shape a reader checks, once the checksum says the content is what was exported ------------

const int = z.number().int();
const ms = int.min(0);
const object = z.record(z.string(), z.unknown());

const LoggedEventSchema = z
  .object({
    seq: int.min(1),
    eventId: z.string(),
    type: z.string(),
    agentId: z.string().nullable(),
    beadId: z.string().nullable(),
    payload: z.string(),
    createdAt: ms,
  })
  .strict();

const TickSchema = z
  .object({
    id: int.min(1),
    at: ms,
    result: z.string(),
    logSeq: int.nullable(),
    observations: z.array(z.tuple([z.string(), ms.nullable()])).nullable(),
    drainedSeqs: z.array(int).nullable(),
    actions: z.array(object).nullable(),
    oldestPendingAgeMs: ms.nullable(),
    deadLetters: int.min(0),
  })
  .strict();

const StateSchema = z.looseObject({
  town: z.looseObject({ id: z.string(), overrides: object }),
  rigs: z.array(object),
  agents: z.array(z.looseObject({ id: z.string() })),
  beads: z.array(z.looseObject({ id: z.string(), type: z.string(), status: z.string() })),
});

const ConfigAtSchema = z.object({ overrides: object, resolved: object }).strict();

export const BundleSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    version: z.literal(BUNDLE_VERSION),
    townId: z.string(),
    window: z.object({ from: ms, to: ms, lastSeq: int.min(0) }).strict(),
    exportedAt: ms,
    bodies: z.enum(["omitted", "included"]),
    config: z.object({ atSnapshot: ConfigAtSchema, changes: z.array(ConfigAtSchema.extend({ seq: int, at: ms })) }).strict(),
    snapshot: z.object({ id: int, takenAt: ms, tickId: int.min(0), logSeq: int.min(0), pending: z.array(z.tuple([int, int])), state: StateSchema }).strict(),
    archive: z
      .object({
        upToSeq: int.min(0),
        mergeRequestPrefixes: z.array(z.string()),
        absent: z.array(z.string()),
        beads: z.array(z.looseObject({ id: z.string(), type: z.string(), status: z.string() })),
      })
      .strict(),
    events: z.array(LoggedEventSchema),
    ticks: z.array(TickSchema),
    beadBodies: z.array(z.tuple([z.string(), z.string()])).optional(),
    counts: z.object({ events: int, ticks: int, archivedBeads: int }).strict(),
    checksum: z.string(),
  })
  .strict();
