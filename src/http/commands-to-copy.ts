/**
 * The commands the pages offer to copy: the exact request, with the admin token left to the operator's
 * shell. The pages hold only the read token; offering forms would mean handing them the admin token (and
 * guarding every form against cross-site posts), where a command to paste keeps the admin token where it
 * was.
 */

/** Where the Worker is, when a page does not know (tests render pages without a request). */
export const ORIGIN_PLACEHOLDER = "https://<worker>";

/** `POST /api/towns/t/beads/b/retry` as a curl command against `origin`. */
export function curl(command: string, origin: string = ORIGIN_PLACEHOLDER): string {
  const [method, path] = command.split(" ") as [string, string];
  const body = method === "PATCH" ? ` -d '{"blockedBy":[]}'` : method === "PUT" ? ` -d '{"config":{"maxPolecatsPerRig":10}}'` : "";
  return `curl -X ${method} -H "Authorization: Bearer $ADMIN_TOKEN" ${origin}${path}${body}`;
}
