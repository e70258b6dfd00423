// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * What the benchmark scripts share: the load generator (wrk, or autocannon from npm), the
 * server configurations, spawning a server pinned to one CPU, reading its memory and CPU from
 * /proc, checking that its sockets stay on loopback, and cleaning every child up on exit,
 * error or Ctrl-C.
 */
import type { SinkAddresses } from "./sinks.ts";
import type { OpenLoopResult } from "./open_loop.ts";

/** Where the app lives (the directory holding main.ts). */
export const APP_DIR = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The route under test. */
export const ROUTE = "/api/activities/home";
/**
 * `deno task start`'s V8 flags (read from deno.json, so the bench measures what users run): a
 * 2 MB young generation, and an old generation that grows to 2x what the last full GC left.
 */
export const START_V8_FLAGS = startV8Flags(`${APP_DIR}/deno.json`);

/** The `--v8-flags=...` argument of a deno.json's start task. */
export function startV8Flags(denoJson: string): string {
  const start: string = JSON.parse(Deno.readTextFileSync(denoJson)).tasks.start;
  const flag = start.split(/\s+/).find((arg) => arg.startsWith("--v8-flags="));
  if (flag === undefined) throw new Error(`${denoJson}: the start task has no --v8-flags`);
  return flag;
}

/**
 * A `--v8-flags=VALUE` argument for `deno run`, none without a value. After SERVER_FLAGS' own it
 * adds to them, and a flag it names again wins (how the benches' `--v8-flags` option applies).
 */
export function v8FlagArgs(value: string | undefined): string[] {
  return value ? [`--v8-flags=${value}`] : [];
}

/** Flags every server runs with, the baseline too: `deno task start`'s (V8 flags, permissions). */
export const SERVER_FLAGS = [
  START_V8_FLAGS,
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-sys",
];

// ---------------------------------------------------------------------------------------------
// Children and cleanup

const children = new Set<Deno.ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;

/** Registers work to run once on exit (sinks, temp dirs). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}

/** Kills every child still running, then runs the registered cleanups (last first). */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) kill(child, "SIGKILL");
    await Promise.allSettled([...children].map((child) => child.status));
    children.clear();
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // Best effort: keep cleaning.
      }
    }
  })();
  return cleaning;
}

/** Ctrl-C / SIGTERM: clean up and exit 130. */
export function installSignalHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      console.error(`\n${signal}: stopping servers and sinks`);
      cleanup().finally(() => Deno.exit(130));
    });
  }
}

/**
 * Runs a tool's `main` and exits with its code: an uncaught error is printed (exit 1), and the
 * cleanups (servers, stand-ins, temporary files) run either way.
 */
export async function runMain(main: () => Promise<number>): Promise<never> {
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  } finally {
    await cleanup();
  }
  Deno.exit(code);
}

