import { drizzle } from "drizzle-orm/durable-sqlite";
import { AlertStore } from "./alert-store";
import { CounterStore } from "./counter-store";
import { EventStore } from "./event-store";
import { IdempotencyStore } from "./idempotency-store";
import { OutboxStore } from "./outbox-store";
import * as schema from "./schema";
import { SimulationStore } from "./simulation-store";
import { SnapshotStore } from "./snapshot-store";
import { StateStore } from "./state-store";
import { TickStore } from "./tick-store";
import { ViolationStore } from "./violation-store";
import { RowMeter } from "./row-meter";

/**
 * All storage of a town, one store per group of tables. Methods are synchronous (Durable Object SQLite
 * is), so a caller composes several of them inside one `transaction`.
 */
export class TownStore {
  readonly state: StateStore;
  readonly events: EventStore;
  readonly outbox: OutboxStore;
  readonly ticks: TickStore;
  readonly counters: CounterStore;
  readonly violations: ViolationStore;
  readonly snapshots: SnapshotStore;
  readonly simulation: SimulationStore;
  readonly idempotency: IdempotencyStore;
  readonly alerts: AlertStore;

  /** Rows every statement reads and writes (DESIGN §4.7: what the town costs). */
  readonly rows: RowMeter;

  constructor(private readonly storage: DurableObjectStorage) {
    this.rows = new RowMeter(storage.sql);
    const sql = this.rows.sql;
    // drizzle uses only `sql.exec` and `transactionSync` of the storage: given the metered SQL, it is counted too.
    const db = drizzle({ sql, transactionSync: <T>(work: () => T): T => storage.transactionSync(work) } as DurableObjectStorage, { schema });
    this.state = new StateStore(sql, db);
    this.events = new EventStore(sql);
    this.outbox = new OutboxStore(db);
    this.ticks = new TickStore(sql, db);
    this.counters = new CounterStore(sql, db, () => this.ticks.heldCounters());
    this.violations = new ViolationStore(db);
    this.snapshots = new SnapshotStore(db);
    this.simulation = new SimulationStore(db);
    this.idempotency = new IdempotencyStore(sql, db);
    this.alerts = new AlertStore(db);
  }

  /** Runs `work` in one SQLite transaction: all of it is stored, or (if it throws) none of it. */
  transaction<T>(work: () => T): T {
    return this.storage.transactionSync(work);
  }

  /** Bytes of the town's database. */
  get databaseSize(): number {
    return this.storage.sql.databaseSize;
  }
}
