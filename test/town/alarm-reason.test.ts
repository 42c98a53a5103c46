import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createTown, sling, status, tick } from "../support/town";

describe("the alarm a tick sets", () => {
  it("says why from the tick's record, with no key written beside it (one row written less a tick)", async () => {
    const town = await createTown();
    await sling(town, { id: "b1", title: "Work" });
    await tick(town);
    // What set the key so far is gone: the next tick's alarm has only its record to say why.
    await runInDurableObject(town.stub, (_instance, state) => state.storage.delete("alarm"));
    await town.stub.testSetTime((await town.stub.testAlarmAt())!);
    await tick(town);
    const after = await status(town);
    expect(after.alarm.nextFireAt).not.toBeNull();
    expect(after.alarm.nextFireAt).toBe(after.lastTick.nextAlarmAt);
    expect(after.alarm.reason).toBe(after.lastTick.nextAlarmReason);
    expect(after.alarm.reason).not.toBe("scheduled");
    const key = await runInDurableObject(town.stub, (_instance, state) => state.storage.get("alarm"));
    expect(key).toBeUndefined();
  });

  it("says why from the key when set outside a tick, after the tick that set the one before", async () => {
    const town = await createTown();
    await tick(town);
    await sling(town, { id: "b1", title: "Work" });
    const after = await status(town);
    expect(after.alarm.reason).toMatch(/bead/);
    expect(after.alarm.nextFireAt).not.toBe(after.lastTick.nextAlarmAt);
  });
});
