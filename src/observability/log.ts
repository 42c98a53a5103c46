/** Structured JSON log lines: one object per line with level, message and context (town, tick, request). */

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
  /** Whether a line of this level is written (so a caller can skip building its fields). */
  writes(level: LogLevel): boolean;
}

export function parseLogLevel(value: string | undefined): LogLevel {
  return value === "debug" || value === "warn" || value === "error" ? value : "info";
}

// The default sink looks `console.log` up at each line, so whatever console is current (a test capturing lines) gets it.
export function createLogger(level: LogLevel, context: LogFields = {}, sink: (line: string) => void = (line) => console.log(line)): Logger {
  const writes = (lineLevel: LogLevel) => RANK[lineLevel] >= RANK[level];
  const write = (lineLevel: LogLevel, message: string, fields?: LogFields) => {
    if (!writes(lineLevel)) return;
    sink(JSON.stringify({ level: lineLevel, message, ...context, ...fields, time: new Date().toISOString() }, errorReplacer));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    with: (fields) => createLogger(level, { ...context, ...fields }, sink),
    writes,
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
