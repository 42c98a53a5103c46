import { z } from "zod";
import { TownConfigOverridesSchema } from "../domain/config";
import { AGENT_ROLES, AGENT_STATUSES, BEAD_STATUSES, BEAD_TYPES } from "../domain/model";
import {
  AgentCompletedPayload,
  AgentDonePayload,
  BeadCancelledPayload,
  BeadEditedPayload,
  BeadHeldPayload,
  BeadRequeuedPayload,
  BeadCreatedPayload,
  ContainerStatusPayload,
  ConvoyCreatedPayload,
  eventSchema,
  GenerationSchema,
  PrStatusChangedPayload,
  RigAddedPayload,
} from "../domain/events";
import { BeadIdSchema, RigIdSchema } from "../domain/ids";

/**
 * The request bodies of the public API (DESIGN §6). Routes validate with these before anything
 * reaches a town; the OpenAPI description is generated from them. A command's body is the payload of
 * the event it is logged as (src/domain/events.ts), with the ids a caller may pick and the fields that
 * have defaults made optional: each limit is stated once, there, and the log checks the same.
 */

export const PutTownBody = z.object({ config: TownConfigOverridesSchema.optional() }).strict();

/** `rig_added`, its id optional (a new one is made) and the default branch too (`main`). */
const { rigId: _rigId, ...rig } = RigAddedPayload.shape;
export const AddRigBody = z.object({ id: RigIdSchema.optional(), ...rig, defaultBranch: rig.defaultBranch.optional() }).strict();

/** `bead_created`, its id optional, and priority, blockers and hold with their defaults (2, none, not held). */
export const SlingBeadBody = z
  .object({ id: BeadIdSchema.optional(), ...BeadCreatedPayload.partial({ priority: true, blockedBy: true, held: true }).shape })
  .strict();

export const CreateConvoyBody = z.object({ id: BeadIdSchema.optional(), ...ConvoyCreatedPayload.shape }).strict();

/** `bead_cancelled`, the status optional (`failed`). */
export const CancelBeadBody = BeadCancelledPayload.partial({ status: true });

/** `bead_held`: the reason is optional. */
export const HoldBeadBody = BeadHeldPayload;
/** `bead_requeued`: the reason is optional. */
export const RequeueBeadBody = BeadRequeuedPayload;
/** `bead_edited`: at least one of title, body, priority, blockedBy. */
export const EditBeadBody = BeadEditedPayload;
/** Pausing says why (the status, explain and the status page show it). */
export const PauseBody = z.object({ reason: z.string().trim().min(1).max(500) }).strict();

/** A page size: 1 to `max`, default `fallback`. */
const pageLimit = (max: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,5}$/, { message: `must be a whole number from 1 to ${max}` })
    .transform(Number)
    .refine((n) => n <= max, { message: `must be at most ${max}` });

/** At most this many rows per page of the fleet status. */
export const MAX_FLEET_PAGE = 10_000;

/** `GET /api/fleet/status`: all towns (the default, what the Grafana alert rules read) or a page of them. */
export const FleetStatusQuery = z
  .object({
    problems: z.enum(["only", "all"]).optional(),
    limit: pageLimit(MAX_FLEET_PAGE).optional(),
    cursor: z.string().max(400).optional(),
  })
  .strict();

/** `GET /api/fleet/targets`: every town, or the towns of one registry shard. */
export const FleetTargetsQuery = z
  .object({
    shard: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,3})$/, { message: "must be a shard number: 0, 1, … (GET /api/fleet/shards lists them)" })
      .transform(Number)
      .optional(),
  })
  .strict();

/** At most this many beads per page of a listing. */
export const MAX_BEAD_PAGE = 1_000;

export const ListBeadsQuery = z
  .object({
    status: z.enum(BEAD_STATUSES).optional(),
    rig: RigIdSchema.optional(),
    type: z.enum(BEAD_TYPES).optional(),
    held: z
      .enum(["true", "false"])
      .transform((held) => held === "true")
      .optional(),
    limit: pageLimit(MAX_BEAD_PAGE).optional(),
    cursor: z.string().max(400).optional(),
  })
  .strict();

export const ListAgentsQuery = z
  .object({ status: z.enum(AGENT_STATUSES).optional(), rig: RigIdSchema.optional(), role: z.enum(AGENT_ROLES).optional() })
  .strict();

/** At most this many entries of a bead's history per answer. */
export const MAX_HISTORY_ENTRIES = 1_000;
export const BeadHistoryQuery = z.object({ limit: pageLimit(MAX_HISTORY_ENTRIES).optional() }).strict();

export const DeleteRigQuery = z
  .object({
    cancel: z
      .enum(["true", "false"])
      .transform((cancel) => cancel === "true")
      .optional(),
  })
  .strict();

/** At most this many beads one bulk call acts on. */
export const MAX_BULK_BEADS = 1_000;

/** One action over the beads a filter names (DESIGN §4.6): at most 1,000 a call. */
export const BulkBody = z
  .object({
    action: z.enum(["retry", "hold", "release", "cancel"]),
    filter: z
      .object({
        status: z.enum(BEAD_STATUSES).optional(),
        rig: RigIdSchema.optional(),
        type: z.enum(BEAD_TYPES).optional(),
        ids: z.array(BeadIdSchema).min(1).max(MAX_BULK_BEADS).optional(),
      })
      .strict()
      .refine((filter) => Object.keys(filter).length > 0, { message: "name at least one of status, rig, type, ids (an empty filter would take every bead)" }),
    limit: z.number().int().min(1).max(MAX_BULK_BEADS).optional(),
  })
  .strict();

