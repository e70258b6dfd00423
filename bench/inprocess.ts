// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * CPU per request of the app itself, in process: the real `createTelemetry` + `createApp` of a
 * bench configuration, fed `app.fetch(request)` in a loop (no HTTP server, no load generator),
 * with the sinks' own turns let run every 50 requests so their work is counted too. The
 * stand-ins run in a child process (bench/sinks_process.ts): beside the app they would add
 * their own receive of every X-Ray datagram and every batch to the app's figure (xray-only
 * read 98 µs with them in process, 66 without, on the same code). The figure
 * is this process's CPU time (user + system) per request, the best of several rounds: on a
 * shared machine the minimum is the steadiest estimate of the work done. For deciding whether a
 * change helps; `deno task bench` gives the figures that count.
 *
 *   deno run -A bench/inprocess.ts --config=bare [--requests=20000] [--rounds=5]
 *     [--env=KEY=VALUE] [--allocations=30] [--promoted] > /dev/null   (console lines go to
 *     stdout, as in the bench)
 *
 * `--allocations=N` then samples one more batch with V8's heap profiler and prints the bytes a
 * request allocates and its N largest allocation sites (bench/allocations.ts); with
 * `--promoted`, only the bytes that outlived the young generation (what fills the old one).
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createApp } from "../app.ts";
import { loadConfig } from "../config.ts";
import { createBaselineApp } from "./baseline.ts";
import { createMemoryStore } from "../services/store.ts";
import { createTelemetry } from "../telemetry/mod.ts";
import { sampleAllocations } from "./allocations.ts";
import { ALWAYS_SAMPLE_RULE, CONFIGS, envOverrides, ROUTE } from "./lib.ts";
import { startSinksProcess } from "./sinks.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "bare" },
    requests: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    env: { type: "string", multiple: true },
    allocations: { type: "string" },
    promoted: { type: "boolean", default: false },
    concurrency: { type: "string", default: "1" },
  },
});
const config = CONFIGS.find((c) => c.name === args.config);
if (!config) throw new Error(`Unknown configuration ${args.config}`);
if (config.store) {
  throw new Error(`${config.name} runs on ${config.store}: only bench/run.ts runs it`);
}
if (config.script !== "main.ts" && config.script !== "bench/baseline.ts") {
  throw new Error(`${config.name} is its own server (${config.script}): only bench/run.ts runs it`);
}
const sinks = config.sinks === "none" ? undefined : await startSinksProcess(config.sinks);
const rule = await Deno.makeTempFile({ suffix: ".json" });
await Deno.writeTextFile(rule, JSON.stringify(ALWAYS_SAMPLE_RULE));
const env = {
  HOST: "127.0.0.1",
  PORT: "8080",
  LOG_LEVEL: "info",
  ...config.env(sinks, { alwaysRule: rule }),
  ...envOverrides(args.env),
};

let fetcher: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;
let stop = () => Promise.resolve();
if (config.script === "main.ts") {
  const appConfig = loadConfig(env);
  const telemetry = await createTelemetry(appConfig);
  const app = createApp({
    config: appConfig,
    telemetry,
    store: createMemoryStore({ seededAt: Date.now(), currentUser: "andrewbrown" }),
    clock: Date.now,
  });
  fetcher = (request, info) => app.fetch(request, info);
  stop = () => telemetry.shutdown(Date.now() + 3000);
} else {
  const app = createBaselineApp();
  fetcher = (request, info) => app.fetch(request, info);
}

const info = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;
const url = `http://127.0.0.1:8080${ROUTE}`;
const headers = { host: "127.0.0.1:8080", "user-agent": "bench/inprocess", accept: "*/*" };

async function one(): Promise<void> {
  const response = await fetcher(new Request(url, { headers }), info);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`status ${response.status}`);
}

const concurrency = Math.max(1, Number(args.concurrency));

async function batch(count: number): Promise<void> {
  if (concurrency > 1) {
    // As under wrk: `concurrency` requests in flight at once, then the sinks' turns.
    for (let done = 0; done < count; done += concurrency) {
      await Promise.all(Array.from({ length: Math.min(concurrency, count - done) }, one));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return;
  }
  for (let i = 0; i < count; i++) {
    await one();
    // Let timers (the sinks' batches and sends) run, as they would between requests.
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

const requests = Number(args.requests);
await batch(Math.min(5000, requests));
let best = Infinity;
for (let round = 0; round < Number(args.rounds); round++) {
  const before = process.cpuUsage();
  await batch(requests);
  const used = process.cpuUsage(before);
  best = Math.min(best, (used.user + used.system) / requests);
}
console.error(`${config.name}: ${best.toFixed(1)} µs CPU per request (best of ${args.rounds})`);
if (args.allocations !== undefined) {
  const promoted = args.promoted;
  const report = await sampleAllocations(requests, () => batch(requests), promoted);
  console.error(
    `${config.name}: ${(report.bytesPerRequest / 1024).toFixed(1)} KiB ` +
      (promoted
        ? "per request outlived the young generation (sampled; the harness's too)"
        : "allocated per request (sampled, freed objects included; the harness's Request " +
          "and body reads too)"),
  );
  for (const { site, bytesPerRequest } of report.sites.slice(0, Number(args.allocations) || 30)) {
    console.error(`${bytesPerRequest.toFixed(0).padStart(7)} B  ${site}`);
  }
}
await stop();
await sinks?.close();
await Deno.remove(rule);
Deno.exit(0);
