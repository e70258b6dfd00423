/**
 * The environment of a `deno run` child a test starts: nothing of this process's (no exporter
 * may reach the network), only where Deno keeps its cache, and Deno's own update check off. A
 * `deno run` that lives past about half a second otherwise asks the machine's resolver for
 * dl.deno.land, a packet off loopback (tests/no_egress_test.ts proves both).
 */
export function childEnv(env: Record<string, string> = {}): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of ["HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) kept[name] = value;
  }
  return { ...kept, DENO_NO_UPDATE_CHECK: "1", ...env };
}