function track(child: Deno.ChildProcess): Deno.ChildProcess {
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

// ---------------------------------------------------------------------------------------------
// Machine

/** True when `taskset` can pin processes. */
export async function hasTaskset(): Promise<boolean> {
  return (await tryOutput("taskset", ["--version"])) !== undefined;
}

/** Runs a command and returns its stdout+stderr, or undefined when it cannot run. */
export async function tryOutput(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return out.success || text.length > 0 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** nproc and the CPU model. */
export async function machine(): Promise<{ cpus: number; model: string; kernel: string }> {
  const [info] = await readProc(["/proc/cpuinfo"]);
  const model = /^model name\s*:\s*(.+)$/m.exec(info ?? "")?.[1]?.trim() ?? "unknown";
  return {
    cpus: navigator.hardwareConcurrency,
    model,
    kernel: (await tryOutput("uname", ["-sr"]))?.trim() ?? Deno.build.os,
  };
}

/** Pins this process (and so the in-process sinks) to a CPU, away from the server's. */
export async function pinSelf(cpu: number): Promise<void> {
  await tryOutput("taskset", ["-a", "-c", "-p", String(cpu), String(Deno.pid)]);
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

// ---------------------------------------------------------------------------------------------
// Configurations

/** Which sinks a configuration talks to. */
export type SinkKind = "none" | "healthy" | "blackhole";

/** The store a configuration runs on: the telemetry rows use memory (issue 16 keeps them so). */
export type StoreKind = "memory" | "pglite" | "postgres";

/** One server configuration. */
export interface BenchConfig {
  name: string;
  description: string;
  script: string;
  sinks: SinkKind;
  env(sinks: SinkAddresses | undefined, files: { alwaysRule: string }): Record<string, string>;
  /** The store; default memory. */
  store?: StoreKind;
  /** The configuration its ratios are to, in the same round; default `baseline`. */
  baseline?: string;
}

/** Where the store rows' data lives: made once per bench run (bench/stores.ts). */
export interface StoreTargets {
  /** A PGlite data directory, migrated and seeded. */
  pgliteDir?: string;
  /** A database on a PostgreSQL server, migrated and seeded (with its password). */
  postgresUrl?: string;
}

/** The environment and extra Deno flags that put a server on its configuration's store. */
export function storeSettings(
  store: StoreKind | undefined,
  targets: StoreTargets,
): { env: Record<string, string>; denoFlags: string[] } {
  switch (store ?? "memory") {
    case "memory":
      return { env: { DATABASE_URL: "memory:" }, denoFlags: [] };
    case "pglite": {
      const dir = targets.pgliteDir;
      if (!dir) throw new Error("A PGlite row needs its data directory (bench/stores.ts).");
      // "" is unset for config.ts: the default store, PGlite under DATA_DIR.
      return { env: { DATABASE_URL: "", DATA_DIR: dir }, denoFlags: [`--allow-write=${dir}`] };
    }
    case "postgres": {
      const url = targets.postgresUrl;
      if (!url) throw new Error("A PostgreSQL row needs a server (bench/stores.ts).");
      return { env: { DATABASE_URL: url }, denoFlags: [] };
    }
  }
}

/** An X-Ray sampling rule that samples every request. */
export const ALWAYS_SAMPLE_RULE = {
  SamplingRule: {
    RuleName: "BenchAlways",
    ResourceARN: "*",
    Priority: 1,
    FixedRate: 1,
    ReservoirSize: 1,
    ServiceName: "*",
    ServiceType: "*",
    Host: "*",
    HTTPMethod: "*",
    URLPath: "*",
    Version: 1,
  },
};

function fullEnv(sinks: SinkAddresses | undefined, rule: string): Record<string, string> {
  if (!sinks) throw new Error("The full configuration needs sinks.");
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: sinks.otlpUrl,
    OTEL_TRACES_SAMPLER: "always_on",
    AWS_XRAY_DAEMON_ADDRESS: sinks.xrayAddress,
    AWS_XRAY_SAMPLING_RULES: rule,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIABENCHMARK0000000",
    AWS_SECRET_ACCESS_KEY: "bench-secret-not-real",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: sinks.cloudwatchUrl,
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_FLUSH_INTERVAL_MS: "1000",
    ROLLBAR_ACCESS_TOKEN: "bench-rollbar-token",
    ROLLBAR_ENDPOINT: sinks.rollbarUrl,
  };
}

/** Every configuration, in table order. */
export const CONFIGS: BenchConfig[] = [
  {
    name: "baseline",
    description: "plain Hono + same store/service, no telemetry (bench/baseline.ts)",
    script: "bench/baseline.ts",
    sinks: "none",
    env: () => ({}),
  },
  {
    name: "bare",
    description: "main.ts, OTEL_SDK_DISABLED=true, no sinks (access log to /dev/null)",
    script: "main.ts",
    sinks: "none",
    env: () => ({ OTEL_SDK_DISABLED: "true" }),
  },
  {
    name: "floor",
    description:
      "bench/floor.ts: plain Deno.serve + bare's kept features (header list, security headers, two log lines), nothing else",
    script: "bench/floor.ts",
    sinks: "none",
    env: () => ({}),
  },
  {
    name: "floor-full",
    description:
      "bench/floor.ts + every remote sink's transport at its cheapest (an X-Ray datagram, OTLP JSON spans and records, PutLogEvents bodies with their SHA-256), healthy",
    script: "bench/floor.ts",
    sinks: "healthy",
    env: (sinks) => ({
      FLOOR_FEATURES: "headers,answer,logs,udp,otlp,cloudwatch",
      AWS_XRAY_DAEMON_ADDRESS: sinks!.xrayAddress,
      FLOOR_OTLP_URL: sinks!.otlpUrl,
      FLOOR_CLOUDWATCH_URL: sinks!.cloudwatchUrl,
    }),
  },
  {
    name: "full",
    description: "main.ts, OTLP always_on + X-Ray FixedRate 1 + CloudWatch + Rollbar, healthy",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks, files) => fullEnv(sinks, files.alwaysRule),
  },
  {
    name: "full-shipped-rule",
    description: "as full, X-Ray with the shipped aws/json/xray.json (FixedRate 0.1, reservoir 5)",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks) => fullEnv(sinks, "aws/json/xray.json"),
  },
  {
    name: "otel-sdk",
    description:
      "main.ts, OTLP/HTTP only (SDK pipeline, always_on: spans, log records and metrics, the defaults with an endpoint), no other sink",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: sinks!.otlpUrl,
      OTEL_TRACES_SAMPLER: "always_on",
    }),
  },
  {
    name: "otel-native",
    description: "main.ts, OTEL_DENO=true: Deno's built-in OpenTelemetry, OTLP/HTTP JSON",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks) => ({
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: sinks!.otlpUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_DENO_CONSOLE: "ignore",
    }),
  },
  {
    name: "xray-only",
    description: "main.ts, X-Ray only (FixedRate 1), spans recorded but not exported",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks, files) => ({
      AWS_XRAY_DAEMON_ADDRESS: sinks!.xrayAddress,
      AWS_XRAY_SAMPLING_RULES: files.alwaysRule,
    }),
  },
  {
    name: "cloudwatch-only",
    description: "main.ts, CloudWatch Logs only (access log + service log per request)",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks) => ({
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIABENCHMARK0000000",
      AWS_SECRET_ACCESS_KEY: "bench-secret-not-real",
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: sinks!.cloudwatchUrl,
      CLOUDWATCH_LOG_GROUP: "cruddur",
      CLOUDWATCH_FLUSH_INTERVAL_MS: "1000",
    }),
  },
  {
    name: "full-blackholed",
    description: "as full, every sink black-holed (TCP accepts, never answers; UDP port closed)",
    script: "main.ts",
    sinks: "blackhole",
    env: (sinks, files) => fullEnv(sinks, files.alwaysRule),
  },
  {
    name: "baseline-pglite",
    description: "bench/baseline.ts on PGlite (a seeded DATA_DIR), no telemetry, untraced queries",
    script: "bench/baseline.ts",
    sinks: "none",
    env: () => ({}),
    store: "pglite",
  },
  {
    name: "full-pglite",
    description: "as full, on PGlite (the same DATA_DIR): every query a CLIENT span + subsegment",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks, files) => fullEnv(sinks, files.alwaysRule),
    store: "pglite",
    baseline: "baseline-pglite",
  },
  {
    name: "baseline-postgres",
    description: "bench/baseline.ts on a PostgreSQL server (throwaway cluster on 127.0.0.1)",
    script: "bench/baseline.ts",
    sinks: "none",
    env: () => ({}),
    store: "postgres",
  },
  {
    name: "full-postgres",
    description: "as full, on the same PostgreSQL database: every query a CLIENT span + subsegment",
    script: "main.ts",
    sinks: "healthy",
    env: (sinks, files) => fullEnv(sinks, files.alwaysRule),
    store: "postgres",
    baseline: "baseline-postgres",
  },
];

