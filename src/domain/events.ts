import { MAX_ERROR_TEXT } from "./format";
import { z } from "zod";
import { TownConfigOverridesSchema } from "./config";
import { AgentIdSchema, BeadIdSchema, isId, RigIdSchema, type AgentId } from "./ids";
import { CONTAINER_STATUSES, PAUSERS } from "./model";

/**
 * Town events: every change to a town enters as one of these. The schemas validate them at the HTTP
 * boundary (an invalid event is rejected and never stored) and again when a stored row is drained
 * (a row written by an older version, or corrupted, is retried and then dead-lettered, never guessed at).
 */

const text = (max: number) => z.string().trim().min(1).max(max);

/**
 * The generation of the dispatch a callback or a dispatch result belongs to (DESIGN §4.4): it fences
 * off a container of an older dispatch.
 */
export const GenerationSchema = z
  .number({ error: (issue) => (issue.input === undefined ? "generation is required: the generation of the dispatch this callback belongs to" : undefined) })
  .int()
  .min(0);
/** Older versions logged callbacks without a generation: the log still reads them (the events route requires it). */
const generation = GenerationSchema.optional();

/**
 * The pull request a branch became, where the platform knows it: a web address only, since whoever
 * reads it back may show it as a link (a javascript:, data: or file: URL there would run or read
 * something in an operator's browser).
 */
const prUrl = z
  .url({ protocol: /^https?$/, error: "must be an http or https URL" })
  .max(2_000)
  .optional();

/** The town's config overrides after a reconfiguration (logged so replay uses the config of the time). */
export const TownConfiguredPayload = z.object({ overrides: TownConfigOverridesSchema }).strict();

export const RigAddedPayload = z
  .object({
    rigId: RigIdSchema,
    name: text(200),
    gitUrl: text(2_000),
    defaultBranch: text(200),
  })
  .strict();

export const BeadCreatedPayload = z
  .object({
    rigId: RigIdSchema,
    title: text(500),
    body: z.string().max(100_000).optional(),
    priority: z.number().int().min(0).max(4),
    blockedBy: z.array(BeadIdSchema).max(100),
    held: z.boolean(),
  })
  .strict();

export const BeadCancelledPayload = z.object({ status: z.enum(["closed", "failed"]), reason: z.string().max(2_000).optional() }).strict();

export const ConvoyCreatedPayload = z.object({ title: text(500), beadIds: z.array(BeadIdSchema).min(1).max(1_000) }).strict();

export const AgentDonePayload = z
  .object({
    generation,
    branch: text(500),
    prUrl,
    summary: z.string().max(10_000).optional(),
  })
  .strict();

export const AgentCompletedPayload = z.object({ generation, status: z.enum(["completed", "failed"]), reason: z.string().max(10_000).optional() }).strict();

export const PrStatusChangedPayload = z.object({ status: z.enum(["merged", "closed"]), prUrl }).strict();

export const ContainerStatusPayload = z.object({ generation, status: z.enum(CONTAINER_STATUSES) }).strict();

export const DispatchResultPayload = z
  .object({
    effectId: z.string().min(1).max(300),
    kind: z.enum(["dispatch", "stop"]),
    generation: GenerationSchema,
    outcome: z.enum(["ok", "failed", "timeout"]),
    error: z.string().max(MAX_ERROR_TEXT).optional(),
    /** The bead the call concerned (a timed-out dispatch owes a stop that holds it back). */
    beadId: BeadIdSchema.nullable().optional(),
  })
  .strict();

/** Operators' commands on one bead (DESIGN §4.6). */
export const BeadRetriedPayload = z
  .object({
    /**
     * The bead as it stood when it was retried, relations included: a failed bead has usually left the
     * working set, and a replay from a snapshot taken before may not find it in the archive any more.
     */
    bead: z.record(z.string(), z.unknown()),
  })
  .strict();
export const BeadHeldPayload = z.object({ reason: z.string().trim().max(2_000).optional() }).strict();
export const BeadReleasedPayload = z.object({}).strict();
export const BeadRequeuedPayload = z.object({ reason: z.string().trim().max(2_000).optional() }).strict();
/** What an edit changes of an unfinished bead; the body is stored beside the state, not in it. */
export const BeadEditedPayload = z
  .object({
    title: text(500).optional(),
    body: z.string().max(100_000).optional(),
    priority: z.number().int().min(0).max(4).optional(),
    blockedBy: z.array(BeadIdSchema).max(100).optional(),
  })
  .strict()
  .refine((edit) => Object.keys(edit).length > 0, { message: "name at least one of title, body, priority, blockedBy" });

