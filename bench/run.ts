// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * `deno task bench`: the cost of full telemetry on GET /api/activities/home, side by side.
 *
 * Each configuration (see CONFIGS in lib.ts) runs as its own `deno run ... main.ts` process,
 * pinned to CPU 0, with console output sent to /dev/null and the access log on. wrk (pinned to
 * CPU 1, with this process and its loopback sinks) warms it up, then measures it; the rounds
 * alternate configurations and rotate their order. Prints and writes bench/results.md.
 *
 * Options: --rounds=3 --duration=10 --warmup=3 --connections=50 --only=full,bare
 *          --app-dir=/path/to/a/copy --out=bench/results.md --no-install --no-write
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  type BenchConfig,
  cleanup,
  CONFIGS,
  delay,
  findLoadGenerator,
  freePort,
  hasTaskset,
  installSignalHandlers,
  machine,
  median,
  nonLoopbackPeers,
  onCleanup,
  pinSelf,
  pollRss,
  procSample,
  ROUTE,
  shellLine,
  startServer,
  telemetryStats,
} from "./lib.ts";
import { goalLines } from "./goals.ts";
import { type Sinks, startBlackholeSinks, startHealthySinks } from "./sinks.ts";

interface RunResult {
  config: string;
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
  cpuUsPerReq: number;
  errors: number;
  requests: number;
  stderrLines: number;
  telemetry?: Record<string, Record<string, number>>;
  leaks: string[];
  exitCode: number;
  stopMs: number;
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    only: { type: "string" },
    "app-dir": { type: "string" },
    out: { type: "string" },
    "no-install": { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
    env: { type: "string", multiple: true },
  },
});
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const warmup = Number(args.warmup);
const connections = Number(args.connections);
const appDir = args["app-dir"] ?? APP_DIR;
const outFile = args.out ?? `${APP_DIR}/bench/results.md`;
/** --env=KEY=VALUE overrides for every main.ts configuration (experiments: LOG_FORMAT=json). */
const overrides = Object.fromEntries(
  (args.env ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
const wanted = args.only?.split(",").map((s) => s.trim());
const configs = CONFIGS.filter((c) => !wanted || c.name === "baseline" || wanted.includes(c.name));

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

async function measure(
  config: BenchConfig,
  round: number,
  sinks: Record<"healthy" | "blackhole", Sinks>,
  files: { alwaysRule: string },
  load: Awaited<ReturnType<typeof findLoadGenerator>> & object,
  pin: boolean,
): Promise<RunResult & { command: string }> {
  const port = freePort();
  const sinkSet = config.sinks === "none" ? undefined : sinks[config.sinks];
  const env = {
    ...baseEnv(port),
    ...config.env(sinkSet, files),
    ...(config.script === "main.ts" ? overrides : {}),
  };
  const server = await startServer({
    script: config.script,
    env,
    appDir,
    ...(pin ? { cpu: 0 } : {}),
  });
  const url = `${server.url}${ROUTE}`;
  try {
    await load.run(url, warmup, connections);
    const before = await procSample(server.pid);
    const rss = pollRss(server.pid);
    const leakCheck = delay((duration * 1000) / 2).then(() => nonLoopbackPeers(server.pid));
    const result = await load.run(url, duration, connections);
    const after = await procSample(server.pid);
    const peakKb = await rss.stop();
    const leaks = await leakCheck;
    leaks.push(...await nonLoopbackPeers(server.pid));
    const telemetry = config.script === "main.ts" ? await telemetryStats(server.url) : undefined;
    const cpuMs = before && after ? after.cpuMs - before.cpuMs : NaN;
    const stopAt = Date.now();
    const exitCode = await server.stop();
    return {
      config: config.name,
      round,
      rps: result.rps,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      rssMb: Math.max(peakKb, after?.hwmKb ?? 0) / 1024,
      cpuUsPerReq: (cpuMs * 1000) / result.requests,
      errors: result.errors,
      requests: result.requests,
      stderrLines: server.stderrLines(),
      ...(telemetry ? { telemetry } : {}),
      leaks,
      exitCode,
      stopMs: Date.now() - stopAt,
      command: shellLine(server.env, server.argv),
    };
  } catch (error) {
    await server.stop(1000);
    throw error;
  }
}

function sinkSummary(stats: Record<string, Record<string, number>> | undefined): string {
  if (!stats) return "";
  return Object.entries(stats).map(([name, s]) =>
    `${name} q${s.queued}/s${s.sent}/d${s.dropped}` + (s.failed ? `/f${s.failed}` : "") +
    (s.retried ? `/r${s.retried}` : "")
  ).join(", ");
}

async function main(): Promise<number> {
  installSignalHandlers();
  const tmpDir = await Deno.makeTempDir({ prefix: "cruddur-bench-" });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const pin = await hasTaskset();
  const host = await machine();
  if (pin && host.cpus >= 2) await pinSelf(1);
  const cpuPin = pin && host.cpus >= 2;
  const load = await findLoadGenerator({
    tmpDir,
    cpu: cpuPin ? 1 : undefined,
    install: !args["no-install"],
  });
  if (!load) return 1;

  const alwaysRule = `${tmpDir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE, null, 2));
  const healthy = await startHealthySinks();
  onCleanup(() => healthy.close());
  const blackhole = await startBlackholeSinks();
  onCleanup(() => blackhole.close());

  const command = `deno task bench ${Deno.args.join(" ")}`.trim();
  console.log(`# Cruddur telemetry benchmark: GET ${ROUTE}`);
  console.log(`machine: ${host.cpus} CPUs, ${host.model}, ${host.kernel}`);
  console.log(`deno ${Deno.version.deno}, load generator: ${load.kind} (${load.version})`);
  console.log(
    `server pinned to CPU 0, ${load.kind} + sinks to CPU 1: ${cpuPin ? "yes" : "no (no taskset)"}`,
  );
  console.log(
    `${rounds} rounds x ${configs.length} configs, warm-up ${warmup} s, ` +
      `measure ${duration} s, ${connections} connections`,
  );
  console.log(`reproduce: ${command}\n`);

  const results: RunResult[] = [];
  const commands = new Map<string, string>();
  for (let round = 1; round <= rounds; round++) {
    // Rotate the order so no configuration always runs first (cold machine) or last.
    const shift = (round - 1) % configs.length;
    const order = [...configs.slice(shift), ...configs.slice(0, shift)];
    for (const config of order) {
      const r = await measure(config, round, { healthy, blackhole }, { alwaysRule }, load, cpuPin);
      commands.set(config.name, r.command);
      results.push(r);
      console.log(
        `round ${round} ${config.name.padEnd(18)} ${fmt(r.rps).padStart(7)} req/s  ` +
          `p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  ` +
          `RSS ${r.rssMb.toFixed(0)} MB  CPU ${r.cpuUsPerReq.toFixed(0)} us/req` +
          (r.errors ? `  ERRORS ${r.errors}` : "") +
          (r.leaks.length ? `  NON-LOOPBACK ${r.leaks.join("; ")}` : "") +
          (r.telemetry ? `  [${sinkSummary(r.telemetry)}]` : "") +
          (r.stderrLines ? `  stderr ${r.stderrLines} lines` : "") +
          `  stop ${r.stopMs} ms exit ${r.exitCode}`,
      );
    }
  }

  // Cold start: spawn to the first 200 of the route, every sink configured (healthy), polled
  // every 2 ms; a fresh process each time, after the rounds so the module cache is warm.
  const coldStart: number[] = [];
  const full = CONFIGS.find((c) => c.name === "full")!;
  if (!wanted || wanted.includes("full")) {
    for (let i = 0; i < 5; i++) {
      const server = await startServer({
        script: full.script,
        env: { ...baseEnv(freePort()), ...full.env(healthy, { alwaysRule }), ...overrides },
        appDir,
        ...(cpuPin ? { cpu: 0 } : {}),
        readyPath: ROUTE,
        pollMs: 2,
      });
      coldStart.push(server.readyMs);
      await server.stop();
    }
    console.log(
      `cold start to the first 200 (full): ${coldStart.map((ms) => ms.toFixed(0)).join(", ")} ms`,
    );
  }

  const md = report(results, { host, load, command, commands, cpuPin, coldStart });
  console.log(`\n${md}`);
  if (!args["no-write"]) {
    await Deno.writeTextFile(outFile, md);
    console.log(`written to ${outFile}`);
  }
  return results.some((r) => r.errors > 0 || r.leaks.length > 0) ? 2 : 0;
}

function report(
  results: RunResult[],
  ctx: {
    host: Awaited<ReturnType<typeof machine>>;
    load: { kind: string; version: string };
    command: string;
    commands: Map<string, string>;
    cpuPin: boolean;
    coldStart: number[];
  },
): string {
  const baseOf = (round: number) =>
    results.find((r) => r.config === "baseline" && r.round === round);
  const rows: string[] = [];
  for (const config of configs) {
    const runs = results.filter((r) => r.config === config.name);
    const rpsRatio = runs.map((r) => r.rps / (baseOf(r.round)?.rps ?? NaN));
    const p99Ratio = runs.map((r) => r.p99Ms / (baseOf(r.round)?.p99Ms ?? NaN));
    const m = {
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      rss: Math.max(...runs.map((r) => r.rssMb)),
      cpu: median(runs.map((r) => r.cpuUsPerReq)),
    };
    rows.push(
      `| ${config.name} | ${fmt(m.rps)} | ${median(rpsRatio).toFixed(2)}× | ${
        m.p50.toFixed(2)
      } | ` +
        `${m.p99.toFixed(2)} | ${median(p99Ratio).toFixed(2)}× | ${m.rss.toFixed(0)} | ` +
        `${m.cpu.toFixed(0)} | ${runs.reduce((n, r) => n + r.errors, 0)} |`,
    );
  }
  const perRound = results.map((r) => {
    const base = baseOf(r.round);
    return `| ${r.round} | ${r.config} | ${fmt(r.rps)} | ${
      (r.rps / (base?.rps ?? NaN)).toFixed(2)
    }× | ` +
      `${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${
        (r.p99Ms / (base?.p99Ms ?? NaN)).toFixed(2)
      }× | ` +
      `${r.rssMb.toFixed(0)} | ${r.cpuUsPerReq.toFixed(0)} | ${sinkSummary(r.telemetry) || "–"} |`;
  });
  // Black-holed vs healthy, per round, then the median.
  const pair = (a: string, b: string, key: "rps" | "p99Ms" | "cpuUsPerReq") => {
    const ratios: number[] = [];
    for (const r of results.filter((x) => x.config === a)) {
      const other = results.find((x) => x.config === b && x.round === r.round);
      if (other) ratios.push(r[key] / other[key]);
    }
    return ratios.length ? median(ratios) : NaN;
  };
  const goals = goalLines(results, pair, ctx.coldStart);
  const leaks = results.flatMap((r) => r.leaks);
  goals.push(
    leaks.length === 0
      ? "| every server socket (sampled mid-run and at the end) has a loopback peer | all | PASS |"
      : `| every server socket has a loopback peer | ${[...new Set(leaks)].join("; ")} | FAIL |`,
  );

  const rounds = Math.max(...results.map((r) => r.round));
  return [
    `# Benchmark: GET ${ROUTE}, the cost of full telemetry`,
    "",
    `Generated by \`${ctx.command}\` on ${new Date().toISOString()}.`,
    "",
    `Machine: ${ctx.host.cpus} CPUs (nproc), ${ctx.host.model}, ${ctx.host.kernel}; ` +
    `Deno ${Deno.version.deno}; load generator ${ctx.load.kind} (${ctx.load.version}), ` +
    `1 thread, ${connections} keep-alive connections. ` +
    (ctx.cpuPin
      ? "Server pinned to CPU 0 (`taskset -c 0`); load generator and the loopback sinks to CPU 1."
      : "No CPU pinning (taskset missing or one CPU)."),
    "",
    `Each row: the median of ${rounds} rounds (warm-up ${warmup} s, then ${duration} s measured), ` +
    "each configuration a fresh server process, order rotated every round. Ratios are to the " +
    "baseline of the same round, then the median. RSS is the peak (VmHWM / polled VmRSS) over " +
    "the run, max across rounds. CPU is server CPU time per request in the measured window.",
    "",
    "## Median of rounds",
    "",
    "| config | req/s | ×baseline | p50 ms | p99 ms | p99 ×baseline | peak RSS MB | CPU µs/req | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    "## Goals (issue 12)",
    "",
    "| goal | measured | verdict |",
    "|---|---|---|",
    ...goals,
    "",
    "## Configurations",
    "",
    ...configs.map((c) => `- **${c.name}**: ${c.description}`),
    "",
    "## Every run",
    "",
    "Sink counters are the server's own (`/api/health-check` with HEALTH_CHECK_DETAIL=true), " +
    "cumulative over warm-up + measurement: q queued, s sent, d dropped, f failed, r retried.",
    "",
    "| round | config | req/s | ×base | p50 ms | p99 ms | p99 ×base | RSS MB | CPU µs/req | sinks |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ...perRound,
    "",
    "## Reproduce one server by hand",
    "",
    "Ports and temp paths differ per run; the sinks are the bench's loopback stand-ins.",
    "",
    "```sh",
    ...[...ctx.commands.entries()].map(([name, cmd]) => `# ${name}\n${cmd}`),
    "```",
    "",
  ].join("\n");
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
} finally {
  await cleanup();
}
Deno.exit(code);
