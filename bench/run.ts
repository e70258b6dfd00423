// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * `deno task bench`: the cost of full telemetry on GET /api/activities/home, side by side.
 *
 * Each configuration (see CONFIGS in lib.ts) runs as its own `deno run ... main.ts` process,
 * pinned to CPU 0, with console output sent to /dev/null and the access log on. wrk (pinned to
 * CPU 1, with this process and its loopback sinks) warms it up, then measures it; the rounds
 * alternate configurations and rotate their order. Prints and writes bench/results.md.
 *
 * The store rows (baseline-pglite, full-pglite, baseline-postgres, full-postgres) run on data
 * bench/stores.ts made before the rounds; each full row's ratios are to the baseline on its store.
 *
 * Options: --rounds=3 --duration=10 --warmup=3 --connections=50 --only=full,bare
 *          --app-dir=/path/to/a/copy --out=bench/results.md --no-install --no-write
 *          --env=KEY=VALUE (main.ts rows) --v8-flags=--max-semi-space-size=8 (every server)
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  baseEnv,
  type BenchConfig,
  CONFIGS,
  delay,
  envOverrides,
  findLoadGenerator,
  freePort,
  hasTaskset,
  installSignalHandlers,
  machine,
  median,
  nonLoopbackPeers,
  onCleanup,
  pgliteStartFacts,
  pinSelf,
  pollRss,
  procSample,
  ROUTE,
  runMain,
  selectConfigs,
  shellLine,
  startPglite,
  startServer,
  stopPglite,
  storeSettings,
  type StoreTargets,
  telemetryStats,
  v8FlagArgs,
} from "./lib.ts";
import { deliveryLine, goalLines, sourceCounts } from "./goals.ts";
import { type SinkAddresses, startSinksProcess } from "./sinks.ts";
import { type PreparedStores, prepareStores } from "./stores.ts";
import { PGLITE_VERSION } from "../services/store/pglite_template.ts";

interface RunResult {
  config: string;
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
  cpuUsPerReq: number;
  /** The PostgreSQL server's own CPU per request (its processes), when it is our cluster. */
  dbCpuUsPerReq?: number;
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
    /** V8 flags after the start task's, for every server (the baseline too): they win. */
    "v8-flags": { type: "string" },
  },
});
const v8Flags = v8FlagArgs(args["v8-flags"]);
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const warmup = Number(args.warmup);
const connections = Number(args.connections);
const appDir = args["app-dir"] ?? APP_DIR;
const outFile = args.out ?? `${APP_DIR}/bench/results.md`;
/** --env=KEY=VALUE overrides for every main.ts configuration (experiments: LOG_FORMAT=json). */
const overrides = envOverrides(args.env);
const wanted = args.only?.split(",").map((s) => s.trim());
/** Reassigned once the stores are prepared: rows whose store is missing are dropped. */
let configs = selectConfigs(wanted);
/** Rows that could not run here, and why (printed and in the report). */
let skipped = new Map<string, string>();

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A server's share of one CPU from req/s × CPU µs a request, as a percentage. */
function busy(rpsTimesCpuUs: number): string {
  return `${(rpsTimesCpuUs / 1e4).toFixed(0)}%`;
}

