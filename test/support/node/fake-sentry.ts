/**
 * A fake Sentry ingest on loopback, started by vitest's globalSetup (Node). It accepts the envelopes
 * toucan-js sends, parses them with Sentry's own envelope parser, and records each event by its `town`
 * tag, and each Crons check-in (`check_in` items) by its monitor. Per town it can answer 500 or hang
 * (`POST /__control`). Tests read events via `GET /__events`, check-ins via `GET /__check-ins`.
 */
import { createServer, type Server } from "node:http";
import { listenOnLoopback, readBody } from "./loopback";
import { parseEnvelope } from "@sentry/utils";

export type SentryMode = "ok" | "fail" | "hang";

export interface ReceivedEvent {
  town: string | undefined;
  eventId: string | undefined;
  message: string | undefined;
  level: string | undefined;
  fingerprint: string[] | undefined;
  tags: Record<string, string>;
  contexts: Record<string, unknown>;
  exception: unknown;
  /** The request a failed request's report carries (toucan's `request`: method, url, allowed headers). */
  request: unknown;
  /** The event as it arrived, whole: to look for what must never be sent. */
  raw: string;
  /** How the fake answered. */
  mode: SentryMode;
}

/** A Sentry Crons check-in as the envelope carried it (Sentry's own field names). */
export interface ReceivedCheckIn {
  check_in_id: string;
  monitor_slug: string;
  status: string;
  duration?: number;
  monitor_config?: Record<string, unknown>;
  /** The envelope's header: its `sent_at`, `dsn`, `sdk`. */
  envelope: Record<string, unknown>;
}

export function startFakeSentry(): Promise<{ server: Server; dsn: string; url: string }> {
  const modes = new Map<string, SentryMode>();
  const events: ReceivedEvent[] = [];
  const checkIns: ReceivedCheckIn[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const body = await readBody(req);
    if (url.pathname === "/__control" && req.method === "POST") {
      const { townId, mode } = JSON.parse(body.toString("utf8")) as { townId: string; mode: SentryMode };
      modes.set(townId, mode);
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/__events" && req.method === "GET") {
      const townId = url.searchParams.get("townId");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(events.filter((e) => e.town === townId)));
      return;
    }
    if (url.pathname === "/__check-ins" && req.method === "GET") {
      const monitor = url.searchParams.get("monitor");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(checkIns.filter((c) => c.monitor_slug === monitor)));
      return;
    }
    if (/^\/api\/\d+\/envelope\/?$/.test(url.pathname) && req.method === "POST") {
      const [envelope, items] = parseEnvelope(new Uint8Array(body));
      let mode: SentryMode = "ok";
      for (const [header, payload] of items) {
        if ((header as { type?: string }).type === "check_in") {
          checkIns.push({ ...(payload as Omit<ReceivedCheckIn, "envelope">), envelope: envelope as Record<string, unknown> });
          continue;
        }
        if ((header as { type?: string }).type !== "event") continue;
        const event = payload as {
          event_id?: string;
          message?: string;
          level?: string;
          fingerprint?: string[];
          tags?: Record<string, string>;
          contexts?: Record<string, unknown>;
          exception?: unknown;
          request?: unknown;
        };
        const town = event.tags?.town;
        mode = (town && modes.get(town)) || "ok";
        events.push({
          town,
          eventId: event.event_id,
          message: event.message,
          level: event.level,
          fingerprint: event.fingerprint,
          tags: event.tags ?? {},
          contexts: event.contexts ?? {},
          exception: event.exception,
          request: event.request,
          raw: JSON.stringify(payload),
          mode,
        });
      }
      if (mode === "hang") return; // never answer
      if (mode === "fail") {
        res.writeHead(500).end("ingest broken");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    res.writeHead(404).end();
  });
  return listenOnLoopback(server).then((url) => ({ server, url, dsn: `${url.replace("http://", "http://testkey@")}/42` }));
}
