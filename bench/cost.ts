/**
 * The cost part of `npm run bench` (DESIGN §4.7, §7 Cost): rows written per applied event, per
 * 1,000-event tick, per steady tick, per idle hour, per finished bead and per snapshot, each beside its
 * floor, and dollars per town-month for an idle, a typical and a busy town at the price list of
 * bench/prices.ts. Rows are counted from every statement's cursor inside the benchmark Worker
 * (`benchCost`, `benchIdle`, the calibration), so they do not depend on the machine.
 */
import { dollars, dollarsAlone, PRICES, type MonthlyUse } from "./prices";

/** What `benchCost` answers (bench/worker.ts). */
export interface CostProbe {
  changedAgents: number;
  steady: Counted;
  busy: Counted;
  ingest: Counted;
  drain: Counted;
  heartbeat: Counted;
  snapshot: Counted & { storedBytes: number };
  floor: {
    insert: number;
    processed: number;
    agents: number;
    tickRecord: number;
    heartbeat: number;
    eventDelete: number;
    tickDelete: number;
    beadInsert: number;
    beadTransition: number;
    beadLeaving: number;
    usageInterval: number;
    alarm: number;
    snapshot: number;
  };
}

interface Counted {
  read: number;
  written: number;
  byPart: Record<string, number>;
  statements: Array<{ query: string; calls: number; read: number; written: number }>;
}

export interface IdleProbe {
  read: number;
  written: number;
  byPart: Record<string, number>;
  wakeAfterMs: number | null;
  databaseSize: number;
}

/** The calibration's figures per finished issue (bench/history.ts). */
export interface BeadProfile {
  eventsPerIssue: Record<string, number>;
  ticksPerIssue: number;
  bytesPerIssue: number;
  rowsWrittenPerIssue: number;
  rowsReadPerIssue: number;
  rowsWrittenByPart: Record<string, number>;
  alarmsPerIssue: number;
}

export interface CostInputs {
  /** The 1,000-agent / 10,000-bead town's probe, and the 100 / 1,000 one's (its snapshot stands in for a typical town's). */
  large: CostProbe;
  small: CostProbe;
  idle: IdleProbe;
  profile: BeadProfile;
  /** Median whole alarm in steady state, ms (the duration billed per alarm in the model). */
  alarmMs: number;
  /** Storage growth per finished bead once its events and ticks are past retention (lifetime part), bytes. */
  archivedBytesPerBead: number;
}

/** Events a real agent platform sends as requests (the rest the town logs itself: dispatch results, rig changes). */
const EXTERNAL_EVENTS = new Set(["agent_done", "container_status", "pr_status_changed"]);
const HOURS_PER_MONTH = 730;
const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;
/** The workload model's assumptions (stated in RESULTS.md with the table). */
export const MODEL = {
  /** A working agent's container heartbeats every 30 s (half the default 60 s heartbeat timeout). */
  heartbeatEveryMs: 30_000,
  /** A town with agents at work wakes at least once a minute (the default idleAlarmMs) besides its work's ticks. */
  wakesPerDayWhileWorking: 1_440,
  /** Hourly snapshots (default snapshotIntervalMs); a week of them kept. */
  snapshotsPerDay: 24,
  snapshotsKept: 168,
  /** Events and tick records are kept 7 days (default retention). */
  retentionDays: 7,
  /** Billed active time of a heartbeat or an ingest request, ms (not measured here: the object does one indexed update). */
  requestMs: 1,
} as const;

/**
 * Counters in a tick's floor: the town keeps its cumulative metrics durable, and one row can hold what a
 * tick adds to them, however many series it touches.
 */
const COUNTER_ROWS_A_TICK = 1;
/** A finished issue's bead changes (issue: to work, to review, closed; merge request: to work, closed) and dispatches (a polecat, a refinery). */
const BEAD_CHANGES = 5;
const DISPATCHES = 2;

interface Figure {
  name: string;
  measured: number;
  floor: number;
  note: string;
}

