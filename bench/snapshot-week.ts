/**
 * A week of hourly snapshots of a busy town, as the town stores them (src/tick/housekeeping.ts): a
 * full snapshot at least daily, deltas from it between (src/db/snapshot-codec.ts). The town changes
 * between snapshots the way a busy town does, on its snapshot's plain JSON:
 *
 * - every agent at work heartbeats (its row changes every hour: 42% of the synthetic town's agents);
 * - `finishedPerHour` issues finish and leave the working set; each freed polecat is dispatched on the
 *   oldest issue of the backlog (that row and the agent's change), and as many new issues join the
 *   backlog (new rows): the backlog moves, oldest first;
 * - each rig whose polecats finished something has its merge request under review merged and the
 *   next one queued (two rows gone, two new);
 * - the town row, the archive's counts, the usage sums and the focus change as a whole.
 *
 * The bench's own pace is 1,000 finished issues a day (bench/run.ts lifetime: ~42 an hour); a town
 * ten times as busy finishes every working polecat's issue every hour (400).
 */
import type { StateSnapshot } from "../src/domain/snapshot";
import { deltaOf, rowsOf, snapshotBase } from "../src/db/snapshot-codec";

export const HOUR = 3_600_000;
/** Snapshots a week of hourly snapshotting keeps (retention: 7 days). */
export const WEEK_HOURS = 168;

type Row = Record<string, unknown> & { id: string };

/** The snapshot an hour later: a new object; rows that change are new objects, the rest shared. */
export function anHourLater(snapshot: StateSnapshot, hour: number, at: number, finishedPerHour: number): StateSnapshot {
  const agents = [...(snapshot.agents as unknown as Row[])];
  let beads = [...(snapshot.beads as unknown as Row[])];
  const byId = new Map(agents.map((a, i) => [a.id, i]));
  // Heartbeats: every agent at work.
  for (const [i, agent] of agents.entries()) if (agent.status === "working") agents[i] = { ...agent, lastHeartbeatAt: at - 1_000 };
  // Issues finish, the oldest dispatched first; their polecats take the oldest of the backlog, and as
  // much new work joins the backlog at its end.
  const finishing = beads.filter((b) => b.type === "issue" && b.status === "in_progress").slice(0, finishedPerHour);
  const gone = new Set(finishing.map((b) => b.id));
  const rigsDone = new Set<unknown>();
  const created: Row[] = [];
  let cursor = 0;
  const nextInBacklog = (): number | undefined => {
    while (cursor < beads.length && !(beads[cursor]!.type === "issue" && beads[cursor]!.status === "open")) cursor++;
    return cursor < beads.length ? cursor++ : undefined;
  };
  for (const [n, issue] of finishing.entries()) {
    rigsDone.add(issue.rigId);
    const next = nextInBacklog();
    const i = byId.get(issue.assignee as string);
    if (next !== undefined && i !== undefined) {
      const bead = beads[next]!;
      const agent = agents[i]!;
      beads[next] = { ...bead, status: "in_progress", held: false, blockedBy: [], assignee: agent.id, dispatchAttempts: 1, lastDispatchAt: at, updatedAt: at };
      agents[i] = { ...agent, hook: bead.id, generation: (agent.generation as number) + 1, dispatchedAt: at, statusSince: at, updatedAt: at };
    }
    const id = `issue-h${hour}-${n}`;
    created.push({
      ...issue,
      id,
      title: `Work item ${id}`,
      status: "open",
      held: true,
      assignee: null,
      dispatchAttempts: 0,
      lastDispatchAt: null,
      createdAt: at,
      updatedAt: at,
    });
  }
  // Each rig that finished something merges the request under review and queues the next.
  for (const bead of beads) if (bead.type === "merge_request" && rigsDone.has(bead.rigId)) gone.add(bead.id);
  for (const rig of rigsDone) {
    for (const state of ["in_progress", "open"] as const) {
      const id = `${rig as string}-mr-h${hour}-${state}`;
      const template = beads.find((b) => b.type === "merge_request" && b.rigId === rig && b.status === state);
      if (template) created.push({ ...template, id, createdAt: at, updatedAt: at });
    }
  }
  beads = beads.filter((b) => !gone.has(b.id)).concat(created);
  const finished = snapshot.finished && {
    ...snapshot.finished,
    issue: { ...snapshot.finished.issue, closed: snapshot.finished.issue.closed + finishing.length },
    merge_request: { ...snapshot.finished.merge_request, closed: snapshot.finished.merge_request.closed + rigsDone.size },
  };
  return {
    ...snapshot,
    town: { ...snapshot.town, updatedAt: at, progressAt: at } as StateSnapshot["town"],
    agents: agents as unknown as StateSnapshot["agents"],
    beads: beads as unknown as StateSnapshot["beads"],
    ...(finished ? { finished } : {}),
    archivedUpTo: (snapshot.archivedUpTo ?? 0) + finishing.length + rigsDone.size,
  };
}

/** The share of agent and bead rows an hour changed (added, changed or gone, over the rows there were). */
export function rowsChanged(before: StateSnapshot, after: StateSnapshot): { agents: number; beads: number } {
  const delta = deltaOf(snapshotBase(0, 0, rowsOf(before as never)), after as never, rowsOf(after as never));
  if (!delta) throw new Error("the model moved a row in its list's order: a delta cannot hold that");
  const share = (name: string, of: number) => {
    const member = delta.members.find(([n]) => n === name)?.[1];
    return member && "list" in member ? (member.list.put.length + member.list.removed.length) / of : 1;
  };
  return { agents: share("agents", before.agents.length), beads: share("beads", before.beads.length) };
}
