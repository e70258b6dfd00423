// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * The CloudWatch sink's own CPU per request, in process and without the app around it: per
 * request the two lines the logger hands it (the service line and the access log, already
 * serialised, as in `LOG_FORMAT=json`) and one EMF sample, then everything the sink does in its
 * own turns (batching, the request body, signing, the PutLogEvents calls through the real AWS
 * SDK client) until a final flush. The lines are built fresh for every request, as the logger
 * builds them, so what holding them costs the garbage collector is counted too (lines made once
 * and reused would sit in the old generation for free). The loopback stand-in (bench/sinks.ts)
 * runs in a child process, so its CPU is not counted. The loop itself is measured alone and subtracted ("own").
 * Best of several rounds, interleaved, as bench/signal_cost.ts.
 *
 *   deno run -A bench/cloudwatch_sink.ts [--requests=20000] [--rounds=5] [--emf=true]
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { EmfAggregator } from "../telemetry/cloudwatch/emf.ts";
import { createCloudWatchSink } from "../telemetry/cloudwatch/sink.ts";
import type { RequestSample } from "../telemetry/metrics/http_server.ts";
import type { LogLine } from "../telemetry/types.ts";
import { startHealthySinks } from "./sinks.ts";

if (Deno.args[0] === "--sinks") {
  const sinks = await startHealthySinks();
  console.log(JSON.stringify({ cloudwatch: sinks.cloudwatchUrl }));
  await new Promise(() => {}); // until the parent kills it
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    emf: { type: "string", default: "true" },
  },
});

const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "--sinks"],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let first = "";
while (!first.includes("\n")) first += (await reader.read()).value ?? "";
const { cloudwatch } = JSON.parse(first) as { cloudwatch: string };

/** The two lines a GET /api/activities/home writes, as the logger serialises them. */
function linesOf(i: number, now: number): [string, string] {
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0").slice(-width);
  const common = {
    timestamp: new Date(now).toISOString(),
    level: "info",
    service: "backend-deno",
    trace_id: hex(i * 2654435761, 16) + hex(i * 40503, 16),
  };
  const service = JSON.stringify({
    ...common,
    message: "HomeActivities",
    span_id: hex(i * 7919, 16),
    result_length: 4,
  });
  const access = JSON.stringify({
    ...common,
    message: "GET /api/activities/home 200",
    span_id: hex(i * 104729, 16),
    event: "access",
    method: "GET",
    scheme: "http",
    path: "/api/activities/home",
    route: "/api/activities/home",
    status: 200,
    duration_ms: 0.3 + (i % 97) / 100,
    client_address: "127.0.0.1",
    user_agent: "bench/cloudwatch_sink",
  });
  return [service, access];
}

const sinkOptions = {
  logGroup: "cruddur",
  logStream: "bench",
  region: "us-east-1",
  credentials: { accessKeyId: "AKIABENCHMARK0000000", secretAccessKey: "bench-secret-not-real" },
  endpoint: cloudwatch,
  flushIntervalMs: 1000,
  diagnostic: (message: string) => console.error(message),
};

const distinct = 1000;
const samples = Array.from({ length: distinct }, (_, i) => ({
  method: "GET",
  scheme: "http",
  route: "/api/activities/home",
  status: 200,
  durationSeconds: 0.0003 + (i % 97) / 100_000,
  errorType: undefined,
  requestBytes: undefined,
  responseBytes: 1200,
}));

/** One variant: what a request hands over, and how its work is flushed. */
interface Variant {
  name: string;
  push(line: LogLine): void;
  end(sample: RequestSample): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  check(): string | undefined;
  best: number;
}

function harness(): Variant {
  // The loop alone (lines handed to nobody): subtracted from the others.
  let kept = 0;
  return {
    name: "harness (lines handed to a no-op)",
    push: (line) => void (kept += line.message.length & 1),
    end: () => {},
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    check: () => undefined,
    best: Infinity,
  };
}

function cloudwatchVariant(withEmf: boolean): Variant {
  const sink = createCloudWatchSink({ ...sinkOptions, logStream: `bench-${withEmf}` });
  const emf = withEmf
    ? new EmfAggregator({
      namespace: "Cruddur",
      service: "backend-deno",
      intervalMs: 60_000,
      push: (line) => sink.push(line),
    })
    : undefined;
  emf?.start();
  return {
    name: withEmf ? "CloudWatch sink + EMF" : "CloudWatch sink",
    push: (line) => sink.push(line),
    end: emf ? (sample) => emf.end(sample) : () => {},
    async flush() {
      emf?.flush();
      await sink.forceFlush(Date.now() + 30_000);
    },
    async close() {
      emf?.stop();
      await sink.shutdown(Date.now() + 10_000);
    },
    check() {
      const s = sink.stats();
      const lost = s.dropped + s.failed + s.rejected;
      return lost > 0 || s.sent !== s.queued ? `lost lines: ${JSON.stringify(s)}` : undefined;
    },
    best: Infinity,
  };
}

async function drive(variant: Variant, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const timestamp = Date.now();
    const [service, access] = linesOf(i, timestamp);
    variant.push({ timestamp, message: service });
    variant.end(samples[i % distinct]!);
    variant.push({ timestamp, message: access });
    // Let the sink's timers and sends run, as they would between requests.
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await variant.flush(); // the batches those requests made are part of their cost
}

try {
  const requests = Number(args.requests);
  const variants = [harness(), cloudwatchVariant(false)];
  if (args.emf === "true") variants.push(cloudwatchVariant(true));
  for (const v of variants) await drive(v, Math.min(5000, requests)); // JIT, stream set-up
  // Round by round, so machine load hits the variants alike; the least is the steadiest.
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const v of variants) {
      const before = cpuUsage();
      await drive(v, requests);
      const used = cpuUsage(before);
      v.best = Math.min(v.best, (used.user + used.system) / requests);
    }
  }
  const base = variants[0]!.best;
  console.log(`CPU µs per request (2 lines + 1 EMF sample), best of ${args.rounds} rounds:`);
  for (const v of variants) {
    await v.close();
    const problem = v.check();
    if (problem) {
      console.log(`${v.name}: ${problem}`);
      Deno.exitCode = 1;
    }
    const own = v === variants[0] ? "" : `  own: ${(v.best - base).toFixed(2)}`;
    console.log(`  ${v.name.padEnd(36)} ${v.best.toFixed(2)}${own}`);
  }
} finally {
  child.kill();
  await child.status;
}
