// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * Peak memory of the app itself, in process, with the bench's V8 flags: the real
 * `createTelemetry` + `createApp` of a bench configuration fed a fixed number of requests
 * (`app.fetch`, 8 at a time), the loopback sinks in this process on CPU 1 and the app in a child
 * on CPU 0 (the sinks' own buffers are not counted: in bench/inprocess.ts they share the heap).
 * A fixed request count, not a fixed time, so the figure moves little when colleagues load the
 * machine. Prints the peak RSS, V8's heap and external memory at that moment, and the full and
 * young GCs the run took (`--trace-gc`). For finding where memory goes and A/B-ing a change;
 * `deno task bench` gives the figures that count.
 *
 *   deno run -A bench/memory.ts --config=full [--requests=30000] [--env=KEY=VALUE]
 *     [--v8-flags=--max-semi-space-size=2,...]   (default: the bench servers' V8 flags)
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  APP_DIR,
  CONFIGS,
  envOverrides,
  pinSelf,
  ROUTE,
  SERVER_FLAGS,
} from "./lib.ts";
import { type Sinks, startSinksOf } from "./sinks.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "full" },
    requests: { type: "string", default: "30000" },
    env: { type: "string", multiple: true },
    "v8-flags": { type: "string" },
    /** Internal: this process is the measured child; the value is its environment (JSON). */
    child: { type: "string" },
  },
});

/** What the child reports (MB, counts). */
interface Report {
  peakRssMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  peakHeapTotalMb: number;
  peakExternalMb: number;
  startRssMb: number;
}

const MB = 1024 * 1024;
const REPORT = "MEMORY_REPORT ";

async function child(env: Record<string, string>): Promise<void> {
  const { createApp } = await import("../app.ts");
  const { loadConfig } = await import("../config.ts");
  const { createMemoryStore } = await import("../services/store.ts");
  const { createTelemetry } = await import("../telemetry/mod.ts");
  const appConfig = loadConfig(env);
  const telemetry = await createTelemetry(appConfig);
  const app = createApp({
    config: appConfig,
    telemetry,
    store: createMemoryStore({ seededAt: Date.now(), currentUser: "andrewbrown" }),
    clock: Date.now,
  });
  const info = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
    completed: Promise.resolve(),
  } as unknown as Deno.ServeHandlerInfo;
  const url = `http://127.0.0.1:8080${ROUTE}`;
  const headers = { host: "127.0.0.1:8080", "user-agent": "bench/memory", accept: "*/*" };
  const one = async () => {
    const response = await app.fetch(new Request(url, { headers }), info);
    await response.arrayBuffer();
  };
  const start = Deno.memoryUsage();
  const report: Report = {
    peakRssMb: 0,
    heapTotalMb: 0,
    heapUsedMb: 0,
    externalMb: 0,
    peakHeapTotalMb: 0,
    peakExternalMb: 0,
    startRssMb: start.rss / MB,
  };
  const requests = Number(args.requests);
  for (let i = 0; i < requests; i += 8) {
    await Promise.all([one(), one(), one(), one(), one(), one(), one(), one()]);
    if (i % 48 !== 40) continue;
    // Let the sinks' timers run, as they would between requests, then sample.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const m = Deno.memoryUsage();
    report.peakHeapTotalMb = Math.max(report.peakHeapTotalMb, m.heapTotal / MB);
    report.peakExternalMb = Math.max(report.peakExternalMb, m.external / MB);
    if (m.rss / MB > report.peakRssMb) {
      report.peakRssMb = m.rss / MB;
      report.heapTotalMb = m.heapTotal / MB;
      report.heapUsedMb = m.heapUsed / MB;
      report.externalMb = m.external / MB;
    }
  }
  const status = await Deno.readTextFile("/proc/self/status");
  const hwm = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
  report.peakRssMb = Math.max(report.peakRssMb, hwm);
  console.error(REPORT + JSON.stringify(report));
  Deno.exit(0);
}

async function parent(): Promise<number> {
  const config = CONFIGS.find((c) => c.name === args.config);
  if (!config || config.script !== "main.ts" || config.store) {
    console.error(`${args.config}: not a memory-store main.ts configuration`);
    return 1;
  }
  await pinSelf(1);
  const sinks: Sinks | undefined = await startSinksOf(config.sinks);
  const rule = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(rule, JSON.stringify(ALWAYS_SAMPLE_RULE));
    const env = {
      HOST: "127.0.0.1",
      PORT: "8080",
      LOG_LEVEL: "info",
      ...config.env(sinks, { alwaysRule: rule }),
      ...envOverrides(args.env),
    };
    const v8 = args["v8-flags"] ?? SERVER_FLAGS.find((f) => f.startsWith("--v8-flags="))!
      .slice("--v8-flags=".length);
    const out = await new Deno.Command("taskset", {
      args: [
        "-c",
        "0",
        Deno.execPath(),
        "run",
        "-A",
        `--config=${APP_DIR}/deno.json`,
        `--v8-flags=${v8},--trace-gc`,
        new URL(import.meta.url).pathname,
        `--child=${JSON.stringify(env)}`,
        `--requests=${args.requests}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const line = stderr.split("\n").find((l) => l.startsWith(REPORT));
    if (!line) {
      console.error(`the measured process failed:\n${stderr}`);
      return 1;
    }
    const r = JSON.parse(line.slice(REPORT.length)) as Report;
    const fulls = stdout.match(/Mark-Compact/g)?.length ?? 0;
    const scavenges = stdout.match(/Scavenge/g)?.length ?? 0;
    const f = (n: number) => n.toFixed(1);
    console.log(
      `${config.name}, ${args.requests} requests, --v8-flags=${v8}: peak RSS ${
        f(r.peakRssMb)
      } MB ` +
        `(at start ${f(r.startRssMb)}); at the peak V8 heap ${f(r.heapTotalMb)} MB ` +
        `(${f(r.heapUsedMb)} used), external ${f(r.externalMb)} MB; highest heap ` +
        `${f(r.peakHeapTotalMb)} MB, external ${f(r.peakExternalMb)} MB; ` +
        `${fulls} full GCs, ${scavenges} scavenges`,
    );
    return 0;
  } finally {
    await sinks?.close();
    await Deno.remove(rule);
  }
}

if (args.child) await child(JSON.parse(args.child));
else Deno.exit(await parent());
