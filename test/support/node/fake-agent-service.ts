/**
 * A fake agent container service on loopback, started by vitest's globalSetup (Node). It answers
 * `POST /dispatch` and `POST /stop` like the real service, records every call, and can be told per
 * town to fail, hang or drop connections (`POST /__control`). Tests read its log via `GET /__calls`.
 *
 * It listens twice with one handler: over HTTPS for the Worker's CONTAINER_SERVICE binding, as the
 * real service is reached, and over HTTP for the tests' own control calls (the tests' fetch does not
 * trust the loopback certificate). Over TLS a dropped connection is one workerd knows as a peer gone
 * without ending its session; over plain HTTP the runtime prints a stack trace for each, though the
 * adapter handles it.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { listenOnLoopback, readBody } from "./loopback";

/** A self-signed certificate for localhost and 127.0.0.1, for loopback tests only (valid to 2126). */
const LOOPBACK_CERTIFICATE = readFileSync(new URL("./tls/loopback.crt", import.meta.url), "utf8");
const LOOPBACK_KEY = readFileSync(new URL("./tls/loopback.key", import.meta.url), "utf8");

export type Mode = "ok" | "fail" | "hang" | "down" | "reject";

interface Call {
  path: string;
  townId: string;
  agentId: string;
  generation: number;
  credential: string | null;
  idempotencyKey: string | null;
  mode: Mode;
}

export interface FakeAgentService {
  readonly servers: Server[];
  /** Where the tests call `/__control` and `/__calls` (HTTP). */
  readonly url: string;
  /** host:port of the HTTPS listener, for the CONTAINER_SERVICE binding. */
  readonly tlsHost: string;
}

export async function startFakeAgentService(): Promise<FakeAgentService> {
  const modes = new Map<string, Mode>();
  const calls: Call[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = (await readBody(req)).toString("utf8");
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/__control" && req.method === "POST") {
      const { townId, mode } = JSON.parse(body) as { townId: string; mode: Mode };
      modes.set(townId, mode);
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/__calls" && req.method === "GET") {
      const townId = url.searchParams.get("townId");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(calls.filter((c) => c.townId === townId)));
      return;
    }
    if ((url.pathname === "/dispatch" || url.pathname === "/stop") && req.method === "POST") {
      const request = JSON.parse(body) as { townId: string; agentId: string; generation: number; credential?: string };
      const mode = modes.get(request.townId) ?? "ok";
      calls.push({
        path: url.pathname,
        townId: request.townId,
        agentId: request.agentId,
        generation: request.generation,
        credential: request.credential ?? null,
        idempotencyKey: req.headers["idempotency-key"]?.toString() ?? null,
        mode,
      });
      switch (mode) {
        case "ok":
          res.writeHead(202, { "content-type": "application/json" }).end('{"accepted":true}');
          return;
        case "fail":
          res.writeHead(503, { "content-type": "text/plain" }).end("service unavailable");
          return;
        case "reject":
          res.writeHead(400, { "content-type": "text/plain" }).end("bad dispatch");
          return;
        case "down":
          // The connection closed with no answer, as by a crashed service.
          req.socket.destroy();
          return;
        case "hang":
          // Never answer: the caller's timeout must fire. The socket is closed when the server stops.
          return;
      }
    }
    res.writeHead(404).end();
  };
  const control = createServer(handle);
  const tls = createTlsServer({ key: LOOPBACK_KEY, cert: LOOPBACK_CERTIFICATE }, handle);
  const [url, tlsUrl] = await Promise.all([listenOnLoopback(control), listenOnLoopback(tls)]);
  return { servers: [control, tls], url, tlsHost: new URL(tlsUrl).host };
}