/** A rig deleted: its unfinished work cancelled (`cancel`) or none left, its agents retired. */
export const RigDeletedPayload = z.object({ rigId: RigIdSchema, cancel: z.boolean() }).strict();

/** The town stops dispatching until it is resumed; who paused it, and why. */
export const TownPausedPayload = z.object({ by: z.enum(PAUSERS), reason: text(500) }).strict();
export const TownResumedPayload = z.object({ by: z.enum(PAUSERS) }).strict();

/** An operator put a dead-lettered event back in the queue, or dropped it: the log acts on itself. */
export const DeadLetterPayload = z.object({ seq: z.number().int().min(1) }).strict();

const none = z
  .null()
  .optional()
  .transform(() => null);

/** Each event type with the entity ids it must (or must not) carry and its payload. */
export const EventBodySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("town_configured"), agentId: none, beadId: none, payload: TownConfiguredPayload }),
  z.object({ type: z.literal("rig_added"), agentId: none, beadId: none, payload: RigAddedPayload }),
  z.object({ type: z.literal("bead_created"), agentId: none, beadId: BeadIdSchema, payload: BeadCreatedPayload }),
  z.object({ type: z.literal("bead_cancelled"), agentId: none, beadId: BeadIdSchema, payload: BeadCancelledPayload }),
  z.object({ type: z.literal("convoy_created"), agentId: none, beadId: BeadIdSchema, payload: ConvoyCreatedPayload }),
  z.object({ type: z.literal("agent_done"), agentId: AgentIdSchema, beadId: none, payload: AgentDonePayload }),
  z.object({ type: z.literal("agent_completed"), agentId: AgentIdSchema, beadId: none, payload: AgentCompletedPayload }),
  z.object({ type: z.literal("pr_status_changed"), agentId: none, beadId: BeadIdSchema, payload: PrStatusChangedPayload }),
  z.object({ type: z.literal("container_status"), agentId: AgentIdSchema, beadId: none, payload: ContainerStatusPayload }),
  z.object({ type: z.literal("dispatch_result"), agentId: AgentIdSchema, beadId: none, payload: DispatchResultPayload }),
  z.object({ type: z.literal("bead_retried"), agentId: none, beadId: BeadIdSchema, payload: BeadRetriedPayload }),
  z.object({ type: z.literal("bead_held"), agentId: none, beadId: BeadIdSchema, payload: BeadHeldPayload }),
  z.object({ type: z.literal("bead_released"), agentId: none, beadId: BeadIdSchema, payload: BeadReleasedPayload }),
  z.object({ type: z.literal("bead_edited"), agentId: none, beadId: BeadIdSchema, payload: BeadEditedPayload }),
  z.object({ type: z.literal("bead_requeued"), agentId: none, beadId: BeadIdSchema, payload: BeadRequeuedPayload }),
  z.object({ type: z.literal("rig_deleted"), agentId: none, beadId: none, payload: RigDeletedPayload }),
  z.object({ type: z.literal("town_paused"), agentId: none, beadId: none, payload: TownPausedPayload }),
  z.object({ type: z.literal("town_resumed"), agentId: none, beadId: none, payload: TownResumedPayload }),
  z.object({ type: z.literal("dead_letter_retried"), agentId: none, beadId: none, payload: DeadLetterPayload }),
  z.object({ type: z.literal("dead_letter_discarded"), agentId: none, beadId: none, payload: DeadLetterPayload }),
]);

export type EventBody = z.output<typeof EventBodySchema>;
export type EventType = EventBody["type"];
export type EventOf<T extends EventType> = Extract<TownEvent, { type: T }>;

/** Commands: sent by the admin API, applied at once in the transaction that logs them. */
export const COMMAND_EVENT_TYPES = [
  "town_configured",
  "rig_added",
  "bead_created",
  "bead_cancelled",
  "convoy_created",
  "bead_retried",
  "bead_held",
  "bead_released",
  "bead_edited",
  "bead_requeued",
  "rig_deleted",
  "town_paused",
  "town_resumed",
  "dead_letter_retried",
  "dead_letter_discarded",
] as const;

