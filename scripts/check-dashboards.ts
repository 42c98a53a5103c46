/**
 * Type-checks every dashboard of grafana/dashboards/*.json against Grafana's own dashboard schema
 * (`@grafana/schema`, with the Infinity queries of grafana/dashboard-types.ts). Run by
 * `npm run typecheck`.
 *
 * A JSON import would not do: TypeScript widens the strings of an imported JSON file to `string`, so
 * no field with fixed choices (a threshold's `mode`, a color's `mode`, a query's `parser`) could be
 * checked. Here each file is checked as a TypeScript expression, in memory, `satisfies TownDashboard`:
 * its strings keep their literal types and an unknown field is an error. The JSON stays the one
 * source (what Grafana provisions and what the contract test reads); an error points at its line.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DASHBOARDS = join(ROOT, "grafana", "dashboards");
/** On the JSON's first line, so that every line of the check is the same line of the file. */
const PREFIX = 'import type { TownDashboard } from "../dashboard-types"; export default (';
const SUFFIX = ") satisfies TownDashboard;\n";

export function checkDashboards(files: readonly string[]): string[] {
  // Each dashboard as a module beside it: fleet.json is checked as fleet.json.check.ts.
  const checked = new Map(files.map((file) => [`${file}.check.ts`, `${PREFIX}${readFileSync(file, "utf8").trimEnd()}${SUFFIX}`]));
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => checked.has(name) || fileExists.call(host, name);
  host.readFile = (name) => checked.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, language, onError, create) => {
    const text = checked.get(name);
    return text !== undefined ? ts.createSourceFile(name, text, language) : getSourceFile.call(host, name, language, onError, create);
  };
  const program = ts.createProgram([...checked.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n  ");
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const file = diagnostic.file.fileName.replace(/\.check\.ts$/, "");
    const column = line === 0 ? character - PREFIX.length : character;
    return `${relative(ROOT, file)}:${line + 1}:${column + 1}: ${message}`;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const given = process.argv.slice(2).map((file) => resolve(file));
  const files =
    given.length > 0
      ? given
      : readdirSync(DASHBOARDS)
          .filter((name) => name.endsWith(".json"))
          .map((name) => join(DASHBOARDS, name));
  const problems = checkDashboards(files);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`\n${problems.length} error(s): the dashboards are not what Grafana's schema describes`);
    process.exit(1);
  }
  console.log(`dashboards: ${files.map((file) => relative(ROOT, file)).join(", ")} match Grafana's dashboard schema`);
}
