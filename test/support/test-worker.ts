/**
 * The Worker under test: the production Worker, with a town object whose clock the tests move.
 * Everything else (routes, storage, alarms, the domain) is the production code.
 */
import { TownDO as ProductionTownDO } from "../../src/town/town.do";
import { TownRegistry as ProductionTownRegistry } from "../../src/fleet/registry.do";
import type { Clock } from "../../src/domain/clock";
import type { BeadId } from "../../src/domain/ids";
import { stateSummary } from "../../src/domain/state-summary";
import { keyEpoch, mintDispatchCredential } from "../../src/auth/dispatch-credential";
import type { TownEnv } from "../../src/town/town-env";

export { default } from "../../src/index";

/**
 * The town list, which a test can tell to fail its next registrations or watchdog reads (as an
 * unreachable object would), with a clock the tests move (stored, like the towns' clocks).
 */
export class TownRegistry extends ProductionTownRegistry {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, withRegistryFaults(withTestShards(env)));
  }

  protected override createClock(): Clock {
    const kv = this.ctx.storage.kv;
    return { now: () => kv.get<number>(CLOCK_KEY) ?? TEST_EPOCH };
  }

  async testSetTime(at: number): Promise<number> {
    this.ctx.storage.kv.put(CLOCK_KEY, at);
    return at;
  }

  async testFailSweeps(count: number): Promise<void> {
    this.ctx.storage.kv.put(failuresKey("sweeps"), count);
  }

  async testFailReports(count: number): Promise<void> {
    this.ctx.storage.kv.put(failuresKey("reports"), count);
  }

  async testFailRegistrations(count: number): Promise<void> {
    this.ctx.storage.kv.put(failuresKey("registrations"), count);
  }

  /** Whether the next call of this kind is to fail (counting it off). */
  async testTakeFailure(kind: RegistryFault): Promise<boolean> {
    const failing = this.ctx.storage.kv.get<number>(failuresKey(kind)) ?? 0;
    if (failing > 0) this.ctx.storage.kv.put(failuresKey(kind), failing - 1);
    return failing > 0;
  }
}

type RegistryFault = "registrations" | "reports" | "sweeps";
const failuresKey = (kind: RegistryFault) => `test:fail-${kind}`;
/** The registry calls a test can make fail, by the kind of failure a test asks for. */
const FAULTY_CALLS: Readonly<Record<string, RegistryFault>> = { register: "registrations", report: "reports", sweepOverdue: "sweeps" };

/**
 * An env whose registry calls fail where a test asked, on the caller's side, as a call to an
 * unreachable object fails. (Thrown inside the object, the exception would also be printed by the
 * runtime as uncaught, though the caller handles it.) The objects and the watchdog's Worker get it;
 * the tests' own env does not, since `runInDurableObject` takes only a real stub.
 */
export function withRegistryFaults<E extends object>(env: E): E {
  return new Proxy(env, {
    get: (target, key) => (key === "REGISTRY" ? faultyNamespace(Reflect.get(target, key) as DurableObjectNamespace<TownRegistry>) : Reflect.get(target, key)),
  });
}

function faultyNamespace(namespace: DurableObjectNamespace<TownRegistry>): DurableObjectNamespace<TownRegistry> {
  return new Proxy(namespace, {
    get: (target, key) => {
      if (key !== "getByName") return Reflect.get(target, key);
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get: (object, method) => {
            const kind = typeof method === "string" ? FAULTY_CALLS[method] : undefined;
            if (!kind) return Reflect.get(object, method);
            return async (...args: unknown[]) => {
              if (await object.testTakeFailure(kind)) throw new Error("injected: the town list is unreachable");
              return (Reflect.get(object, method) as (...a: unknown[]) => unknown)(...args);
            };
          },
        });
      };
    },
  });
}

/**
 * The registry shard count of the test's "deployment": REGISTRY_SHARDS as wrangler.toml sets it, unless
 * a test changed it (test/support/fleet.ts `deployShards`). The objects and the tests share one isolate,
 * so the Worker (called with this env by test/support/town.ts) and every object read the same count,
 * as after a deploy every object runs with the new one.
 */
export function withTestShards<E extends object>(env: E): E {
  return new Proxy(env, {
    get: (target, key) => (key === "REGISTRY_SHARDS" ? (testShards() ?? Reflect.get(target, key)) : Reflect.get(target, key)),
  });
}

const testShards = (): string | undefined => (globalThis as { __testRegistryShards?: string }).__testRegistryShards;

export function setTestShards(count: number | undefined): void {
  (globalThis as { __testRegistryShards?: string }).__testRegistryShards = count === undefined ? undefined : String(count);
}

/** Fake time starts far in the future, so a scheduled alarm never fires on its own: tests run it. */
export const TEST_EPOCH = Date.UTC(2100, 0, 1);
const CLOCK_KEY = "test:clock";

