/**
 * A long history behind a synthetic town, written the way a real town leaves it. A calibration run (a
 * real town driven through the simulated platform) says what one finished bead leaves behind: its issue
 * and merge request rows, its events by type and the tick records around it; the seeding writes the same
 * rows, through the same store calls the town uses, for as many beads as asked — keeping, like the real
 * town, only the events, ticks and snapshots its retention keeps.
 */
import type { StoredEvent } from "../src/db/event-store";
import type { TickRow } from "../src/db/tick-store";
import type { TownStore } from "../src/db/town-store";
import type { BeadId, RigId } from "../src/domain/ids";
import { newBead, type Bead } from "../src/domain/model";
import { type FinishedCounts, finishedTotal } from "../src/domain/archive";

/** What a real town left behind per finished issue (measured by the calibration run). */
export interface HistoryProfile {
  readonly issues: number;
  /** Events per finished issue, by type, with one real row of each type as a template. */
  readonly eventsPerIssue: Record<string, number>;
  readonly eventTemplates: Record<string, Pick<StoredEvent, "agentId" | "beadId" | "payload">>;
  /** Tick records per finished issue, and real ones (with actions) to copy. */
  readonly ticksPerIssue: number;
  readonly tickTemplates: TickRow[];
  /** Database bytes per finished issue in the real run (everything: beads, events, ticks, counters). */
  readonly bytesPerIssue: number;
  /** Bytes of a body, and the share of beads with a blocker, as the calibration slung them. */
  readonly bodyChars: number;
  /**
   * What the real run cost per finished issue (the town's own row meter: every tick and request), and
   * the object's calls: alarms run and the slings (ingest of the simulated platform's events happens
   * inside the alarm here, where a real platform's arrive as requests).
   */
  readonly rowsWrittenPerIssue: number;
  readonly rowsReadPerIssue: number;
  /** Rows written per finished issue by the part of the town they are for. */
  readonly rowsWrittenByPart: Record<string, number>;
  readonly alarmsPerIssue: number;
  /** The statements that wrote most, per finished issue (a development aid). */
  readonly statements?: ReadonlyArray<{ query: string; calls: number; read: number; written: number }>;
}

/** A bead's body as the calibration slings it: an issue description of a few hundred characters. */
export function bodyOf(i: number, chars: number): string {
  const line = `Step ${i}: reproduce the failure, write a test that shows it, fix the cause, and describe the change. `;
  return line.repeat(Math.ceil(chars / line.length)).slice(0, chars);
}

export const titleOf = (i: number) => `Fix the flaky retry in module ${i % 97} when the upstream answers 503 (case ${i})`;

/** Finished issues per day in the seeded history (the rate the issue's estimate is based on). */
export const PER_DAY = 1_000;
const DAY = 86_400_000;

export interface SeedBatch {
  /** Index of the first finished issue of this batch, and how many. */
  readonly from: number;
  readonly count: number;
  /** How many finished issues the whole history has (the newest ends an hour before `now`). */
  readonly total: number;
  readonly rigs: number;
  readonly now: number;
  readonly finished: FinishedCounts;
  readonly eventRetentionMs: number;
  readonly tickRetentionMs: number;
}

/** When the i-th of `total` finished issues finished: PER_DAY a day, the last an hour ago. */
export const finishedAt = (i: number, total: number, now: number) => now - 3_600_000 - Math.round(((total - 1 - i) * DAY) / PER_DAY);

/**
 * Writes finished issues `from … from+count-1`, each with its merged merge request (archived, as the
 * town archives them), its body and blocker, and — for those inside the retention windows — its events
 * and its share of tick records. Returns the finished counts after the batch.
 */
