import { mib, MiB } from "../domain/format";
import { BUNDLE_FORMAT, BUNDLE_VERSION, BundleSchema, checksumOf, type Bundle } from "./bundle-format";

/** Why a bundle cannot be replayed; the message says what is wrong with it and what to do. */
export type RefusalReason = "too_large" | "truncated" | "not_json" | "not_a_bundle" | "unsupported_version" | "checksum_mismatch" | "invalid" | "incomplete";

export class BundleRefused extends Error {
  override readonly name = "BundleRefused";
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** Largest bundle read by default: a day's export is bounded at 64 MiB, and a re-indented one is a few times that. */
export const DEFAULT_MAX_BUNDLE_BYTES = 256 * MiB;

/**
 * A bundle's text, checked in the order that names the real problem: its size, that it is whole JSON,
 * that it is a bundle of a version this build reads, that its checksum matches (nothing edited or
 * damaged since export), then its shape. Throws `BundleRefused`.
 */
export async function readBundle(text: string, options: { maxBytes?: number; bytes?: number } = {}): Promise<Bundle> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const bytes = options.bytes ?? new TextEncoder().encode(text).length;
  if (bytes > maxBytes) throw tooLarge(bytes, maxBytes);

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if (looksCut(text, detail)) {
      throw new BundleRefused(
        "truncated",
        `the bundle is truncated: its JSON stops after ${bytes.toLocaleString("en-US")} bytes (${detail}); the export was cut off — export it again`,
      );
    }
    throw new BundleRefused("not_json", `the bundle is not valid JSON: ${detail}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || (parsed as { format?: unknown }).format !== BUNDLE_FORMAT) {
    const format = typeof parsed === "object" && parsed !== null ? JSON.stringify((parsed as { format?: unknown }).format ?? null) : typeof parsed;
    throw new BundleRefused(
      "not_a_bundle",
      `this is not a replay bundle: its format is ${format}, not "${BUNDLE_FORMAT}" (export one with GET /api/towns/:townId/debug/history)`,
    );
  }
  const { checksum, ...content } = parsed as { version?: unknown; checksum?: unknown };
  const version = content.version;
  if (version !== BUNDLE_VERSION) {
    throw new BundleRefused(
      "unsupported_version",
      `the bundle is format version ${JSON.stringify(version)}; this build reads version ${BUNDLE_VERSION} only — replay it with a checkout whose src/replay/bundle-format.ts reads that version`,
    );
  }
  if (typeof checksum !== "string")
    throw new BundleRefused("checksum_mismatch", "the bundle has no checksum: it was not written by the export, or its end was cut off");
  // The canonical content: the bundle without its checksum, members in their order, without whitespace.
  const computed = await checksumOf(JSON.stringify(content));
  if (computed !== checksum) {
    throw new BundleRefused(
      "checksum_mismatch",
      `the bundle's checksum does not match its content: it was edited or damaged after export (it says ${checksum}, its content hashes to ${computed})`,
    );
  }

  const checked = BundleSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new BundleRefused(
      "invalid",
      `the bundle is not laid out as version ${BUNDLE_VERSION} says: ${issue ? `${issue.path.join(".") || "bundle"}: ${issue.message}` : "schema mismatch"}`,
    );
  }
  const bundle = parsed as Bundle;
  const carried = { events: bundle.events.length, ticks: bundle.ticks.length, archivedBeads: bundle.archive.beads.length };
  for (const [what, n] of Object.entries(carried) as Array<[keyof typeof carried, number]>) {
    if (bundle.counts[what] !== n) throw new BundleRefused("invalid", `the bundle says it carries ${bundle.counts[what]} ${what} but carries ${n}`);
  }
  return bundle;
}

/** A parse error at the very end of the text: the JSON was cut, not malformed. */
function looksCut(text: string, detail: string): boolean {
  if (/end of (JSON )?input/i.test(detail)) return true;
  const position = /position (\d+)/.exec(detail);
  return position !== null && Number(position[1]) >= text.trimEnd().length - 1;
}

export const tooLarge = (bytes: number, maxBytes: number) =>
  new BundleRefused(
    "too_large",
    `the bundle is ${sizeText(bytes)}; at most ${sizeText(maxBytes)} is read (--max-bytes raises it, if the machine has the memory)`,
  );

/** Bytes as a reader takes them in: "36,319 bytes", "12.4 MiB". */
export const sizeText = (bytes: number) => (bytes < MiB ? `${bytes.toLocaleString("en-US")} bytes` : `${mib(bytes).toLocaleString("en-US")} MiB`);