export function costSection(log: (line?: string) => void, fmt: (n: number, digits?: number) => string, input: CostInputs): { figures: Figure[] } {
  const { large: c, idle, profile } = input;
  const f = c.floor;
  const perEvent = (c.ingest.written + c.drain.written - c.steady.written) / 1_000;
  const perEventFloor = (f.insert + f.processed + f.agents) / 1_000;
  const wakesPerHour = idle.wakeAfterMs === null ? 0 : 3_600_000 / Math.max(1, idle.wakeAfterMs);
  const eventsPerIssue = Object.values(profile.eventsPerIssue).reduce((a, b) => a + b, 0);
  const outbox = profile.rowsWrittenByPart.outbox ?? 0;
  // A finished issue's floor: its events (insert, status); its issue and merge request inserted and taken
  // through their statuses once (the issue open → in progress → in review → closed, its merge request
  // open → in progress → closed: five changes), each leaving the working set with its last change; its
  // agents' two changes per dispatch (to work, back) for its two dispatches, and each container interval
  // metered (its day's row and the total); its side effects' outbox rows as the calibration wrote them
  // (each dispatch and stop kept until done); and each of its ticks' record, alarm and one row of counters.
  const beadFloor =
    eventsPerIssue * ((f.insert + f.processed) / 1_000) +
    2 * f.beadInsert +
    BEAD_CHANGES * f.beadTransition +
    2 * f.beadLeaving +
    4 +
    DISPATCHES * f.usageInterval +
    outbox +
    profile.ticksPerIssue * (f.tickRecord + f.alarm + COUNTER_ROWS_A_TICK);
  const figures: Figure[] = [
    {
      name: "per applied event (ingest, drain, its agent's change)",
      measured: perEvent,
      floor: perEventFloor,
      note: "insert with its 4 indexes; status with the pending and processed-at indexes; a changed agent once",
    },
    {
      name: "per 1,000-event tick (the whole alarm)",
      measured: c.busy.written,
      floor: f.processed + f.agents + f.tickRecord + f.alarm + COUNTER_ROWS_A_TICK,
      note: `1,000 events marked processed, ${fmt(c.changedAgents, 0)} agents changed once, the tick record, the alarm, one row of counters`,
    },
    {
      name: "per steady tick (the whole alarm)",
      measured: c.steady.written,
      floor: f.tickRecord + f.alarm + COUNTER_ROWS_A_TICK,
      note: "the tick record with its index, the alarm, one row of counters",
    },
    {
      name: "per idle hour",
      measured: wakesPerHour * idle.written,
      floor: wakesPerHour * (f.tickRecord + f.alarm + COUNTER_ROWS_A_TICK),
      note: idle.wakeAfterMs === null ? "a town that owes nothing sets no alarm: nothing runs" : `${fmt(wakesPerHour, 1)} wakes`,
    },
    {
      name: "per finished bead (sling to merged, every tick and request)",
      measured: profile.rowsWrittenPerIssue,
      floor: beadFloor,
      note: `${fmt(eventsPerIssue, 2)} events (insert, processed), 2 beads inserted and changed ${BEAD_CHANGES} times in all (${fmt(f.beadTransition, 0)} rows a change, ${fmt(f.beadLeaving, 0)} more as each leaves the working set), 4 agent changes, ${DISPATCHES} container intervals metered (${fmt(f.usageInterval, 0)} rows each), ${fmt(outbox, 1)} outbox rows, ${fmt(profile.ticksPerIssue, 2)} ticks' record, alarm and counters row`,
    },
    {
      name: "per snapshot (1,000 / 10,000 town)",
      measured: c.snapshot.written,
      floor: f.snapshot,
      note: `its row and index, ${fmt(c.snapshot.storedBytes / 1024, 1)} KiB compressed in its chunk rows`,
    },
  ];
  const ratio = (x: Figure) => (x.floor === 0 ? (x.measured === 0 ? 1 : Infinity) : x.measured / x.floor);

  log("## Cost");
  log();
  log("Rows written, counted from every SQL statement's cursor inside the object (as Durable Object SQLite bills");
  log("them: each index entry is a row; `setAlarm()` and a key `put()` a row each), on the 1,000 / 10,000 town. Row");
  log("counts do not depend on the machine. The floor is the rows the change itself needs — the event's insert and");
  log("status update, each changed row once, with the indexes they touch — measured by running that SQL against the");
  log("same tables in a transaction rolled back afterwards. Every tick's floor has its record (with its index), its alarm");
  log("and one row of counters (the cumulative metrics must be durable; one row can hold what a tick adds to them).");
  log();
  log("| rows written | measured | floor | ratio | the floor is |");
  log("|---|---|---|---|---|");
  for (const x of figures)
    log(
      `| ${x.name} | ${fmt(x.measured, 2)} | ${fmt(x.floor, 2)} | ${x.floor === 0 && x.measured === 0 ? "— (nothing)" : `${fmt(ratio(x), 2)} ×`}${ratio(x) > 1.25 ? " **above 1.25**" : ""} | ${x.note} |`,
    );
  log();
  log("Where a tick's rows go (rows written by part):");
  log();
  const parts = [
    ...new Set([
      ...Object.keys(c.steady.byPart),
      ...Object.keys(c.busy.byPart),
      ...Object.keys(c.ingest.byPart),
      ...Object.keys(c.snapshot.byPart),
      ...Object.keys(profile.rowsWrittenByPart),
    ]),
  ];
  log(`| step | ${parts.join(" | ")} | all |`);
  log(`|---|${parts.map(() => "---").join("|")}|---|`);
  const partRow = (name: string, x: Counted) => log(`| ${name} | ${parts.map((p) => fmt(x.byPart[p] ?? 0, 0)).join(" | ")} | ${fmt(x.written, 0)} |`);
  partRow("steady alarm", c.steady);
  partRow("1,000-event alarm", c.busy);
  partRow("ingest of 1,000 events (the command)", c.ingest);
  partRow("a heartbeat", c.heartbeat);
  partRow("a snapshot", c.snapshot);
  log(
    `| a finished bead (the calibration's town, per issue) | ${parts.map((p) => fmt(profile.rowsWrittenByPart[p] ?? 0, 1)).join(" | ")} | ${fmt(profile.rowsWrittenPerIssue, 1)} |`,
  );
  log();
  log("(the simulated platform's own rows, in its column, are not counted in a finished bead's figure: a real platform keeps its own).");
  log();
  // ---- dollars ---------------------------------------------------------------------------------------
  const external = Object.entries(profile.eventsPerIssue)
    .filter(([type]) => EXTERNAL_EVENTS.has(type))
    .reduce((n, [, k]) => n + k, 0);
  const working = (agents: number, beadsPerDay: number, probe: CostProbe): MonthlyUse & { parts: Record<string, number> } => {
    const finished = beadsPerDay * DAYS_PER_MONTH;
    const heartbeats = (agents * 86_400_000 * DAYS_PER_MONTH) / MODEL.heartbeatEveryMs;
    const wakes = MODEL.wakesPerDayWhileWorking * DAYS_PER_MONTH;
    const snapshots = MODEL.snapshotsPerDay * DAYS_PER_MONTH;
    const retention = finished * (eventsPerIssue * f.eventDelete + profile.ticksPerIssue * f.tickDelete);
    const parts = {
      beads: finished * profile.rowsWrittenPerIssue,
      heartbeats: heartbeats * c.heartbeat.written,
      wakes: wakes * c.steady.written,
      snapshots: snapshots * probe.snapshot.written,
      retention,
    };
    const alarms = finished * profile.alarmsPerIssue + wakes;
    return {
      requests: alarms + finished * (1 + external) + heartbeats,
      gbSeconds: ((alarms * input.alarmMs + (finished * (1 + external) + heartbeats) * MODEL.requestMs) / 1000) * PRICES.duration.gbPerObject,
      rowsRead: finished * profile.rowsReadPerIssue + heartbeats * c.heartbeat.read + wakes * c.steady.read + snapshots * probe.snapshot.read,
      rowsWritten: Object.values(parts).reduce((a, b) => a + b, 0),
      storedBytes:
        MODEL.retentionDays * beadsPerDay * profile.bytesPerIssue +
        MODEL.snapshotsKept * probe.snapshot.storedBytes +
        (finished / 2) * input.archivedBytesPerBead,
      parts,
    };
  };
  const idleUse: MonthlyUse & { parts: Record<string, number> } = {
    requests: wakesPerHour * HOURS_PER_MONTH,
    gbSeconds: ((wakesPerHour * HOURS_PER_MONTH * input.alarmMs) / 1000) * PRICES.duration.gbPerObject,
    rowsRead: wakesPerHour * HOURS_PER_MONTH * idle.read,
    rowsWritten: wakesPerHour * HOURS_PER_MONTH * idle.written,
    storedBytes: idle.databaseSize,
    parts: { wakes: wakesPerHour * HOURS_PER_MONTH * idle.written },
  };
  const towns: Array<[string, MonthlyUse & { parts: Record<string, number> }]> = [
    ["idle (nothing at work)", idleUse],
    ["typical (50 agents, 500 beads a day)", working(50, 500, input.small)],
    ["busy (1,000 agents, 10,000 beads a day)", working(1_000, 10_000, c)],
  ];
  log("## Dollars per town-month");
  log();
  log(`At the published price list (${PRICES.source}, read ${PRICES.read}; bench/prices.ts): requests $${PRICES.requests.dollarsPerMillion}/million,`);
  log(
    `duration $${PRICES.duration.dollarsPerMillionGbSeconds}/million GB-s (128 MB an object), rows read $${PRICES.rowsRead.dollarsPerMillion}/million, rows written`,
  );
  log(
    `$${PRICES.rowsWritten.dollarsPerMillion}/million, stored data $${PRICES.storedData.dollarsPerGbMonth}/GB-month; the Workers Paid plan includes 1 million requests, 400,000 GB-s,`,
  );
  log('25 billion rows read, 50 million rows written and 5 GB-month a month per account. "Per town" is list price with');
  log('nothing included (one more town on an account past its allowances); "alone" takes the included amounts off first.');
  log();
  log("The model (a month is 730 hours), from the figures above and the calibration's real town:");
  log();
  log(
    `- idle: a town with nothing at work; ${idle.wakeAfterMs === null ? "it sets no alarm and sleeps (the watchdog asks only towns that owe a tick), so it pays for its storage alone" : `it wakes every ${fmt(idle.wakeAfterMs / 1000, 0)} s`}; its database is ${fmt(idle.databaseSize / 1024, 0)} KiB.`,
  );
  log(
    `- typical and busy: each finished bead costs what one cost the calibration's town (${fmt(profile.rowsWrittenPerIssue, 1)} rows written, ${fmt(profile.alarmsPerIssue, 2)} alarms, one sling and ${fmt(external, 2)} platform events as requests);`,
  );
  log(
    `  every working agent heartbeats every ${MODEL.heartbeatEveryMs / 1000} s (a request, ${fmt(c.heartbeat.written, 0)} row written); the town wakes ${fmt(MODEL.wakesPerDayWhileWorking, 0)} times a day besides (steady alarms);`,
  );
  log(
    `  ${MODEL.snapshotsPerDay} snapshots a day (the typical town's as the 100 / 1,000 town's, the busy one's as the 1,000 / 10,000 town's); retention deletes each event and tick`,
  );
  log(`  record after ${MODEL.retentionDays} days (a delete is a row written, with its indexes); an alarm is billed its measured steady duration`);
  log(
    `  (${fmt(input.alarmMs, 1)} ms), a request ${MODEL.requestMs} ms; storage is the week of history, the ${MODEL.snapshotsKept} snapshots and half a month of archived beads.`,
  );
  log();
  log(
    "| town | requests | GB-s | rows read | rows written | stored | $ requests | $ duration | $ rows read | $ rows written | $ storage | $ per town | $ alone |",
  );
  log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  const money = (n: number) => (n < 0.01 && n > 0 ? `${n.toFixed(4)}` : n.toFixed(2));
  for (const [name, use] of towns) {
    const d = dollars(use);
    log(
      `| ${name} | ${fmt(use.requests, 0)} | ${fmt(use.gbSeconds, 0)} | ${fmt(use.rowsRead, 0)} | ${fmt(use.rowsWritten, 0)} | ${fmt(use.storedBytes / 2 ** 20, 1)} MiB | ${money(d.requests)} | ${money(d.duration)} | ${money(d.rowsRead)} | ${money(d.rowsWritten)} | ${money(d.storage)} | **${money(d.total)}** | ${money(dollarsAlone(use))} |`,
    );
  }
  log();
  log("Rows written a month, by what writes them:");
  log();
  log("| town | finished beads | heartbeats | wakes | snapshots | retention |");
  log("|---|---|---|---|---|---|");
  for (const [name, use] of towns)
    log(`| ${name} | ${["beads", "heartbeats", "wakes", "snapshots", "retention"].map((k) => fmt(use.parts[k] ?? 0, 0)).join(" | ")} |`);
  log();
  return { figures };
}
