/** Builds states the API cannot produce (to test invariants): raw rows, then a reload from storage. */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { TownStore } from "../../src/db/town-store";
import type { TestTown } from "./town";

export async function seed(town: TestTown, statements: string[]): Promise<void> {
  await runInDurableObject(town.stub, (_instance, state) => {
    for (const statement of statements) state.storage.sql.exec(statement);
    // Rows written around the event store: its totals counted again, as the migration that made them did.
    new TownStore(state.storage).events.recountTotals();
  });
  await evictDurableObject(town.stub);
}

const T = "4102444800000"; // TEST_EPOCH, as SQL

export function agentRow(
  id: string,
  fields: { status?: string; hook?: string | null; role?: string; generation?: number; dispatchedAt?: string } = {},
): string {
  const hook = fields.hook ? `'${fields.hook}'` : "NULL";
  return `INSERT INTO agents (id, rig_id, role, status, status_since, hook, generation, dispatch_attempts, dispatched_at, last_heartbeat_at, created_at, updated_at)
    VALUES ('${id}', 'web', '${fields.role ?? "polecat"}', '${fields.status ?? "working"}', ${T}, ${hook}, ${fields.generation ?? 1}, 1, ${fields.dispatchedAt ?? T}, ${T}, ${T}, ${T})`;
}

export function beadRow(id: string, fields: { type?: string; status?: string; assignee?: string | null; source?: string; rigId?: string | null } = {}): string {
  const assignee = fields.assignee ? `'${fields.assignee}'` : "NULL";
  const source = fields.source ? `'${fields.source}'` : "NULL";
  const rig = fields.rigId === null ? "NULL" : `'${fields.rigId ?? "web"}'`;
  return `INSERT INTO beads (id, rig_id, type, status, title, priority, assignee, dispatch_attempts, held, source_bead_id, merged, created_at, updated_at)
    VALUES ('${id}', ${rig}, '${fields.type ?? "issue"}', '${fields.status ?? "open"}', 'seeded ${id}', 2, ${assignee}, 1, 0, ${source}, 0, ${T}, ${T})`;
}

export function eventRow(eventId: string, fields: { status?: string; createdAt?: string; payload?: string } = {}): string {
  return `INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts)
    VALUES ('${eventId}', 'container_status', 'ghost', '${fields.payload ?? "{oops"}', ${fields.createdAt ?? T}, '${fields.status ?? "pending"}', 0)`;
}
