/**
 * Every relative link of the README and docs/ leads somewhere on a fresh clone: the file (or folder)
 * exists, is inside the repository and is not ignored by git, and a `#anchor` names a heading of the
 * page it points to (as GitHub makes anchors of headings). Links to other sites are not fetched.
 * Run by `npm run lint`; exits 1 with `file:line: what is wrong` for each broken link.
 *
 *   node --import tsx scripts/check-links.ts [file.md …]   (default: README.md and docs/**\/*.md)
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface Link {
  readonly file: string;
  readonly line: number;
  readonly target: string;
}

/** The pages checked by default: the README and everything under docs/. */
export function defaultPages(root = ROOT): string[] {
  const pages = [join(root, "README.md")];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) pages.push(path);
    }
  };
  walk(join(root, "docs"));
  return pages;
}

/** The lines of a page outside fenced code blocks, with their numbers; inline code spans blanked out. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | null = null;
  text.split("\n").forEach((raw, i) => {
    const marker = /^\s*(```+|~~~+)/.exec(raw);
    if (marker) {
      if (fence === null) fence = marker[1]!.slice(0, 3);
      else if (marker[1]!.startsWith(fence)) fence = null;
      return;
    }
    if (fence === null) out.push({ line: i + 1, text: raw.replace(/(`+)(?:(?!\1).)+\1/g, (code) => " ".repeat(code.length)) });
  });
  return out;
}

/** Markdown links and images (`[text](target)`, `![alt](target "title")`) and HTML `href`/`src` attributes. */
export function linksOf(file: string, text: string): Link[] {
  const links: Link[] = [];
  for (const { line, text: prose } of proseLines(text)) {
    for (const match of prose.matchAll(/!?\[(?:[^\]]|\\\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ file, line, target: match[1]! });
    for (const match of prose.matchAll(/\b(?:href|src)="([^"]+)"/g)) links.push({ file, line, target: match[1]! });
  }
  return links;
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text.replace(/`/g, ""))) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const plain = heading[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/<[^>]+>/g, "")
      .replace(/[*~]/g, "");
    const slug = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

function ignoredByGit(path: string, root: string): boolean {
  const result = spawnSync("git", ["check-ignore", "-q", "--no-index", relative(root, path)], { cwd: root });
  return result.status === 0;
}

/** What is wrong with a link, or null when it leads somewhere. */
export function problemOf(link: Link, root = ROOT): string | null {
  const { target } = link;
  if (isExternal(target)) return null;
  const hash = target.indexOf("#");
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  if (pathPart.startsWith("/")) return `${target}: an absolute path; link relative to this page`;
  const path = pathPart === "" ? link.file : resolve(dirname(link.file), pathPart);
  const inside = relative(root, path);
  if (inside.startsWith(`..${sep}`) || inside === "..") return `${target}: leaves the repository (a clone has nothing at ${inside})`;
  if (!existsSync(path)) return `${target}: ${inside} does not exist`;
  if (ignoredByGit(path, root)) return `${target}: ${inside} is ignored by git, so a clone does not have it`;
  if (anchor === null || anchor === "") return null;
  if (statSync(path).isDirectory() || !path.endsWith(".md")) return `${target}: an anchor into ${inside}, which is not a Markdown page`;
  const anchors = anchorsOf(readFileSync(path, "utf8"));
  if (anchors.has(anchor)) return null;
  return `${target}: ${inside} has no heading with the anchor #${anchor}`;
}

export function checkLinks(pages: readonly string[], root = ROOT): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    for (const link of linksOf(page, readFileSync(page, "utf8"))) {
      const problem = problemOf(link, root);
      if (problem) problems.push(`${relative(root, link.file)}:${link.line}: ${problem}`);
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const given = process.argv.slice(2).map((file) => resolve(file));
  const pages = given.length > 0 ? given : defaultPages();
  const problems = checkLinks(pages);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`\n${problems.length} broken link(s) in ${pages.length} page(s)`);
    process.exit(1);
  }
  console.log(`links: ${pages.length} pages, every relative link and anchor leads somewhere`);
}