export type EditBeadInput = z.infer<typeof EditBeadBody>;
export type BulkInput = z.infer<typeof BulkBody>;
export type ListBeadsInput = z.infer<typeof ListBeadsQuery>;
export type ListAgentsInput = z.infer<typeof ListAgentsQuery>;

/** The client's own id of an event (its idempotency key, DESIGN §4.1). */
const eventId = z.string().min(1).max(200);

/**
 * An agent callback as the events route takes it: the event's type and ids as the log defines them,
 * the client's event id, and the payload as the route takes it.
 */
const callback = <S extends z.ZodRawShape, P extends z.ZodObject>(event: z.ZodObject<S>, payload: P) =>
  z.object({ eventId }).extend(event.shape).extend({ payload }).strict();

/**
 * Every agent callback about a dispatch names its generation (DESIGN §4.4): without it a container
 * from an older dispatch could close the wrong bead. (The log still reads events older versions
 * stored without one.)
 */
const dispatched = { generation: GenerationSchema };

/** Events an agent (or the platform on its behalf) may send: callbacks, never commands or internal results. */
export const IngestEvent = z.discriminatedUnion("type", [
  callback(eventSchema("agent_done"), AgentDonePayload.extend(dispatched)),
  callback(eventSchema("agent_completed"), AgentCompletedPayload.extend(dispatched)),
  callback(eventSchema("pr_status_changed"), PrStatusChangedPayload),
  callback(eventSchema("container_status"), ContainerStatusPayload.extend(dispatched)),
]);

/** At most this many events per ingest request. */
export const MAX_INGEST_BATCH = 1_000;

export const IngestBody = z.object({ events: z.array(IngestEvent).min(1).max(MAX_INGEST_BATCH) }).strict();

/** An observation of the container of a dispatch: its generation, and the status `container_status` logs. */
export const HeartbeatBody = z.object({ generation: GenerationSchema, containerStatus: ContainerStatusPayload.shape.status.optional() }).strict();

export type AddRigInput = z.infer<typeof AddRigBody>;
export type SlingBeadInput = z.infer<typeof SlingBeadBody>;
export type CreateConvoyInput = z.infer<typeof CreateConvoyBody>;
export type CancelBeadInput = z.infer<typeof CancelBeadBody>;
export type IngestInput = z.infer<typeof IngestBody>;
export type HeartbeatInput = z.infer<typeof HeartbeatBody>;

/**
 * A point in time as epoch milliseconds, from an ISO 8601 date — or, where `epochMs` allows, from a
 * number of milliseconds (what Grafana's `${__from}` gives).
 */
const moment = (epochMs: boolean) =>
  z
    .string()
    .trim()
    .min(1)
    .transform((text, ctx) => {
      const ms = epochMs && /^\d+$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
      if (!Number.isFinite(ms)) {
        ctx.addIssue({ code: "custom", message: `"${text.slice(0, 40)}" is not an ISO 8601 date${epochMs ? " or epoch milliseconds" : ""}` });
        return z.NEVER;
      }
      return ms;
    });
const Moment = moment(true);

/** At most this many ticks in one answer (a day of 10-second ticks is 8,640). */
export const MAX_TICK_ROWS = 10_000;

/** How many of the window's newest ticks to answer with. */
const Limit = z
  .string()
  .regex(/^[1-9][0-9]{0,5}$/, { message: `must be a whole number from 1 to ${MAX_TICK_ROWS}` })
  .transform(Number)
  .refine((n) => n <= MAX_TICK_ROWS, { message: `must be at most ${MAX_TICK_ROWS}` });

const windowShape = { from: Moment.optional(), to: Moment.optional(), limit: Limit.optional() };
const inOrder = (q: { from?: number | undefined; to?: number | undefined }) => q.from === undefined || q.to === undefined || q.from <= q.to;
const ORDER = { message: "from must not be after to", path: ["from"] };

/** `from` and `to` of a tick-history window (defaults: the last hour). */
export const TickWindowQuery = z.object(windowShape).refine(inOrder, ORDER);
/** `fields=slim`: the columns pages and dashboards draw (no phases, per-rule counts, alarm reasons or errors). */
export const TicksQuery = z
  .object({ ...windowShape, format: z.enum(["json", "csv"]).optional(), fields: z.enum(["full", "slim"]).optional() })
  .refine(inOrder, ORDER);

export type TickWindowInput = z.infer<typeof TickWindowQuery>;

/** An ISO 8601 date, required (replay windows are explicit). */
const IsoDate = moment(false);

export const ReplayBody = z.object({ from: IsoDate, to: IsoDate }).strict().refine(inOrder, ORDER);

/**
 * `from` and `to` of a history export (ISO 8601 or epoch ms, both required: a bundle's window is
 * explicit), and whether to include bead bodies.
 */
export const HistoryQuery = z
  .object({ from: Moment, to: Moment, bodies: z.enum(["0", "1"]).optional() })
  .strict()
  .refine(inOrder, ORDER);

export type HistoryInput = z.infer<typeof HistoryQuery>;

/** A POST that takes no input: an empty body or `{}`. */
export const EmptyBody = z.object({}).strict();

export const DebugEventsQuery = z.object({ status: z.enum(["dead", "pending"]).default("dead") });

export type ReplayInput = z.infer<typeof ReplayBody>;
