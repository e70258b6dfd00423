// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * PGlite's cold start, as `deno task bench` measures it (issue 16: first data answer ≤ 600 ms
 * after spawn): main.ts with full-pglite's environment (every sink on, healthy stand-ins),
 * pinned to CPU 0, timed from spawn to the first 200 of the route (polled every 2 ms). Prints
 * each start and the median, on a prepared (migrated, seeded) DATA_DIR and on empty ones, with
 * the CPU the server had used by then (what a busy machine does not change), which source
 * answered that first read (the snapshot of the previous start's clean stop, the seed of a new
 * DATA_DIR, or PGlite), and spawn to PGlite answering everything. Every start on the existing
 * DATA_DIR follows a clean stop of the previous one (the real restart path); a stop that was
 * not clean is reported.
 *
 *   deno run -A bench/pglite_start.ts [--runs=5] [--only=existing|empty] [--env=K=V ...]
 *     [--deno-flag=--v8-flags=...] [--app-dir=DIR] [--no-snapshot]
 *
 * --no-snapshot removes the snapshot before each start on the existing DATA_DIR: the start
 * after an unclean stop, which waits for PGlite (the path before the warm start).
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  CONFIGS,
  envOverrides,
  hasTaskset,
  installSignalHandlers,
  median,
  onCleanup,
  pgliteStartFacts,
  pinSelf,
  procSample,
  ROUTE,
  runMain,
  startPglite,
  stopPglite,
} from "./lib.ts";
import { startHealthySinks } from "./sinks.ts";
import { PGLITE_VERSION } from "../services/store/pglite_template.ts";
import { snapshotPath } from "../services/store/snapshot.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    only: { type: "string" },
    env: { type: "string", multiple: true },
    "deno-flag": { type: "string", multiple: true },
    "app-dir": { type: "string" },
    "no-snapshot": { type: "boolean", default: false },
  },
});
const runs = Number(args.runs);
const appDir = args["app-dir"] ?? APP_DIR;
const overrides = envOverrides(args.env);

async function main(): Promise<number> {
  installSignalHandlers();
  const config = CONFIGS.find((c) => c.name === "full-pglite");
  if (!config) throw new Error("bench/lib.ts has no full-pglite configuration");
  const tmpDir = await Deno.makeTempDir({ prefix: "cruddur-pglite-start-" });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const pin = await hasTaskset() && navigator.hardwareConcurrency >= 2;
  if (pin) await pinSelf(1);
  const alwaysRule = `${tmpDir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE));
  const healthy = await startHealthySinks();
  onCleanup(() => healthy.close());

  const start = async (dataDir: string) => {
    const server = await startPglite({
      config,
      sinks: healthy,
      alwaysRule,
      dataDir,
      appDir,
      overrides,
      denoFlags: args["deno-flag"] ?? [],
      cpuPin: pin,
    });
    // CPU the server used until it answered (all threads, 10 ms ticks): on a busy machine the
    // wall time waits for CPU 0 too, this does not.
    const cpuMs = (await procSample(server.pid))?.cpuMs ?? NaN;
    const facts = await pgliteStartFacts(server);
    const readyCpuMs = (await procSample(server.pid))?.cpuMs ?? NaN;
    await stopPglite(server);
    return { wallMs: server.readyMs, cpuMs, readyCpuMs, ...facts };
  };
  type Start = Awaited<ReturnType<typeof start>>;
  const report = (what: string, starts: Start[]) => {
    const list = (values: number[]) => values.map((v) => v.toFixed(0)).join(", ");
    const wall = starts.map((s) => s.wallMs);
    const cpu = starts.map((s) => s.cpuMs);
    const ready = starts.map((s) => s.pgliteReadyMs);
    const readyCpu = starts.map((s) => s.readyCpuMs);
    console.log(
      `${what}: first 200 median ${median(wall).toFixed(0)} ms (${list(wall)}), answered by ` +
        `${starts.map((s) => s.source).join(", ")}; server CPU to then median ` +
        `${median(cpu).toFixed(0)} ms (${list(cpu)}); PGlite ready median ` +
        `${median(ready).toFixed(0)} ms (${list(ready)}), CPU ${median(readyCpu).toFixed(0)} ms`,
    );
  };

  console.log(
    `PGlite cold start, spawn to the first 200 of ${ROUTE} (full-pglite's env), ` +
      `${pin ? "server pinned to CPU 0" : "not pinned (no taskset or one CPU)"}, ${runs} runs`,
  );
  // The existing directory is made by a first start (initdb, migrations, seed), as a user's is;
  // that start also warms Deno's module and code caches, so every measured start finds them warm.
  const existingDir = `${tmpDir}/existing`;
  await start(existingDir);
  if (args.only !== "empty") {
    const existing = [];
    for (let i = 0; i < runs; i++) {
      if (args["no-snapshot"]) await Deno.remove(snapshotPath(existingDir)).catch(() => {});
      existing.push(await start(existingDir));
    }
    report(`existing DATA_DIR${args["no-snapshot"] ? " (snapshot removed)" : ""}`, existing);
  }
  if (args.only !== "existing") {
    const empty = [];
    for (let i = 0; i < runs; i++) empty.push(await start(`${tmpDir}/empty-${i}`));
    const template = await Deno.stat(
      `${appDir}/.cache/pglite-${PGLITE_VERSION}-template/PG_VERSION`,
    )
      .then(() => "copied from deno task pglite-template's cluster", () => "initdb: no template");
    report(`empty DATA_DIR (${template})`, empty);
  }
  return 0;
}

await runMain(main);
