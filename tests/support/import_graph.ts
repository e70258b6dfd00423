/**
 * The static import graph of a module, as `deno info --json` reports it: what loads before the
 * module runs, dynamic imports left out (they load when reached).
 */

interface InfoModule {
  specifier: string;
  dependencies?: Array<{ code?: { specifier?: string }; isDynamic?: boolean }>;
}

/** Every module `path` (relative to the repository) loads statically, npm: and node: included. */
export async function staticGraph(path: string): Promise<Set<string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    cwd: new URL("../..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [...info.roots];
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if (target && !dep.isDynamic) stack.push(target);
    }
  }
  return seen;
}

/** The npm package names in a graph (`npm:@scope/name@1.2.3/sub` → `@scope/name`). */
export function npmPackages(graph: Set<string>): Set<string> {
  const names = new Set<string>();
  for (const specifier of graph) {
    const match = /^npm:\/?(@[^/@]+\/[^/@]+|[^/@]+)/.exec(specifier);
    if (match) names.add(match[1]!);
  }
  return names;
}
