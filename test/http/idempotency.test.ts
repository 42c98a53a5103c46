import { describe, expect, it } from "vitest";
import { api, createTown, status, TOKENS } from "../support/town";

const post = (townId: string, path: string, body: unknown, key?: string) =>
  api("POST", `/api/towns/${townId}${path}`, { token: TOKENS.admin, body, headers: key === undefined ? {} : { "idempotency-key": key } });

describe("Idempotency-Key on the creating POSTs", () => {
  it("answers a retried sling without an id with the first answer, and creates one bead", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000 } });
    const first = await post(town.townId, "/beads", { rigId: "web", title: "No id given" }, "sling-1");
    expect(first.status).toBe(201);
    const retried = await post(town.townId, "/beads", { rigId: "web", title: "No id given" }, "sling-1");
    expect(retried.status).toBe(201);
    expect(retried.body).toEqual(first.body);
    expect((await status(town)).beads.open).toBe(1);
  });

  it("refuses the same key with another body (409) and changes nothing", async () => {
    const town = await createTown();
    expect((await post(town.townId, "/beads", { rigId: "web", title: "One" }, "k")).status).toBe(201);
    const before = await town.stub.testDump();
    const reused = await post(town.townId, "/beads", { rigId: "web", title: "Another" }, "k");
    expect(reused.status).toBe(409);
    expect(reused.body).toEqual({ error: { code: "idempotency_key_reused", message: expect.stringContaining("another request") } });
    // The same key on another route is another request too.
    expect((await post(town.townId, "/rigs", { name: "api", gitUrl: "https://git.test/api.git" }, "k")).status).toBe(409);
    expect(await town.stub.testDump()).toBe(before);
  });

  it("covers rigs and convoys, keeps keys per town, and leaves requests without a key as they were", async () => {
    const town = await createTown();
    const other = await createTown();
    const rig = { name: "api", gitUrl: "https://git.test/api.git" };
    const a = await post(town.townId, "/rigs", rig, "rig-1");
    expect((await post(town.townId, "/rigs", rig, "rig-1")).body).toEqual(a.body);
    expect((await post(other.townId, "/rigs", rig, "rig-1")).body.rig.id).not.toBe(a.body.rig.id);
    await post(town.townId, "/beads", { id: "b1", rigId: "web", title: "One" });
    const convoy = await post(town.townId, "/convoys", { title: "Release", beadIds: ["b1"] }, "convoy-1");
    expect(convoy.status).toBe(201);
    expect((await post(town.townId, "/convoys", { title: "Release", beadIds: ["b1"] }, "convoy-1")).body).toEqual(convoy.body);
    // Without a key, two slings without ids are two beads, as before.
    await post(town.townId, "/beads", { rigId: "web", title: "x" });
    await post(town.townId, "/beads", { rigId: "web", title: "x" });
    expect((await status(town)).beadsByType.issue).toBe(3);
  });

  it("rejects a key that is empty, too long or not printable (400)", async () => {
    const town = await createTown();
    for (const key of ["", "x".repeat(256), "tab\there"]) {
      const response = await post(town.townId, "/beads", { rigId: "web", title: "x" }, key);
      expect(response.status, JSON.stringify(key)).toBe(400);
      expect(response.body.error.code).toBe("invalid_request");
    }
  });
});
