import { PAGE_COOKIE } from "./auth";

/**
 * What the HTML pages share (the home page, a town's status page, a bead, the dead letters): escaping,
 * times, the sign-in that turns `?token=` into a cookie, and one document shell with the same CSP — no
 * script, no outside resource, inline styles only.
 */

/** Escapes text for HTML content and attribute values: every stored text a page shows goes through it. */
export const esc = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export const time = (ms: number | null | undefined) =>
  ms === null || ms === undefined
    ? "—"
    : new Date(ms)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC");

/** The pages' cookie covers every page under these paths (the status page and what it links to). */
export const PAGE_COOKIE_PATH = "/";

/**
 * A page opened with `?token=`: the token goes into an HttpOnly cookie and the browser is sent to the
 * same address without it, so it leaves the address bar and the history. Null when there is none.
 */
export function signIn(request: Request, token: string): Response | null {
  const url = new URL(request.url);
  if (!url.searchParams.has("token")) return null;
  const secure = url.protocol === "https:" ? "; Secure" : "";
  // Lax, not Strict: a link from Grafana, a chat or a pager is a navigation from another site, and
  // must open the page. Lax still keeps the cookie off other sites' subrequests and form posts.
  const cookie = `${PAGE_COOKIE}=${encodeURIComponent(token)}; Path=${PAGE_COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=86400${secure}`;
  url.searchParams.delete("token");
  return new Response(null, { status: 303, headers: { location: url.pathname + url.search, "set-cookie": cookie } });
}

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  // No other site may frame a page (clickjacking): frame-ancestors for browsers that read CSP 2,
  // X-Frame-Options for those that do not.
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
};

/** A page as a response. */
export function htmlResponse(html: string, status = 200): Response {
  return new Response(html, { status, headers: PAGE_HEADERS });
}

/** The styles every page shares. */
export const BASE_STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:16px;background:#f6f7f9;color:#1d2330;overflow-wrap:anywhere}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 8px}h3{font-size:14px;margin:12px 0 6px}
.sub{color:#5b6475;margin:0 0 8px}.ok{color:#2e7d32}a{color:#1f5fbf}code{font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #dde1e8;padding:4px 8px;text-align:left;vertical-align:top}
.warn{border-color:#d9534f;background:#fdf0ef}.command{display:block;margin:2px 0 0;white-space:pre-wrap;word-break:break-all;user-select:all}
nav{margin:0 0 8px;font-size:13px}`;

/** A whole document. `refresh`: seconds between reloads (pages that watch something live). */
export function documentOf(title: string, body: string, options: { refresh?: number; style?: string } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${options.refresh ? `<meta http-equiv="refresh" content="${options.refresh}">\n` : ""}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
${BASE_STYLE}
${options.style ?? ""}
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/**
 * What a browser without a valid read token sees: how to sign in (the same 401 and code as the API's,
 * with the error's message), rather than a JSON error asking for a header a browser cannot send.
 */
export function signInPage(status: 401 | 403, code: string, message: string): Response {
  const body = `<h1>Sign in</h1>
<p class="sub" data-error="${esc(code)}">${esc(message)}</p>
<p>Open this page once with the read token in its address: <code>?token=&lt;READ_TOKEN&gt;</code> (locally
<code>?token=dev-read-token</code>). The page keeps it in a cookie for a day, and takes it out of the address.</p>`;
  return htmlResponse(documentOf("Sign in — town-reconciler", body), status);
}