export function seedFinished(store: TownStore, batch: SeedBatch, profile: HistoryProfile): FinishedCounts {
  const { from, count, total, rigs, now } = batch;
  const beads: Bead[] = [];
  const bodies: Array<[BeadId, string]> = [];
  for (let i = from; i < from + count; i++) {
    const at = finishedAt(i, total, now);
    const started = at - 1_800_000;
    const rigId = `rig-${i % rigs}` as RigId;
    const id = `done-${i}` as BeadId;
    const blockedBy = i % 10 === 9 && i > 0 ? [`done-${i - 1}` as BeadId] : [];
    // One in twenty failed (its review failed too): what a listing of failed beads pages through.
    const failed = i % 20 === 19;
    const lastFailure = failed ? { at, code: "agent_failed" as const, message: "the tests did not pass", rule: null, agentId: null, generation: 1 } : null;
    beads.push(
      newBead(
        {
          id,
          rigId,
          type: "issue",
          title: titleOf(i),
          priority: i % 5,
          status: failed ? "failed" : "closed",
          lastFailure,
          blockedBy,
          dispatchAttempts: 1,
          lastDispatchAt: started,
          createdAt: started - 600_000,
          updatedAt: at,
        },
        started,
      ),
      newBead(
        {
          id: `${id}:mr:1` as BeadId,
          rigId,
          type: "merge_request",
          title: `Merge: ${titleOf(i)}`,
          priority: i % 5,
          status: failed ? "failed" : "closed",
          merged: !failed,
          lastFailure,
          sourceBeadId: id,
          branch: `agents/${id}`,
          prUrl: `https://git.example/rig-${i % rigs}/pull/${i}`,
          dispatchAttempts: 1,
          lastDispatchAt: at - 300_000,
          updatedAt: at,
        },
        at - 900_000,
      ),
    );
    bodies.push([id, bodyOf(i, profile.bodyChars)]);
  }
  const after = structuredClone(batch.finished);
  for (const bead of beads) after[bead.type][bead.status as "closed" | "failed"] += 1;

  store.transaction(() => {
    store.state.persist(
      {
        town: null,
        rigs: [],
        agents: [],
        beads,
        beadsWere: new Map(),
        agentsWere: new Map(),
        createdBeads: beads,
        createdAgents: [],
        archived: beads,
        revived: [],
        reblocked: [],
        archivedUpTo: finishedTotal(batch.finished),
        purgedAgents: [],
        usage: [],
      },
      batch.finished,
    );
    for (const [id, body] of bodies) store.state.setBeadBody(id, body);
    // Events and ticks only where retention still keeps them.
    for (let i = from; i < from + count; i++) {
      const at = finishedAt(i, total, now);
      if (at >= now - batch.eventRetentionMs) store.events.append(eventsOf(i, at, profile), at);
    }
    for (let i = from; i < from + count; i++) {
      const at = finishedAt(i, total, now);
      if (at < now - batch.tickRetentionMs) continue;
      // Each issue's share of ticks (fractional shares accumulate over consecutive issues).
      const due = Math.floor((i + 1) * profile.ticksPerIssue) - Math.floor(i * profile.ticksPerIssue);
      for (let k = 0; k < due; k++) {
        const { id: _id, ...row } = profile.tickTemplates[(i + k) % profile.tickTemplates.length]!;
        store.ticks.insert({ ...row, at });
      }
    }
  });
  return after;
}

/** The events a finished issue left, from the real templates (ids and times made its own). */
function eventsOf(i: number, at: number, profile: HistoryProfile) {
  const rows = [];
  for (const [type, perIssue] of Object.entries(profile.eventsPerIssue)) {
    const due = Math.floor((i + 1) * perIssue) - Math.floor(i * perIssue);
    const template = profile.eventTemplates[type]!;
    for (let k = 0; k < due; k++) {
      rows.push({
        eventId: `history:${i}:${type}:${k}`,
        type,
        agentId: template.agentId,
        beadId: template.beadId === null ? null : `done-${i}`,
        payload: template.payload,
        createdAt: at - 60_000,
      });
    }
  }
  return rows;
}