/**
 * The configurations to run for `--only` (all when undefined): the named ones, the memory
 * baseline, and the baseline each one's ratios are to.
 */
export function selectConfigs(wanted: string[] | undefined): BenchConfig[] {
  if (!wanted) return CONFIGS;
  const names = new Set(["baseline", ...wanted]);
  for (const config of CONFIGS) {
    if (names.has(config.name) && config.baseline) names.add(config.baseline);
  }
  return CONFIGS.filter((config) => names.has(config.name));
}

/** The environment every server gets; nothing is inherited from the caller's. */
export function baseEnv(port: number): Record<string, string> {
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: "info",
    SHUTDOWN_TIMEOUT_MS: "3000",
    HEALTH_CHECK_DETAIL: "true",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
  };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Renders env + command as a shell line a user can paste. */
export function shellLine(env: Record<string, string>, argv: string[]): string {
  const quote = (s: string) => /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
  const shown = Object.entries(env).filter(([k]) =>
    !["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"].includes(k)
  );
  return [...shown.map(([k, v]) => `${k}=${quote(v)}`), ...argv.map(quote)].join(" ");
}

// ---------------------------------------------------------------------------------------------
// Servers

/** A running server under test. */
export interface ServerProcess {
  pid: number;
  url: string;
  argv: string[];
  env: Record<string, string>;
  /** Lines the server wrote to stderr (telemetry diagnostics), the last 50. */
  stderrTail: string[];
  stderrLines(): number;
  /** Spawn to the first 200 on the readiness path, ms (as fine as the polling interval). */
  readyMs: number;
  /** performance.now() at the spawn: what readyMs and later milestones count from. */
  spawnedAt: number;
  /** SIGTERM, wait for a graceful exit up to `graceMs`, then SIGKILL. Returns the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/** Hands `stream`'s text to `onLine` a line at a time until it ends (or the process goes). */
async function eachLine(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
  onLine: (line: string) => void,
): Promise<void> {
  let pending = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (pending + chunk).split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) onLine(line);
    }
  } catch {
    // The process went away.
  }
}

