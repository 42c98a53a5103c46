/**
 * A fake agent container service on loopback, started by vitest's globalSetup (Node). It answers
 * `POST /dispatch` and `POST /stop` like the real service, records every call, and can be told per
 * town to fail, hang or drop connections (`POST /__control`). Tests read its log via `GET /__calls`.
 */
import { createServer, type Server } from "node:http";
import { listenOnLoopback, readBody } from "./loopback";

export type Mode = "ok" | "fail" | "hang" | "down" | "reject";

interface Call {
  path: string;
  townId: string;
  agentId: string;
  generation: number;
  idempotencyKey: string | null;
  mode: Mode;
}

export function startFakeAgentService(): Promise<{ server: Server; url: string }> {
  const modes = new Map<string, Mode>();
  const calls: Call[] = [];
  const server = createServer(async (req, res) => {
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
          // A reset connection, as from a crashed service.
          req.socket.resetAndDestroy();
          return;
        case "hang":
          // Never answer: the caller's timeout must fire. The socket is closed when the server stops.
          return;
      }
    }
    res.writeHead(404).end();
  });
  return listenOnLoopback(server).then((url) => ({ server, url }));
}
