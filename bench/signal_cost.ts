/**
 * CPU cost per request of each telemetry signal, measured in-process: the real app (traces to
 * OTLP always on) driven through `app.request`, with OTLP metrics, OTLP log records and
 * CloudWatch EMF switched on one at a time. The loopback stand-ins (bench/sinks.ts) run in a
 * child process, so their CPU is not counted; the exporters' own work (serialising batches,
 * sending them) runs in this process and is.
 *
 *   deno run -A bench/signal_cost.ts            # 3 rounds of 5000 requests per variant
 *   deno run -A bench/signal_cost.ts 10000 5    # requests per round, rounds
 *
 * Prints, per variant, the least CPU µs per request (user + system) over the rounds, and then
 * each signal's own per-request work measured in isolation (steadier on a busy machine).
 */
// deno-lint-ignore-file no-console
import { cpuUsage } from "node:process";
import { createApp } from "../app.ts";
import { loadConfig } from "../config.ts";
import { createMemoryStore } from "../services/store.ts";
import { createTelemetry } from "../telemetry/mod.ts";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { EmfAggregator } from "../telemetry/cloudwatch/emf.ts";
import { HttpServerMetrics } from "../telemetry/metrics/http_server.ts";
import { createLogsPipeline } from "../telemetry/otlp_logs/pipeline.ts";
import { startHealthySinks } from "./sinks.ts";

if (Deno.args[0] === "--sinks") {
  const sinks = await startHealthySinks();
  console.log(JSON.stringify({ otlp: sinks.otlpUrl, cloudwatch: sinks.cloudwatchUrl }));
  await new Promise(() => {}); // until the parent kills it
}

const requests = Number(Deno.args[0] ?? 5000);
const rounds = Number(Deno.args[1] ?? 3);
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "--sinks"],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let first = "";
while (!first.includes("\n")) first += (await reader.read()).value ?? "";
const urls = JSON.parse(first) as { otlp: string; cloudwatch: string };

const base = {
  OTEL_EXPORTER_OTLP_ENDPOINT: urls.otlp,
  OTEL_METRICS_EXPORTER: "none",
  OTEL_LOGS_EXPORTER: "none",
  LOG_FORMAT: "json",
};
const cloudwatch = {
  CLOUDWATCH_LOG_GROUP: "cruddur",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "AKIDBENCH",
  AWS_SECRET_ACCESS_KEY: "bench-secret",
  AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: urls.cloudwatch,
  CLOUDWATCH_METRICS_ENABLED: "false",
};
const variants: Array<[string, Record<string, string>]> = [
  ["traces only", base],
  ["traces + OTLP metrics", { ...base, OTEL_METRICS_EXPORTER: "otlp" }],
  ["traces + OTLP log records", { ...base, OTEL_LOGS_EXPORTER: "otlp" }],
  ["traces + metrics + log records", {
    ...base,
    OTEL_METRICS_EXPORTER: "otlp",
    OTEL_LOGS_EXPORTER: "otlp",
  }],
  ["traces + CloudWatch Logs", { ...base, ...cloudwatch }],
  ["traces + CloudWatch Logs + EMF", {
    ...base,
    ...cloudwatch,
    CLOUDWATCH_METRICS_ENABLED: "true",
  }],
];

interface Built {
  name: string;
  drive(n: number): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  samples: number[];
}

async function build(name: string, env: Record<string, string>): Promise<Built> {
  const config = loadConfig(env);
  const telemetry = await createTelemetry(config, { writeLine: () => {}, diagnostic: () => {} });
  const store = createMemoryStore({ seededAt: Date.now(), currentUser: "andrewbrown" });
  const app = createApp({ config, telemetry, store, clock: Date.now });
  return {
    name,
    async drive(n) {
      for (let i = 0; i < n; i++) await (await app.request("/api/activities/home")).arrayBuffer();
    },
    flush: () => telemetry.forceFlush(Date.now() + 10_000),
    close: () => telemetry.shutdown(Date.now() + 10_000),
    samples: [],
  };
}

/** CPU µs per call of `fn`, over `n` calls. */
function perCall(n: number, fn: (i: number) => void): number {
  const before = cpuUsage();
  for (let i = 0; i < n; i++) fn(i);
  const used = cpuUsage(before);
  return (used.user + used.system) / n;
}

