// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * CPU per request of the span path alone: a Hono app with only the telemetry middleware (the
 * SERVER span) and one route that runs `traced()` (the service span), access log off, with the
 * real `createTelemetry` and the sinks' turns let run every 50 requests. Compare `--env=OTEL_SDK_DISABLED=true`
 * (non-recording spans) against the SDK to see what recording and exporting cost.
 *
 *   deno run -A bench/span_cost.ts [--requests=50000] [--rounds=5] [--otlp] [--env=K=V ...]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { loadConfig } from "../config.ts";
import { createTelemetry } from "../telemetry/mod.ts";
import { startHealthySinks } from "./sinks.ts";
import { envOverrides } from "./lib.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "50000" },
    rounds: { type: "string", default: "5" },
    otlp: { type: "boolean", default: false },
    env: { type: "string", multiple: true },
  },
});
const sinks = args.otlp ? await startHealthySinks() : undefined;
const env: Record<string, string> = {
  LOG_LEVEL: "error",
  OTEL_TRACES_SAMPLER: "always_on",
  OTEL_TRACES_EXPORTER: sinks ? "otlp" : "none",
  OTEL_METRICS_EXPORTER: "none",
  OTEL_LOGS_EXPORTER: "none",
  ...(sinks ? { OTEL_EXPORTER_OTLP_ENDPOINT: sinks.otlpUrl } : {}),
  ...envOverrides(args.env),
};
const telemetry = await createTelemetry(loadConfig(env), { writeLine: () => {} });
const app = new Hono();
app.use(telemetry.middleware());
app.get("/api/activities/home", async (c) => {
  const body = await telemetry.traced("home-activities", (span) => {
    span.setAttribute("app.result.length", 2);
    return "[]";
  });
  return c.body(body, 200, { "content-type": "application/json" });
});
const url = "http://127.0.0.1:8080/api/activities/home";
const headers = { host: "127.0.0.1:8080", "user-agent": "bench/span_cost" };
const info = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

async function request(): Promise<void> {
  const response = await app.fetch(new Request(url, { headers }), info);
  await response.arrayBuffer();
}

async function batch(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await request();
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

const requests = Number(args.requests);
await batch(Math.min(10000, requests));
let best = Infinity;
for (let round = 0; round < Number(args.rounds); round++) {
  const before = process.cpuUsage();
  await batch(requests);
  const used = process.cpuUsage(before);
  best = Math.min(best, (used.user + used.system) / requests);
}
console.log(`span path: ${best.toFixed(2)} µs CPU per request (best of ${args.rounds})`);
const stats = telemetry.stats().traces;
await telemetry.shutdown(Date.now() + 3000);
if (stats) console.log(`traces: ${JSON.stringify(telemetry.stats().traces)}`);
await sinks?.close();
Deno.exit(0);