/** Starts a server process: `[taskset -c CPU] deno run <perms> [extra] <script>`. */
export async function startServer(options: {
  script: string;
  env: Record<string, string>;
  appDir?: string;
  cpu?: number;
  denoFlags?: string[];
  /** A command the server runs under (valgrind for bench/instructions.ts). */
  wrapper?: string[];
  /** How long to wait for the first healthy answer. */
  readyTimeoutMs?: number;
  /** Readiness polling: the path asked (default the health check) and the interval. */
  readyPath?: string;
  pollMs?: number;
  /** Given, stdout is read and handed over line by line (V8's --trace-gc output); else dropped. */
  onStdoutLine?: (line: string) => void;
}): Promise<ServerProcess> {
  const appDir = options.appDir ?? APP_DIR;
  const deno = [
    ...(options.wrapper ?? []),
    Deno.execPath(),
    "run",
    ...SERVER_FLAGS,
    ...(options.denoFlags ?? []),
    options.script,
  ];
  const argv = options.cpu === undefined ? deno : ["taskset", "-c", String(options.cpu), ...deno];
  const spawnedAt = performance.now();
  const child = track(
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      cwd: appDir,
      // The telemetry rows measure the pipeline on the memory store (issue 16 keeps them so);
      // the store rows say otherwise in their env (storeSettings).
      env: { DATABASE_URL: "memory:", ...options.env },
      clearEnv: true,
      stdin: "null",
      stdout: options.onStdoutLine ? "piped" : "null",
      stderr: "piped",
    }).spawn(),
  );
  const stderrTail: string[] = [];
  let lineCount = 0;
  void eachLine(child.stderr, (line) => {
    lineCount++;
    stderrTail.push(line);
    if (stderrTail.length > 50) stderrTail.shift();
  });
  if (options.onStdoutLine) void eachLine(child.stdout, options.onStdoutLine);
  const url = `http://${options.env.HOST}:${options.env.PORT}`;
  const server: ServerProcess = {
    pid: child.pid,
    url,
    argv: argv.map((a) => a === Deno.execPath() ? "deno" : a),
    env: options.env,
    stderrTail,
    stderrLines: () => lineCount,
    readyMs: NaN,
    spawnedAt,
    async stop(graceMs = 8000) {
      kill(child, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        child.status.then((s) => s.code),
        new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), graceMs)),
      ]);
      clearTimeout(timer);
      if (done !== undefined) return done;
      kill(child, "SIGKILL");
      return (await child.status).code;
    },
  };
  const exited = child.status.then((s) => s.code);
  const readyMs = options.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + readyMs;
  while (Date.now() < deadline) {
    const code = await Promise.race([exited, delay(options.pollMs ?? 100).then(() => undefined)]);
    if (code !== undefined) {
      throw new Error(
        `The server exited with code ${code} before it was ready:\n${stderrTail.join("\n")}`,
      );
    }
    try {
      const response = await fetch(`${url}${options.readyPath ?? "/api/health-check"}`);
      await response.body?.cancel();
      if (response.ok) {
        server.readyMs = performance.now() - spawnedAt;
        return server;
      }
    } catch {
      // Not listening yet.
    }
  }
  await server.stop(1000);
  throw new Error(
    `The server did not answer on ${url} within ${readyMs / 1000} s:\n${stderrTail.join("\n")}`,
  );
}