async function measure(
  config: BenchConfig,
  round: number,
  sinks: Record<"healthy" | "blackhole", SinkAddresses>,
  files: { alwaysRule: string },
  load: Awaited<ReturnType<typeof findLoadGenerator>> & object,
  pin: boolean,
  stores: PreparedStores,
): Promise<RunResult & { command: string }> {
  const port = freePort();
  const sinkSet = config.sinks === "none" ? undefined : sinks[config.sinks];
  const onStore = storeSettings(config.store, stores.targets);
  const env = {
    ...baseEnv(port),
    ...config.env(sinkSet, files),
    ...onStore.env,
    ...(config.script === "main.ts" ? overrides : {}),
  };
  const server = await startServer({
    script: config.script,
    env,
    appDir,
    denoFlags: [...onStore.denoFlags, ...v8Flags],
    ...(pin ? { cpu: 0 } : {}),
    // PGlite's first start after a copy of the data dir can be seconds on a loaded machine.
    ...(config.store ? { readyTimeoutMs: 120_000 } : {}),
  });
  const url = `${server.url}${ROUTE}`;
  try {
    await load.run(url, warmup, connections);
    // The warm-up's last requests may still be queued in the server (PGlite runs one query at
    // a time): one more request returns once they are served, so the measurement starts idle.
    await (await fetch(url)).body?.cancel();
    const before = await procSample(server.pid);
    const dbBefore = config.store === "postgres" ? await stores.databaseCpuMs() : undefined;
    const rss = pollRss(server.pid);
    const leakCheck = delay((duration * 1000) / 2).then(() => nonLoopbackPeers(server.pid));
    const result = await load.run(url, duration, connections);
    const after = await procSample(server.pid);
    const dbAfter = dbBefore === undefined ? undefined : await stores.databaseCpuMs();
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
      ...(dbBefore !== undefined && dbAfter !== undefined
        ? { dbCpuUsPerReq: ((dbAfter - dbBefore) * 1000) / result.requests }
        : {}),
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
  // In processes of their own (inheriting this process's CPU), so nothing here delays them.
  const healthy = await startSinksProcess("healthy");
  onCleanup(() => healthy.close());
  const blackhole = await startSinksProcess("blackhole");
  onCleanup(() => blackhole.close());
  const stores = await prepareStores(configs, tmpDir);
  onCleanup(() => stores.close());
  skipped = stores.skipped;
  configs = configs.filter((c) => !skipped.has(c.name));
  for (const [name, why] of skipped) console.log(`${name}: skipped (${why})`);

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
      const r = await measure(
        config,
        round,
        { healthy, blackhole },
        { alwaysRule },
        load,
        cpuPin,
        stores,
      );
      commands.set(config.name, r.command);
      results.push(r);
      console.log(
        `round ${round} ${config.name.padEnd(18)} ${fmt(r.rps).padStart(7)} req/s  ` +
          `p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  ` +
          `RSS ${r.rssMb.toFixed(0)} MB  CPU ${r.cpuUsPerReq.toFixed(0)} us/req` +
          (r.dbCpuUsPerReq !== undefined ? ` + db ${r.dbCpuUsPerReq.toFixed(0)} us/req` : "") +
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
        denoFlags: v8Flags,
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

  const pgliteColdStart = await pgliteColdStarts(stores.targets, healthy, alwaysRule, cpuPin);

  const md = report(results, {
    host,
    load,
    command,
    commands,
    cpuPin,
    coldStart,
    pgliteColdStart,
  });
  console.log(`\n${md}`);
  if (!args["no-write"]) {
    await Deno.writeTextFile(outFile, md);
    console.log(`written to ${outFile}`);
  }
  return results.some((r) => r.errors > 0 || r.leaks.length > 0) ? 2 : 0;
}

/** PGlite's cold starts: what issue 16 bounds (first data answer after spawn). */
interface PgliteColdStart {
  /** Spawn to the first 200 of the route on the prepared (existing) DATA_DIR, ms. */
  existing: number[];
  /** What answered each of those first reads: `snapshot`, `seed` or `pglite`. */
  existingSources: string[];
  /** Spawn to PGlite answering everything, for each of them, ms. */
  existingPgliteReady: number[];
  /** The same on an empty DATA_DIR (initdb or the template's copy, migrations, seed), ms. */
  empty?: number;
  emptySource?: string;
  emptyPgliteReady?: number;
  /** Whether the app dir has the prebuilt cluster an empty DATA_DIR is copied from. */
  template: boolean;
}

/** True when `appDir` has `deno task pglite-template`'s cluster (an empty DATA_DIR copies it). */
async function hasPgliteTemplate(appDir: string): Promise<boolean> {
  try {
    await Deno.stat(`${appDir}/.cache/pglite-${PGLITE_VERSION}-template/PG_VERSION`);
    return true;
  } catch {
    return false;
  }
}

function templateNote(template: boolean): string {
  return template ? "copied from deno task pglite-template's cluster" : "initdb: no template";
}

/**
 * With full-pglite selected: five starts of the full configuration on the prepared DATA_DIR,
 * then one on an empty one, each timed from spawn to the first 200 of the route (polled every
 * 2 ms), after the rounds so the module cache is warm. The real restart path: each start
 * follows the clean stop (SIGTERM, exit 0) of a server on the same directory, a warm-up start
 * for the first, so each finds the snapshot that stop wrote; each says what answered its
 * first read and when PGlite itself was ready (pgliteStartFacts).
 */
async function pgliteColdStarts(
  targets: StoreTargets,
  healthy: SinkAddresses,
  alwaysRule: string,
  cpuPin: boolean,
): Promise<PgliteColdStart | undefined> {
  const config = configs.find((c) => c.name === "full-pglite");
  if (!config || !targets.pgliteDir) return undefined;
  const start = async (dataDir: string) => {
    const server = await startPglite({
      config,
      sinks: healthy,
      alwaysRule,
      dataDir,
      appDir,
      overrides,
      cpuPin,
      denoFlags: v8Flags,
    });
    const facts = await pgliteStartFacts(server);
    await stopPglite(server);
    return { ms: server.readyMs, ...facts };
  };
  await start(targets.pgliteDir); // warm-up: its clean stop writes the first one's snapshot
  const starts = [];
  for (let i = 0; i < 5; i++) starts.push(await start(targets.pgliteDir));
  const empty = await start(`${targets.pgliteDir}-empty`);
  const template = await hasPgliteTemplate(appDir);
  const list = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(", ");
  console.log(
    `PGlite cold start to the first 200 (full-pglite): existing DATA_DIR ${
      list(starts.map((s) => s.ms))
    } ms (answered by ${sourceCounts(starts.map((s) => s.source))}; PGlite ready ${
      list(starts.map((s) => s.pgliteReadyMs))
    } ms); empty DATA_DIR ${empty.ms.toFixed(0)} ms (${empty.source}; PGlite ready ${
      empty.pgliteReadyMs.toFixed(0)
    } ms; ${templateNote(template)})`,
  );
  return {
    existing: starts.map((s) => s.ms),
    existingSources: starts.map((s) => s.source),
    existingPgliteReady: starts.map((s) => s.pgliteReadyMs),
    empty: empty.ms,
    emptySource: empty.source,
    emptyPgliteReady: empty.pgliteReadyMs,
    template,
  };
}

/** The store rows' section: each store's baseline and full row, the store's own cost. */
function storeLines(results: RunResult[], pgliteColdStart: PgliteColdStart | undefined): string[] {
  const cpu = (name: string) => {
    const runs = results.filter((r) => r.config === name);
    return runs.length ? median(runs.map((r) => r.cpuUsPerReq)) : NaN;
  };
  const rss = (name: string) =>
    Math.max(...results.filter((r) => r.config === name).map((r) => r.rssMb));
  const dbCpu = (name: string) => {
    const values = results.filter((r) => r.config === name && r.dbCpuUsPerReq !== undefined)
      .map((r) => r.dbCpuUsPerReq!);
    return values.length ? median(values) : undefined;
  };
  const lines: string[] = [];
  const memory = cpu("baseline");
  for (const store of ["pglite", "postgres"] as const) {
    const base = `baseline-${store}`;
    const full = `full-${store}`;
    const why = skipped.get(base) ?? skipped.get(full);
    if (why) {
      lines.push(`| ${store} | skipped: ${why} | | | | | |`);
      continue;
    }
    if (!results.some((r) => r.config === base)) continue;
    const db = dbCpu(base);
    const own = cpu(base) - memory + (db ?? 0);
    const ratio = (key: "rps" | "cpuUsPerReq") => {
      const values = results.filter((r) => r.config === full).map((r) => {
        const b = results.find((x) => x.config === base && x.round === r.round);
        return b ? r[key] / b[key] : NaN;
      });
      return values.length ? median(values) : NaN;
    };
    lines.push(
      `| ${store} | ${cpu(base).toFixed(0)}${db !== undefined ? ` + db ${db.toFixed(0)}` : ""} | ` +
        `${cpu(full).toFixed(0)}${
          dbCpu(full) !== undefined ? ` + db ${dbCpu(full)!.toFixed(0)}` : ""
        } | ` +
        `${ratio("rps").toFixed(2)}× | ${ratio("cpuUsPerReq").toFixed(2)}× | ${own.toFixed(0)} | ` +
        `${rss(full).toFixed(0)} |`,
    );
  }
  if (lines.length === 0) return [];
  const out = [
    "## Stores (issue 16)",
    "",
    "Each store's baseline (bench/baseline.ts on that store, untraced) and full row (everything " +
    "on, every query a CLIENT span and an X-Ray subsegment) on the same data: the seed, made by " +
    "bench/stores.ts before the rounds. CPU is the app server's per request (PGlite runs inside " +
    "it); `db` is the PostgreSQL server's own processes (on CPU 1 with the load generator). The " +
    "store's own cost is its baseline's CPU minus the memory baseline's, plus the database " +
    "server's.",
    "",
    "| store | baseline CPU µs/req | full CPU µs/req | full req/s ×its baseline | full CPU ×its baseline | store's own cost µs/req | full peak RSS MB |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...lines,
    "",
  ];
  if (pgliteColdStart) {
    out.push(
      `PGlite cold start, spawn to the first 200 of ${ROUTE} (full-pglite's env), each start ` +
        `after the previous server's clean stop: existing DATA_DIR ` +
        `${pgliteColdStart.existing.map((ms) => ms.toFixed(0)).join(", ")} ms, answered by ` +
        `${sourceCounts(pgliteColdStart.existingSources)}; spawn to PGlite ready ` +
        `${pgliteColdStart.existingPgliteReady.map((ms) => ms.toFixed(0)).join(", ")} ms. ` +
        `Empty DATA_DIR (${templateNote(pgliteColdStart.template)}, migrations, seed) ` +
        `${pgliteColdStart.empty?.toFixed(0)} ms, answered by ${pgliteColdStart.emptySource}; ` +
        `PGlite ready ${pgliteColdStart.emptyPgliteReady?.toFixed(0)} ms.`,
      "",
    );
  }
  return out;
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
    pgliteColdStart: PgliteColdStart | undefined;
  },
): string {
  /** The run a row's ratios are to: its configuration's baseline in the same round. */
  const baseFor = (name: string, round: number) => {
    const baseline = CONFIGS.find((c) => c.name === name)?.baseline ?? "baseline";
    return results.find((r) => r.config === baseline && r.round === round);
  };
  const rows: string[] = [];
  for (const config of configs) {
    const runs = results.filter((r) => r.config === config.name);
    const baseOf = (round: number) => baseFor(config.name, round);
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
        `${m.cpu.toFixed(0)} | ${busy(median(runs.map((r) => r.rps * r.cpuUsPerReq)))} | ` +
        `${runs.reduce((n, r) => n + r.errors, 0)} |`,
    );
  }
  const perRound = results.map((r) => {
    const base = baseFor(r.config, r.round);
    return `| ${r.round} | ${r.config} | ${fmt(r.rps)} | ${
      (r.rps / (base?.rps ?? NaN)).toFixed(2)
    }× | ` +
      `${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${
        (r.p99Ms / (base?.p99Ms ?? NaN)).toFixed(2)
      }× | ` +
      `${r.rssMb.toFixed(0)} | ${r.cpuUsPerReq.toFixed(0)} | ${busy(r.rps * r.cpuUsPerReq)} | ` +
      `${sinkSummary(r.telemetry) || "–"} |`;
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
  // Issue 12's goals (the RSS bound among them) are the memory-store rows'; the store rows
  // report their own figures in their section.
  const onMemory = results.filter((r) => !CONFIGS.find((c) => c.name === r.config)?.store);
  const goals = goalLines(
    onMemory,
    pair,
    ctx.coldStart,
    ctx.pgliteColdStart?.existing ?? [],
    ctx.pgliteColdStart?.existingSources ?? [],
  );
  const delivery = deliveryLine(
    results.filter((r) => CONFIGS.find((c) => c.name === r.config)?.sinks === "healthy"),
  );
  if (delivery) goals.push(delivery);
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
    "baseline of the same round (a store row's: the baseline on its store), then the median. RSS is the peak (VmHWM / polled VmRSS) over " +
    "the run, max across rounds. CPU is server CPU time per request in the measured window. " +
    "Server busy is req/s × CPU a request, the share of one CPU the server used: well under 100% " +
    "means the load generator (or a stand-in sharing its CPU) held the row back, not the server.",
    "",
    "## Median of rounds",
    "",
    "| config | req/s | ×baseline | p50 ms | p99 ms | p99 ×baseline | peak RSS MB | CPU µs/req | server busy | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    "## Goals (issues 12 and 16)",
    "",
    "| goal | measured | verdict |",
    "|---|---|---|",
    ...goals,
    "",
    ...storeLines(results, ctx.pgliteColdStart),
    "## Configurations",
    "",
    ...configs.map((c) =>
      `- **${c.name}**: ${c.description}` + (c.baseline ? ` (ratios to ${c.baseline})` : "")
    ),
    ...[...skipped].map(([name, why]) => `- **${name}**: skipped, ${why}`),
    "",
    "## Every run",
    "",
    "Sink counters are the server's own (`/api/health-check` with HEALTH_CHECK_DETAIL=true), " +
    "cumulative over warm-up + measurement: q queued, s sent, d dropped, f failed, r retried.",
    "",
    "| round | config | req/s | ×base | p50 ms | p99 ms | p99 ×base | RSS MB | CPU µs/req | busy | sinks |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
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

await runMain(main);
