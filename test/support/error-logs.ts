import { afterEach, beforeEach, expect, vi } from "vitest";

/**
 * Error-level log lines a test causes on purpose (a poison event, an injected fault, Sentry down): kept
 * out of the test output and handed to the test, which says which ones it expected. A line no test claimed
 * is printed after the test, so an unexpected error still shows, and a passing `npm test` stays quiet.
 *
 * Call once at the top of a test file; in a test, `logged.expect("tick failed")` asserts such a line was
 * logged and claims every line with that message.
 */
export function captureErrorLogs() {
  let lines: Array<{ message: string; line: string }> = [];
  let print: (...args: unknown[]) => void = console.log;
  let spy: { mockRestore(): void } | undefined;
  beforeEach(() => {
    lines = [];
    const original = console.log.bind(console);
    print = original;
    spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      const message = errorMessageOf(args);
      if (message === null) original(...args);
      else lines.push({ message, line: String(args[0]) });
    });
  });
  afterEach(() => {
    spy?.mockRestore();
    for (const { line } of lines) print(line);
  });
  return {
    /** Asserts lines with this message (or starting with it) were logged, claims them, and returns them parsed. */
    expect(message: string): Array<Record<string, unknown>> {
      const claimed = lines.filter((l) => l.message.startsWith(message));
      expect(claimed.length, `an error-level line "${message}" was logged`).toBeGreaterThan(0);
      lines = lines.filter((l) => !l.message.startsWith(message));
      return claimed.map((l) => JSON.parse(l.line) as Record<string, unknown>);
    },
  };
}

/** The message of a structured error-level line, or null for anything else. */
function errorMessageOf(args: readonly unknown[]): string | null {
  if (args.length !== 1 || typeof args[0] !== "string" || !args[0].startsWith('{"level":"error"')) return null;
  try {
    const parsed = JSON.parse(args[0]) as { message?: unknown };
    return typeof parsed.message === "string" ? parsed.message : null;
  } catch {
    return null;
  }
}
