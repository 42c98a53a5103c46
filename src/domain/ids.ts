import { z } from "zod";

/**
 * Branded identifiers: an agent id can never be passed where a bead id is expected.
 * Ids are URL-safe so they can appear in paths without escaping surprises.
 */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const ID_HINT = "1-128 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit";

const idString = () => z.string().regex(ID_PATTERN, { message: `must be ${ID_HINT}` });

/** What the id schemas accept, as a plain check (the hot paths that validate by hand use it). */
export const isId = (value: unknown): value is string => typeof value === "string" && ID_PATTERN.test(value);

export const TownIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
    message: "must be 1-63 characters: lowercase letters, digits, '_' or '-', starting with a letter or digit",
  })
  .brand<"TownId">();
export const RigIdSchema = idString().brand<"RigId">();
export const AgentIdSchema = idString().brand<"AgentId">();
export const BeadIdSchema = idString().brand<"BeadId">();

export type TownId = z.infer<typeof TownIdSchema>;
export type RigId = z.infer<typeof RigIdSchema>;
export type AgentId = z.infer<typeof AgentIdSchema>;
export type BeadId = z.infer<typeof BeadIdSchema>;

/** Agents are created by the reconciler, so their ids are derived, never random: replay must reproduce them. */
export function agentIdFor(rigId: RigId, role: string, sequence: number): AgentId {
  return `${rigId}:${role}:${sequence}` as AgentId;
}

/** Merge requests are created when a polecat reports done; the k-th one for an issue gets a stable id. */
export function mergeRequestIdFor(issueId: BeadId, ordinal: number): BeadId {
  return `${issueId}:mr:${ordinal}` as BeadId;
}
