/** The recorded bundles in test/replay/bundles, and what the tests do to them. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checksumOf } from "../../src/replay/bundle-format";

export const BUNDLES_DIR = "test/replay/bundles";

/** Every recorded bundle, by name (the file name without .json). */
export const RECORDED = readdirSync(BUNDLES_DIR)
  .filter((file) => file.endsWith(".json"))
  .map((file) => file.slice(0, -".json".length))
  .sort();

export const bundleText = (name: string): string => readFileSync(join(BUNDLES_DIR, `${name}.json`), "utf8");

/**
 * A bundle edited and sealed again with a fresh checksum — what a bundle from another build (or a
 * history this build disagrees with) looks like to the reader. Without `seal`, the edit is caught.
 */
export async function edited(name: string, edit: (bundle: any) => void, options: { seal?: boolean } = {}): Promise<string> {
  const { checksum, ...content } = JSON.parse(bundleText(name));
  edit(content);
  return JSON.stringify({ ...content, checksum: options.seal === false ? checksum : await checksumOf(JSON.stringify(content)) });
}
