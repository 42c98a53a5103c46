/**
 * The browser the status-page test drives: the headless Chromium that `@sparticuz/chromium` ships inside
 * its npm package (unpacked to the temp folder on first use), so `npm install` is all a fresh Linux
 * machine needs — no system browser, no download. `CHROMIUM_PATH` points the test at another Chromium
 * instead (a system one, or any build on macOS, where the packaged binary does not run).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import packagedChromium from "@sparticuz/chromium";
import { chromium, type Browser } from "playwright-core";

/**
 * Flags for any Chromium: headless on a machine with no GPU, and quiet on a closed network (no
 * background fetches, updates or sync that would wait on a network that is not there).
 */
const QUIET_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  const systemPath = process.env.CHROMIUM_PATH;
  if (systemPath) return chromium.launch({ executablePath: systemPath, args: ["--headless", ...QUIET_FLAGS] });
  return chromium.launch({
    executablePath: await packagedChromium.executablePath(),
    // The flags the package recommends for its build (a headless shell), then ours.
    args: [...packagedChromium.args, ...QUIET_FLAGS],
    // The fonts unpacked beside the binary, so text renders the same on a machine without any.
    env: { ...process.env, FONTCONFIG_PATH: process.env.FONTCONFIG_PATH ?? join(tmpdir(), "fonts") },
  });
}