/** What answered a PGlite start's first read, and when PGlite itself answered everything. */
export interface PgliteStartFacts {
  /** `snapshot` (the last clean stop's rows), `seed` (a new DATA_DIR), or `pglite` itself. */
  source: "snapshot" | "seed" | "pglite";
  /** Spawn to PGlite answering everything, ms (the first 200 when it answered that one). */
  pgliteReadyMs: number;
}

/**
 * Right after a PGlite server's first 200 (startServer with readyPath): which source answered
 * it, from the health check's `database.warm_start` (its `reads` counted that first answer
 * when memory gave it), then the health check polled every `pollMs` (rarely: each poll is a
 * request with full telemetry on the one core PGlite boots on) until PGlite answers
 * everything; the time is the server's own `database_ready_at`, from the spawn.
 */
export async function pgliteStartFacts(
  server: ServerProcess,
  options: { pollMs?: number; timeoutMs?: number } = {},
): Promise<PgliteStartFacts> {
  interface WarmStart {
    source: "snapshot" | "seed";
    reads: number;
    serving: boolean;
    database_ready_at?: string;
  }
  const warmStart = async (): Promise<WarmStart | undefined> => {
    const response = await fetch(`${server.url}/api/health-check`);
    const body = await response.json() as { database?: { warm_start?: WarmStart } };
    return body.database?.warm_start;
  };
  const first = await warmStart();
  if (!first || first.reads === 0) return { source: "pglite", pgliteReadyMs: server.readyMs };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let state = first;
  while (state.database_ready_at === undefined) {
    if (Date.now() > deadline) throw new Error("PGlite was not ready in time");
    await delay(options.pollMs ?? 100);
    state = (await warmStart()) ?? state;
  }
  const spawnedAtEpoch = performance.timeOrigin + server.spawnedAt;
  return {
    source: first.source,
    pgliteReadyMs: Date.parse(state.database_ready_at) - spawnedAtEpoch,
  };
}

/** What `startPglite` needs: the configuration, its sinks and rule file, the data directory. */
export interface PgliteStartOptions {
  config: BenchConfig;
  sinks: SinkAddresses;
  alwaysRule: string;
  dataDir: string;
  appDir: string;
  /** `--env=K=V` overrides, last. */
  overrides: Record<string, string>;
  denoFlags?: readonly string[];
  cpuPin: boolean;
}

/**
 * A PGlite server of `options.config` on `dataDir`, started from spawn to its first 200 of
 * ROUTE (polled every 2 ms): what bench/run.ts's cold starts and bench/pglite_start.ts time.
 */
export function startPglite(options: PgliteStartOptions): Promise<ServerProcess> {
  const onStore = storeSettings("pglite", { pgliteDir: options.dataDir });
  return startServer({
    script: options.config.script,
    env: {
      ...baseEnv(freePort()),
      ...options.config.env(options.sinks, { alwaysRule: options.alwaysRule }),
      ...onStore.env,
      ...options.overrides,
    },
    appDir: options.appDir,
    denoFlags: [...onStore.denoFlags, ...(options.denoFlags ?? [])],
    ...(options.cpuPin ? { cpu: 0 } : {}),
    readyPath: ROUTE,
    pollMs: 2,
    readyTimeoutMs: 120_000,
  });
}

/**
 * Stops a PGlite server cleanly, so the next start on its directory finds the snapshot. The
 * bound is generous: on a loaded machine the stop (flush, row dump, checkpoint) can take
 * seconds; one cut short leaves no snapshot, so a non-zero exit is reported.
 */