/** An event as it sits in the log. */
export type TownEvent = EventBody & {
  readonly seq: number;
  readonly eventId: string;
  readonly createdAt: number;
};

/** An event row as the log holds it: the payload is the JSON text that was stored. */
export interface LoggedEvent {
  readonly seq: number;
  readonly eventId: string;
  readonly type: string;
  readonly agentId: string | null;
  readonly beadId: string | null;
  readonly payload: string;
  readonly createdAt: number;
}

type EventSchema = (typeof EventBodySchema.options)[number];

/** Each type's schema, looked up directly (the drain parses a thousand rows a tick). */
const SCHEMA_BY_TYPE = new Map<string, EventSchema>(EventBodySchema.options.map((option) => [option.shape.type.value, option]));

/** The schema of one event type: the ids it carries and its payload (the events route builds on these; the map holds each under its own type). */
export const eventSchema = <T extends EventType>(type: T) => SCHEMA_BY_TYPE.get(type) as Extract<EventSchema, { shape: { type: z.ZodLiteral<T> } }>;

/**
 * A logged row back into a typed event, validated again: the log may hold rows older code wrote. The
 * drain and replay (live or from a bundle) read rows through this one function, so they fail alike.
 */
export function parseLoggedEvent(row: LoggedEvent): { ok: true; event: TownEvent } | { ok: false; error: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch (error) {
    return { ok: false, error: `payload is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  // Most of a busy tick's rows are agents' status reports: checked by hand, as the schema would give them back.
  const quick = row.beadId === null && isId(row.agentId) ? quickStatusPayload(row.type, payload) : null;
  if (quick) {
    const body = { type: row.type, agentId: row.agentId as AgentId, beadId: null, payload: quick } as EventBody;
    return { ok: true, event: { ...body, seq: row.seq, eventId: row.eventId, createdAt: row.createdAt } };
  }
  const schema = SCHEMA_BY_TYPE.get(row.type);
  if (!schema) return { ok: false, error: `unknown event type ${row.type}` };
  const parsed = schema.safeParse({ type: row.type, agentId: row.agentId, beadId: row.beadId, payload });
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, error: `invalid ${row.type} event: ${first ? `${first.path.join(".") || "event"}: ${first.message}` : "schema mismatch"}` };
  }
  return { ok: true, event: { ...(parsed.data as EventBody), seq: row.seq, eventId: row.eventId, createdAt: row.createdAt } };
}

const CONTAINER_STATUS: ReadonlySet<unknown> = new Set(ContainerStatusPayload.shape.status.options);
const COMPLETED_STATUS: ReadonlySet<unknown> = new Set(AgentCompletedPayload.shape.status.options);

/**
 * An agent's status report — a `container_status`, or an `agent_completed` without a reason, what a
 * flood of events is made of — checked by hand: its payload exactly as its schema gives it back (the
 * keys in the schema's order), or null, and the schema decides. Zod may not compile its parsers in a
 * Worker (no eval) and walks a thousand events in 1 to 4 ms; the events route and the drain take these
 * this way instead. It only ever accepts what the schema accepts (test/domain/quick-events.test.ts and
 * test/http/ingest-body.test.ts hold it to the schemas).
 */
export function quickStatusPayload(type: unknown, payload: unknown): { generation: number; status: string } | null {
  const statuses = type === "container_status" ? CONTAINER_STATUS : type === "agent_completed" ? COMPLETED_STATUS : null;
  if (statuses === null || typeof payload !== "object" || payload === null || Array.isArray(payload)) return null;
  // The payloads are strict: any other key is the schema's to refuse.
  for (const key in payload) if ((key !== "generation" && key !== "status") || !Object.hasOwn(payload, key)) return null;
  const { generation, status } = payload as Record<string, unknown>;
  // GenerationSchema: a whole number from 0 (a safe integer, as zod's int() requires). Older rows without one go to the schema.
  if (typeof generation !== "number" || !Number.isSafeInteger(generation) || generation < 0) return null;
  return statuses.has(status) ? { generation, status: status as string } : null;
}
