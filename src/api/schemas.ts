import { z } from "zod";
import { TownConfigOverridesSchema } from "../domain/config";
import {
  AgentCompletedPayload,
  AgentDonePayload,
  ContainerStatusPayload,
  PrStatusChangedPayload,
} from "../domain/events";
import { AgentIdSchema, BeadIdSchema, RigIdSchema } from "../domain/ids";
import { CONTAINER_STATUSES } from "../domain/model";

/**
 * The request bodies of the public API (DESIGN §6). Routes validate with these before anything
 * reaches a town; the OpenAPI description is generated from them.
 */

const text = (max: number) => z.string().trim().min(1).max(max);

export const PutTownBody = z.object({ config: TownConfigOverridesSchema.optional() }).strict();

export const AddRigBody = z
  .object({
    id: RigIdSchema.optional(),
    name: text(200),
    gitUrl: text(2_000),
    defaultBranch: text(200).optional(),
  })
  .strict();

export const SlingBeadBody = z
  .object({
    id: BeadIdSchema.optional(),
    rigId: RigIdSchema,
    title: text(500),
    body: z.string().max(100_000).optional(),
    priority: z.number().int().min(0).max(4).optional(),
    blockedBy: z.array(BeadIdSchema).max(100).optional(),
    held: z.boolean().optional(),
  })
  .strict();

export const CreateConvoyBody = z
  .object({ id: BeadIdSchema.optional(), title: text(500), beadIds: z.array(BeadIdSchema).min(1).max(1_000) })
  .strict();

export const CancelBeadBody = z
  .object({ status: z.enum(["closed", "failed"]).optional(), reason: z.string().max(2_000).optional() })
  .strict();

const eventId = z.string().min(1).max(200);

/**
 * Every agent callback names the generation it belongs to (DESIGN §4.4): without it a container from
 * an older dispatch could close the wrong bead. (The log's own schema still reads events older
 * versions stored without one.)
 */
const generation = z.number({ error: "generation is required: the generation of the dispatch this callback belongs to" }).int().min(0);

/** Events an agent (or the platform on its behalf) may send: callbacks, never commands or internal results. */
export const IngestEvent = z.discriminatedUnion("type", [
  z.object({ eventId, type: z.literal("agent_done"), agentId: AgentIdSchema, beadId: z.null().optional(), payload: AgentDonePayload.extend({ generation }) }).strict(),
  z.object({ eventId, type: z.literal("agent_completed"), agentId: AgentIdSchema, beadId: z.null().optional(), payload: AgentCompletedPayload.extend({ generation }) }).strict(),
  z.object({ eventId, type: z.literal("pr_status_changed"), agentId: z.null().optional(), beadId: BeadIdSchema, payload: PrStatusChangedPayload }).strict(),
  z.object({ eventId, type: z.literal("container_status"), agentId: AgentIdSchema, beadId: z.null().optional(), payload: ContainerStatusPayload.extend({ generation }) }).strict(),
]);

/** At most this many events per ingest request. */
export const MAX_INGEST_BATCH = 1_000;

export const IngestBody = z.object({ events: z.array(IngestEvent).min(1).max(MAX_INGEST_BATCH) }).strict();

export const HeartbeatBody = z
  .object({ generation: z.number().int().min(0), containerStatus: z.enum(CONTAINER_STATUSES).optional() })
  .strict();

export type PutTownInput = z.infer<typeof PutTownBody>;
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
export const TicksQuery = z.object({ ...windowShape, format: z.enum(["json", "csv"]).optional(), fields: z.enum(["full", "slim"]).optional() }).refine(inOrder, ORDER);

export type TickWindowInput = z.infer<typeof TickWindowQuery>;

/** An ISO 8601 date, required (replay windows are explicit). */
const IsoDate = moment(false);

export const ReplayBody = z
  .object({ from: IsoDate, to: IsoDate })
  .strict()
  .refine((q) => q.from <= q.to, { message: "from must not be after to", path: ["from"] });

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
