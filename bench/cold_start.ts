// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * Cold start alone: spawn → the first 200 of GET /api/activities/home for the `full`
 * configuration (every sink configured, healthy stand-ins on 127.0.0.1, memory store), the
 * server pinned to CPU 0 and polled every 2 ms, as `deno task bench` measures it after its
 * rounds. Prints each run and the median; one unreported warm-up run first fills the module
 * cache, as the bench's rounds do.
 *
 * Beside the wall time it prints the server's CPU time (user + system, every thread, from
 * /proc/<pid>/stat right after the first 200): on a shared machine the wall time grows with
 * the other processes' load, the CPU time much less, so A/B comparisons quote both.
 *
 *   deno run -A bench/cold_start.ts [--runs=5] [--config=full] [--env=K=V ...] [--cpu-prof=DIR]
 *     [--script=other.ts] [--app-dir=/path/to/a/copy]
 *
 * --script runs another server with the configuration's env instead (it must serve the route
 * on HOST:PORT): what a bare Deno.serve or a given import graph costs on this machine.
 * --app-dir starts the server from another copy of the app (A/B against an older commit:
 * `git archive <commit> | tar -x -C /tmp/before`).
 *
 * With --cpu-prof=DIR each server writes a V8 CPU profile there, and each is summarised: what
 * the main thread did before the first request, by module (bench/startup_profile.ts; the whole
 * profile: `deno run -A bench/profile.ts --file=DIR/<file>.cpuprofile`). The times are then
 * not the figure to quote (profiling slows the start).
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  CONFIGS,
  envOverrides,
  freePort,
  hasTaskset,
  installSignalHandlers,
  machine,
  median,
  onCleanup,
  pinSelf,
  ROUTE,
  runMain,
  startServer,
} from "./lib.ts";
import { startSinksOf } from "./sinks.ts";
import { type CpuProfile, summariseStartup } from "./startup_profile.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    config: { type: "string", default: "full" },
    env: { type: "string", multiple: true },
    "cpu-prof": { type: "string" },
    script: { type: "string" },
    "app-dir": { type: "string" },
  },
});

async function main(): Promise<number> {
  installSignalHandlers();
  const config = CONFIGS.find((c) => c.name === args.config && !c.store);
  if (!config) {
    console.error(`unknown --config=${args.config} (memory-store configs of bench/lib.ts only)`);
    return 1;
  }
  const overrides = envOverrides(args.env);
  const tmpDir = await Deno.makeTempDir({ prefix: "cruddur-cold-start-" });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const alwaysRule = `${tmpDir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE, null, 2));
  const pin = (await hasTaskset()) && (await machine()).cpus >= 2;
  // The stand-ins and this poller on CPU 1, the server alone on CPU 0 (as bench/run.ts).
  if (pin) await pinSelf(1);
  const sinks = await startSinksOf(config.sinks);
  if (sinks) onCleanup(() => sinks.close());
  const profDir = args["cpu-prof"];
  const denoFlags = profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [];

  const runs = Number(args.runs);
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = -1; i < runs; i++) {
    const server = await startServer({
      script: args.script ?? config.script,
      ...(args["app-dir"] ? { appDir: args["app-dir"] } : {}),
      env: { ...baseEnv(freePort()), ...config.env(sinks, { alwaysRule }), ...overrides },
      ...(pin ? { cpu: 0 } : {}),
      denoFlags,
      readyPath: ROUTE,
      pollMs: 2,
    });
    const cpuMs = await cpuTimeMs(server.pid);
    const code = await server.stop();
    // A --script server may not handle SIGTERM (143); main.ts must exit 0.
    if (code !== 0 && !(args.script && code === 143)) {
      console.error(`server exited ${code}:\n${server.stderrTail.join("\n")}`);
      return 1;
    }
    if (i < 0) {
      console.log(`warm-up: ${server.readyMs.toFixed(0)} ms, CPU ${cpuMs} ms (not counted)`);
      continue;
    }
    times.push(server.readyMs);
    cpu.push(cpuMs);
    console.log(`run ${i + 1}: ${server.readyMs.toFixed(0)} ms, CPU ${cpuMs} ms`);
  }
  if (profDir) {
    for (
      const entry of [...Deno.readDirSync(profDir)].filter((e) => e.name.endsWith(".cpuprofile"))
    ) {
      const profile = JSON.parse(await Deno.readTextFile(`${profDir}/${entry.name}`)) as CpuProfile;
      console.log(`\n${entry.name}`);
      for (const line of summariseStartup(profile, args["app-dir"] ?? APP_DIR)) console.log(line);
    }
  }
  const list = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(", ");
  console.log(
    `cold start to the first 200 (${config.name}${pin ? ", CPU 0" : ", unpinned"}): median ${
      median(times).toFixed(0)
    } ms of ${list(times)}; server CPU median ${median(cpu).toFixed(0)} ms of ${list(cpu)}`,
  );
  return 0;
}

/** utime + stime of every thread of `pid`, in ms (USER_HZ is 100 on Linux: 10 ms ticks). */
async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

await runMain(main);
