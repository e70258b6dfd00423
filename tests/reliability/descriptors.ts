/**
 * Issue 13.2 for `deno task reliability`: main.ts at `ulimit -n 1024` with about 1,000 idle
 * connections. Reports what was held and refused, whether the listener died, and how long the
 * health check took to answer again once the connections were closed.
 */
import { startBackend } from "../support/backend.ts";
import { healthy, hogDescriptors } from "../support/descriptors.ts";

const FILE_LIMIT = 1024;
const IDLE_CONNECTIONS = 1100;

/** Runs the scenario once; returns markdown table lines. */
export async function descriptorRows(): Promise<string[]> {
  const backend = await startBackend({}, { fileLimit: FILE_LIMIT });
  let row: string;
  try {
    const { conns, refused } = await hogDescriptors(backend.url, IDLE_CONNECTIONS);
    const failed = await backend.waitFor(/^Listener failed/).then(() => true, () => false);
    const whileHeld = await healthy(backend.url);
    const released = Date.now();
    for (const conn of conns) conn.close();
    let back = "not within 15 s";
    while (Date.now() - released < 15_000) {
      if (await healthy(backend.url)) {
        back = `${Date.now() - released} ms`;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    row = `| main.ts at ulimit -n ${FILE_LIMIT}, ${IDLE_CONNECTIONS} idle connections | ` +
      `${conns.length} held, ${refused} refused | ${failed ? "yes (logged)" : "no"} | ` +
      `${whileHeld ? 200 : "no answer"} | ${back} |`;
  } finally {
    backend.child.kill("SIGTERM");
    await Promise.all([backend.child.status, backend.done, backend.stderr]);
  }
  return [
    "",
    "| out of descriptors | connections | listener failed | health while held | health 200 again after release |",
    "|---|---|---|---|---|",
    row,
  ];
}