export async function stopPglite(server: ServerProcess): Promise<void> {
  const code = await server.stop(30_000);
  if (code !== 0) console.error(`note: a PGlite server exited with ${code} when stopped`);
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The server's telemetry counters (HEALTH_CHECK_DETAIL=true), when it has any. */
export async function telemetryStats(
  url: string,
): Promise<Record<string, Record<string, number>> | undefined> {
  try {
    const response = await fetch(`${url}/api/health-check`);
    const body = await response.json() as { telemetry?: Record<string, Record<string, number>> };
    return body.telemetry;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// /proc

/** Memory (kB) and CPU time (ms) of a process. */
export interface ProcSample {
  rssKb: number;
  hwmKb: number;
  cpuMs: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux.

/**
 * Reads files of another process's /proc through `cat`: Deno grants /proc/<pid> of other
 * processes only with --allow-all, and the bench runs with --allow-run instead. One file's text
 * per path, undefined for a file that could not be read.
 */
async function readProc(paths: string[]): Promise<Array<string | undefined>> {
  try {
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        'for f; do cat "$f" 2>/dev/null || printf "\\001"; printf "\\000"; done',
        "sh",
        ...paths,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const parts = new TextDecoder().decode(out.stdout).split("\0");
    return paths.map((_, i) => {
      const text = parts[i];
      return text === undefined || text === "\x01" ? undefined : text;
    });
  } catch {
    return paths.map(() => undefined);
  }
}

/** Reads VmRSS, VmHWM and utime+stime of `pid`. */
export async function procSample(pid: number): Promise<ProcSample | undefined> {
  const [status, stat] = await readProc([`/proc/${pid}/status`, `/proc/${pid}/stat`]);
  if (status === undefined || stat === undefined) return undefined;
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rssKb: kb("VmRSS"),
    hwmKb: kb("VmHWM"),
    cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
  };
}

/** Polls a process's RSS every `intervalMs`; `stop()` returns the highest RSS seen (kB). */
export function pollRss(pid: number, intervalMs = 100): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const sample = await procSample(pid);
      if (sample) max = Math.max(max, sample.rssKb, sample.hwmKb);
      await delay(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

function isLoopbackHex(hex: string): boolean {
  if (/^0+$/.test(hex)) return true; // unconnected
  if (hex.length === 8) return hex.slice(6, 8).toUpperCase() === "7F"; // 127.0.0.0/8, LE
  const upper = hex.toUpperCase();
  return upper === "00000000000000000000000001000000" || // ::1
    (upper.startsWith("0000000000000000FFFF0000") && upper.slice(30, 32) === "7F");
}

/** Remote addresses of `pid`'s sockets that are not loopback (empty: all on 127.0.0.1/::1). */
export async function nonLoopbackPeers(pid: number): Promise<string[]> {
  let links = "";
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", 'readlink "/proc/$1"/fd/* 2>/dev/null', "sh", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    links = new TextDecoder().decode(out.stdout);
  } catch {
    return [];
  }
  const inodes = new Set([...links.matchAll(/socket:\[(\d+)\]/g)].map((m) => m[1]!));
  const tables = ["tcp", "tcp6", "udp", "udp6"];
  const texts = await readProc(tables.map((t) => `/proc/${pid}/net/${t}`));
  const bad: string[] = [];
  tables.forEach((table, i) => {
    for (const line of (texts[i] ?? "").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      const [local, remote] = [cols[1]!, cols[2]!];
      const localHost = local.split(":")[0]!;
      const remoteHost = remote.split(":")[0]!;
      if (!isLoopbackHex(remoteHost) || (!/^0+$/.test(localHost) && !isLoopbackHex(localHost))) {
        bad.push(`${table} ${local} -> ${remote}`);
      }
    }
  });
  return bad;
}

// ---------------------------------------------------------------------------------------------
// Load generator

/** One load run's result. */
export interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and non-2xx answers. */
  errors: number;
}

/** The load generator in use. */
export interface LoadGenerator {
  kind: "wrk" | "autocannon";
  version: string;
  /** Runs `connections` keep-alive connections against `url` for `seconds`. */
  run(url: string, seconds: number, connections: number): Promise<LoadResult>;
}

const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

function pinned(cpu: number | undefined, argv: string[]): string[] {
  return cpu === undefined ? argv : ["taskset", "-c", String(cpu), ...argv];
}

async function runCapture(argv: string[]): Promise<string> {
  const child = track(
    new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${argv.join(" ")} failed (${out.code}):\n${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/**
 * Finds wrk; when it is missing, installs it with apt-get (as root, unless `install` is false),
 * else falls back to autocannon through npx; else explains how to get one and returns undefined.
 */
export async function findLoadGenerator(options: {
  tmpDir: string;
  cpu: number | undefined;
  install: boolean;
}): Promise<LoadGenerator | undefined> {
  let version = await tryOutput("wrk", ["--version"]);
  if (version === undefined && options.install && Deno.uid() === 0) {
    console.error("wrk not found: installing it with `apt-get install -y wrk` ...");
    const ok = await new Deno.Command("apt-get", {
      args: ["install", "-y", "wrk"],
      stdout: "null",
      stderr: "inherit",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output().then((o) => o.success, () => false);
    if (ok) version = await tryOutput("wrk", ["--version"]);
  }
  if (version !== undefined) {
    const script = `${options.tmpDir}/report.lua`;
    await Deno.writeTextFile(script, WRK_SCRIPT);
    return {
      kind: "wrk",
      version: /wrk [^\s]+/.exec(version)?.[0] ?? "wrk",
      async run(url, seconds, connections) {
        const text = await runCapture(pinned(options.cpu, [
          "wrk",
          "-t1",
          `-c${connections}`,
          `-d${seconds}s`,
          "--timeout",
          "10s",
          "-s",
          script,
          url,
        ]));
        const json = /BENCH_JSON (\{.*\})/.exec(text)?.[1];
        if (!json) throw new Error(`Could not read wrk's summary:\n${text}`);
        const r = JSON.parse(json) as Record<string, number>;
        return {
          requests: r.requests!,
          rps: r.requests! / (r.duration_us! / 1e6),
          p50Ms: r.p50_us! / 1000,
          p99Ms: r.p99_us! / 1000,
          errors: r.errors!,
        };
      },
    };
  }
  const autocannon = await tryOutput("npx", ["--yes", "autocannon", "--version"]);
  if (autocannon !== undefined && /autocannon/i.test(autocannon)) {
    return {
      kind: "autocannon",
      version: autocannon.trim().split("\n")[0] ?? "autocannon",
      async run(url, seconds, connections) {
        const text = await runCapture(pinned(options.cpu, [
          "npx",
          "--yes",
          "autocannon",
          "-c",
          String(connections),
          "-d",
          String(seconds),
          "-j",
          url,
        ]));
        const r = JSON.parse(text.slice(text.indexOf("{"))) as {
          requests: { total: number; average: number };
          latency: { p50: number; p99: number };
          duration: number;
          errors: number;
          timeouts: number;
          non2xx: number;
        };
        return {
          requests: r.requests.total,
          rps: r.requests.total / r.duration,
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          errors: r.errors + r.timeouts + r.non2xx,
        };
      },
    };
  }
  console.error(
    "No load generator found. Install wrk (Debian/Ubuntu: `sudo apt-get install -y wrk`; " +
      "macOS: `brew install wrk`) or make `npx autocannon` work (Node.js + npm), then rerun.",
  );
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `--env=KEY=VALUE` flags as an environment (the value may itself hold `=`). */
export function envOverrides(flags: readonly string[] | undefined): Record<string, string> {
  return Object.fromEntries(
    (flags ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

/**
 * Runs bench/open_loop.ts against `url` at `rate` requests a second for `seconds` (no warm-up of
 * its own), in a process of its own, on CPU 1 when `pin`; its result.
 */
export async function openLoop(
  url: string,
  options: { rate: number; seconds: number; pin: boolean },
): Promise<OpenLoopResult> {
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net",
    `${APP_DIR}/bench/open_loop.ts`,
    `--url=${url}`,
    `--rate=${options.rate}`,
    `--duration=${options.seconds}`,
    "--warmup=0",
  ];
  const argv = options.pin ? ["taskset", "-c", "1", ...deno] : deno;
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stderr: "inherit" }).output();
  if (!out.success) throw new Error(`open_loop.ts failed (exit ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as OpenLoopResult;
}
