import type { ListAgentsInput, ListBeadsInput } from "../api/schemas";
import type { BeadCursor } from "../db/state-store";
import { fail, ok, type Result } from "../domain/result";
import type { TownRuntime } from "../town/runtime";
import { agentView, beadView } from "./entity-views";

/** Beads per page when a listing names no limit. */
export const DEFAULT_BEAD_PAGE = 100;

/**
 * A page of a town's beads, newest change first, finished ones included (they are in SQLite), read by
 * index so a page costs its rows however long the town's history (see `StateStore.listBeads`). The
 * cursor is the last bead's change time and id: a bead that changes while a client pages moves to the
 * front, so it may be seen twice or, having moved past the cursor, not at all — as with any listing by
 * change time.
 */
export function listBeads(runtime: TownRuntime, query: ListBeadsInput): Result<{ beads: Array<ReturnType<typeof beadView>>; nextCursor: string | null }> {
  const limit = query.limit ?? DEFAULT_BEAD_PAGE;
  let after: BeadCursor | null = null;
  if (query.cursor !== undefined) {
    after = decodeCursor(query.cursor);
    if (!after)
      return fail(
        "invalid_request",
        "cursor is not one this listing gave: pass the nextCursor of the previous page as it came, or leave it out for the first page",
      );
  }
  const { status, rig, type, held } = query;
  const filter = { ...(status ? { status } : {}), ...(rig ? { rig } : {}), ...(type ? { type } : {}), ...(held === undefined ? {} : { held }) };
  // One more than asked for, to know whether another page follows.
  const rows = runtime.store.state.listBeads(filter, after, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return ok({ beads: page.map(beadView), nextCursor: rows.length > limit && last ? encodeCursor({ updatedAt: last.updatedAt, id: last.id }) : null });
}

/** The town's agents (tombstones of retired ones included), by id, filtered. */
export function listAgents(runtime: TownRuntime, query: ListAgentsInput) {
  return [...runtime.state.agents()]
    .filter(
      (agent) => (!query.status || agent.status === query.status) && (!query.rig || agent.rigId === query.rig) && (!query.role || agent.role === query.role),
    )
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(agentView);
}

/** A cursor is opaque to clients: base64url of `[updatedAt, id]`. */
function encodeCursor(cursor: BeadCursor): string {
  return btoa(JSON.stringify([cursor.updatedAt, cursor.id]))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function decodeCursor(text: string): BeadCursor | null {
  try {
    const value: unknown = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [updatedAt, id] = value as unknown[];
    return Number.isSafeInteger(updatedAt) && typeof id === "string" && id.length <= 128 ? { updatedAt: updatedAt as number, id } : null;
  } catch {
    return null;
  }
}
