import type { z } from "zod";
import { HttpError } from "./errors";

/**
 * Reads a JSON body of at most `maxBytes` and validates it; anything else is a 400 or 413 that says why.
 * `quick`, where a route has one, gives what `schema` would for the bodies it knows (undefined: ask
 * the schema), so a hot route's common body skips zod and every other body is answered by the schema.
 */
export async function readJson<S extends z.ZodType>(
  request: Request,
  schema: S,
  maxBytes: number,
  quick?: (value: unknown) => z.output<S> | undefined,
): Promise<z.output<S>> {
  const text = await readText(request, maxBytes);
  let value: unknown;
  if (text.trim() === "") {
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, "invalid_json", `the body is not valid JSON (${error instanceof Error ? error.message : "parse error"})`);
    }
  }
  const quickly = quick?.(value);
  if (quickly !== undefined) return quickly;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, "invalid_request", describeIssues(parsed.error));
  return parsed.data;
}

async function readText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () => new HttpError(413, "payload_too_large", `the body is larger than the ${maxBytes} bytes this route accepts`);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  if (!request.body) return "";
  // Content-Length can be absent or wrong: count what actually arrives.
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid UTF-8");
  }
}

/** Zod issues as one readable sentence: `events.0.payload.status: Invalid option …; title: Required`. */
export function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map(String).join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  const more = error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : "";
  return `invalid request: ${shown.join("; ")}${more}`;
}
