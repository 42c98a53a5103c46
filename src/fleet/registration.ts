import type { TownId } from "../domain/ids";
import { registryOf, type FleetBindings } from "./shards";
import type { Logger } from "../observability/log";

/** Set while the town list does not know this town yet (its registration failed and is retried by the alarm). */
const REGISTRATION_PENDING = "registration-pending";

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

  async register(townId: TownId, createdAt: number): Promise<void> {
    try {
      await registryOf(this.env, townId).register(townId, createdAt);
      this.storage.kv.delete(REGISTRATION_PENDING);
    } catch (error) {
      this.storage.kv.put(REGISTRATION_PENDING, true);
      this.log.error("could not register the town; the alarm will try again", { townId, error });
    }
  }

  /** Deregistered first, so a town the list still shows is never half deleted. Throws when the list cannot be reached. */
  async deregister(townId: TownId): Promise<void> {
    await registryOf(this.env, townId).deregister(townId);
  }

  pending(): boolean {
    return this.storage.kv.get(REGISTRATION_PENDING) === true;
  }

  async retryIfPending(townId: TownId, createdAt: number): Promise<void> {
    if (this.pending()) await this.register(townId, createdAt);
  }
}
