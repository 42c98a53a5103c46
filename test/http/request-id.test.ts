import { inject, describe, expect, it } from "vitest";
import { withRequestId } from "../../src/http/request-id";

describe("withRequestId", () => {
  it("sets the header on a response of ours, in place, keeping status and body", async () => {
    const response = new Response('{"ok":true}', { status: 202, headers: { "content-type": "application/json" } });
    const out = withRequestId(response, "req-1");
    expect(out).toBe(response);
    expect(out.status).toBe(202);
    expect(out.headers.get("x-request-id")).toBe("req-1");
    expect(out.headers.get("content-type")).toBe("application/json");
    expect(await out.text()).toBe('{"ok":true}');
  });

  it("copies a response whose headers are immutable (one fetched from elsewhere)", async () => {
    // The fake Sentry ingest started by the test setup answers any path.
    const fetched = await fetch(inject("sentryUrl"));
    expect(() => fetched.headers.set("x-probe", "1")).toThrow();
    const out = withRequestId(fetched, "req-2");
    expect(out).not.toBe(fetched);
    expect(out.status).toBe(fetched.status);
    expect(out.headers.get("x-request-id")).toBe("req-2");
    await out.arrayBuffer();
  });
});