export class TownDO extends ProductionTownDO {
  constructor(ctx: DurableObjectState, env: TownEnv) {
    super(ctx, withRegistryFaults(withTestShards(env)));
  }

  /** A clock kept in the object's storage, so it survives an eviction like the rest of the town. */
  protected override createClock(): Clock {
    const kv = this.ctx.storage.kv;
    return { now: () => kv.get<number>(CLOCK_KEY) ?? TEST_EPOCH };
  }

  async testNow(): Promise<number> {
    return this.clock.now();
  }

  async testSetTime(at: number): Promise<number> {
    this.ctx.storage.kv.put(CLOCK_KEY, at);
    return at;
  }

  /** Every row of every table plus the alarm: two dumps are equal only if nothing changed. */
  async testDump(): Promise<string> {
    const sql = this.ctx.storage.sql;
    const tables = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
      .toArray()
      .map((row) => row.name);
    const dump: Record<string, unknown> = { alarm: await this.ctx.storage.getAlarm() };
    for (const table of tables) dump[table] = sql.exec(`SELECT * FROM "${table}"`).toArray();
    return JSON.stringify(dump);
  }

  /** The live state in the form replay reports it. */
  async testStateSummary() {
    return this.runtime ? stateSummary(this.runtime.state) : null;
  }

  /** Whether a bead is held in memory (the working set), as opposed to only in storage. */
  async testInMemory(beadId: string): Promise<boolean> {
    return this.runtime?.state.liveBead(beadId as BeadId) !== undefined;
  }

  /** Sizes of the working set. */
  async testWorkingSet() {
    return this.runtime ? { ...this.runtime.state.size, finished: this.runtime.state.finished } : null;
  }

  async testAlarmAt(): Promise<number | null> {
    return this.ctx.storage.getAlarm();
  }

  /**
   * Arms the alarm now if none is set, as any command would. A state seeded outside any tick (a bug,
   * a hand edit) owes nothing the town knows of, so nothing else wakes a town that sleeps.
   */
  async testWake(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.clock.now());
  }

  async testAdvance(ms: number): Promise<number> {
    return this.testSetTime(this.clock.now() + ms);
  }

  // The calls that carry an agent token, counted (in memory: a wake is what is counted), so a test can
  // tell whether a request reached the town at all.
  private agentTokenCalls = 0;

  override async verifyAgentToken(...args: Parameters<ProductionTownDO["verifyAgentToken"]>) {
    this.agentTokenCalls++;
    return super.verifyAgentToken(...args);
  }

  override async exists(...args: Parameters<ProductionTownDO["exists"]>) {
    if (args[0].agentToken !== undefined) this.agentTokenCalls++;
    return super.exists(...args);
  }

  override async ingestEvents(...args: Parameters<ProductionTownDO["ingestEvents"]>) {
    this.agentTokenCalls++;
    return super.ingestEvents(...args);
  }

  override async heartbeat(...args: Parameters<ProductionTownDO["heartbeat"]>) {
    this.agentTokenCalls++;
    return super.heartbeat(...args);
  }

  // Each token a rotation answered, with the digest the town held just after it: in turn, the
  // digest is that token's, whatever else runs.
  private rotations: Array<{ token: string; heldAfter: boolean }> = [];

  override async putTown(...args: Parameters<ProductionTownDO["putTown"]>) {
    const result = await super.putTown(...args);
    // A creation answers the town's first token: it is the first of the tokens answered in turn.
    if (result.ok && result.value.created)
      this.rotations.push({ token: result.value.agentToken, heldAfter: await this.verifyAgentToken(result.value.agentToken) });
    return result;
  }

  override async rotateAgentToken(...args: Parameters<ProductionTownDO["rotateAgentToken"]>) {
    const result = await super.rotateAgentToken(...args);
    if (result.ok) this.rotations.push({ token: result.value.agentToken, heldAfter: await this.verifyAgentToken(result.value.agentToken) });
    return result;
  }

  /** The tokens creation and rotations answered, in the order they answered; throws if one was not the town's token when answered. */
  async testRotations(): Promise<string[]> {
    const stale = this.rotations.filter((r) => !r.heldAfter);
    if (stale.length > 0) throw new Error(`${stale.length} rotation(s) answered a token the town no longer held`);
    return this.rotations.map((r) => r.token);
  }

  /**
   * The credential a dispatch of this agent and generation would carry now, minted as the platform
   * mints it (the simulated adapter runs its agents in the object, so nobody receives one).
   */
  async testCredential(agentId: string, generation: number): Promise<string> {
    const hash = this.store.state.agentTokenHash()!;
    return mintDispatchCredential({ townId: this.ctx.id.name!, agentId, generation, epoch: keyEpoch(hash) }, this.env.SIGNING_KEY!);
  }

  /** How many calls carrying an agent token reached this object since it was loaded. */
  async testAgentTokenCalls(): Promise<number> {
    return this.agentTokenCalls;
  }
}