try {
  // End to end, the variants interleaved round by round so machine load hits them alike;
  // the minimum of the rounds is the figure least disturbed by other processes.
  const built: Built[] = [];
  for (const [name, env] of variants) built.push(await build(name, env));
  for (const b of built) await b.drive(2000); // warm up the JIT
  for (let r = 0; r < rounds; r++) {
    for (const b of built) {
      await b.flush();
      const before = cpuUsage();
      await b.drive(requests);
      await b.flush(); // the batches those requests made are part of their cost
      const used = cpuUsage(before);
      b.samples.push((used.user + used.system) / requests);
    }
  }
  const min = (xs: number[]) => Math.min(...xs);
  const baseline = min(built[0]!.samples);
  console.log("End to end (app.request, CPU µs per request, min of rounds):");
  for (const b of built) {
    const m = min(b.samples);
    const delta = b === built[0]
      ? ""
      : ` (${m - baseline >= 0 ? "+" : ""}${(m - baseline).toFixed(1)})`;
    console.log(
      `  ${b.name.padEnd(34)} ${m.toFixed(1)}${delta}  rounds: ${
        b.samples.map((x) => x.toFixed(1)).join(", ")
      }`,
    );
  }
  for (const b of built) await b.close();

  // Each signal's own per-request work, in isolation (no app around it).
  const resource = resourceFromAttributes({});
  const http = new HttpServerMetrics(resource, { name: "bench" });
  const routes = ["/api/activities/home", "/api/messages/@:handle", "/api/activities/:uuid"];
  const sample = (i: number) => ({
    method: "GET",
    scheme: "http",
    route: routes[i % 3],
    status: 200,
    durationSeconds: 0.0005 + (i % 97) / 10_000,
    errorType: undefined,
    requestBytes: undefined,
    responseBytes: 1200,
  });
  const n = 200_000;
  perCall(n, (i) => (http.begin("GET", "http"), http.end(sample(i)))); // warm up
  const metricsCost = perCall(n, (i) => (http.begin("GET", "http"), http.end(sample(i))));
  const emf = new EmfAggregator({
    namespace: "Cruddur",
    service: "bench",
    intervalMs: 60_000,
    push: () => {},
  });
  perCall(n, (i) => emf.end(sample(i)));
  const emfCost = perCall(n, (i) => emf.end(sample(i)));
  emf.stop();
  const logs = createLogsPipeline({
    config: {
      exporters: ["otlp"],
      endpoint: `${urls.otlp}/v1/logs`,
      headers: {},
      timeoutMs: 10_000,
      batch: loadConfig({}).logs.batch,
    },
    resource: {},
    serviceVersion: "bench",
    batch: { maxQueueSize: 100_000 },
  })!;
  const event = {
    timestamp: new Date().toISOString(),
    level: "info",
    message: "GET /api/activities/home 200",
    service: "bench",
    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    span_id: "00f067aa0ba902b7",
    event: "access",
    method: "GET",
    path: "/api/activities/home",
    route: "/api/activities/home",
    status: 200,
    duration_ms: 1.234,
  };
  const trace = { traceId: event.trace_id, spanId: event.span_id, traceFlags: 1 };
  const emitLogs = async (count: number) => {
    const before = cpuUsage();
    for (let i = 0; i < count; i++) logs.records.emit("info", event, { timeMs: Date.now(), trace });
    await logs.sink.forceFlush(Date.now() + 30_000);
    const used = cpuUsage(before);
    return (used.user + used.system) / count;
  };
  await emitLogs(20_000);
  const logsCost = await emitLogs(50_000);
  await logs.sink.shutdown(Date.now() + 10_000);
  console.log("Each signal's own work per request, in isolation (CPU µs):");
  console.log(`  OTLP HTTP server metrics (begin + end)   ${metricsCost.toFixed(3)}`);
  console.log(`  CloudWatch EMF aggregation (end)         ${emfCost.toFixed(3)}`);
  console.log(`  OTLP log record (emit, batch, serialise, send) ${logsCost.toFixed(3)}`);
} finally {
  child.kill();
  await child.status;
}
