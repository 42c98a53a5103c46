import type { TownId } from "../domain/ids";
import { fleetLayout } from "./layout";
import { shardCount, shardOf, shardStub, type FleetBindings } from "./shards";
import type { Logger } from "../observability/log";

/** Set while the town list does not know this town yet (its registration failed and is retried by the alarm). */
const REGISTRATION_PENDING = "registration-pending";
/** The shard the town last registered or reported to, and the count it was chosen under. */
const PLACE = "fleet-place";

export interface Place {
  readonly shards: number;
  readonly index: number;
}
/** Towns registered before places were kept were on the one shard there was. */
const FIRST_PLACE: Place = { shards: 1, index: 0 };

/** Where the town is listed (as far as it knows), and where it belongs under the count it runs with. */
export function townPlace(storage: DurableObjectStorage, env: FleetBindings, townId: string): { listed: Place; due: Place } {
  const shards = shardCount(env);
  return { listed: storage.kv.get<Place>(PLACE) ?? FIRST_PLACE, due: { shards, index: shardOf(townId, shards) } };
}

export const samePlace = (a: Place, b: Place): boolean => a.index === b.index;

export function rememberPlace(storage: DurableObjectStorage, place: Place): void {
  storage.kv.put(PLACE, place);
}

/**
 * The town's entry in the town list. Creating a town never fails on the list: if registering fails the
 * town still exists (and answers with its token), a flag says so, and the alarm tries again.
 */
export class Registration {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly env: FleetBindings,
    private readonly log: Logger,
  ) {}

  /**
   * Registers the town with its shard. A town that exists already and whose shard changed with the
   * count is not registered here: its next summary moves it (FleetReporter), so its new shard never
   * holds a made-up "due at once" row for it.
   */
  async register(townId: TownId, createdAt: number, options: { created?: boolean } = {}): Promise<void> {
    try {
      const { listed, due } = townPlace(this.storage, this.env, townId);
      if (options.created || samePlace(listed, due)) {
        await shardStub(this.env, due.index).register(townId, createdAt, due.shards);
        rememberPlace(this.storage, due);
      }
      this.storage.kv.delete(REGISTRATION_PENDING);
    } catch (error) {
      this.storage.kv.put(REGISTRATION_PENDING, true);
      this.log.error("could not register the town; the alarm will try again", { townId, error });
    }
  }

  /**
   * Deregistered first, so a town the list still shows is never half deleted: from every shard that
   * may hold it (its own, and any a change of count may have handed it to), each remembering the
   * deletion so a row handed over late does not bring it back. Throws when the list cannot be reached.
   */
  async deregister(townId: TownId, createdAt: number | null): Promise<void> {
    const layout = await fleetLayout(this.env);
    const { listed } = townPlace(this.storage, this.env, townId);
    const shards = new Set([...layout.shards, listed.index, shardOf(townId, layout.current)]);
    await Promise.all([...shards].map((index) => shardStub(this.env, index).deregister(townId, createdAt)));
  }

  pending(): boolean {
    return this.storage.kv.get(REGISTRATION_PENDING) === true;
  }

  async retryIfPending(townId: TownId, createdAt: number): Promise<void> {
    // It is listed nowhere yet: its shard under the count it runs with takes it.
    if (this.pending()) await this.register(townId, createdAt, { created: true });
  }
}
