// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * What a healthy but distant collector costs in lost telemetry: the OTel SDK row (spans, log
 * records and metrics over OTLP/HTTP, always sampled) against a loopback collector that answers
 * every request after `--delay` ms (a Honeycomb or a collector a region away), at a fixed
 * open-loop rate, once per OTLP_MAX_CONCURRENT_EXPORTS value. Prints, per run, the p99 and the
 * server's own counters (queued, sent, dropped) over the measured window: with one batch out at
 * a time a collector 100 ms away takes ~5,000 spans a second, and the rest is dropped.
 * `--sink=cloudwatch` does the same for the CloudWatch-only row against a CloudWatch Logs
 * stand-in whose PutLogEvents answers after the delay, once per CLOUDWATCH_MAX_CONCURRENT_PUTS
 * value (`--exports`): one call at a time carries one 1 MiB batch a round trip.
 *
 *   deno run -A bench/far_collector.ts [--sink=otlp|cloudwatch] [--exports=1,4] [--rate=4000] \
 *     [--delay=100] [--duration=10] [--warmup=2]
 */
import { parseArgs } from "node:util";
import {
  baseEnv,
  freePort,
  hasTaskset,
  installSignalHandlers,
  onCleanup,
  openLoop,
  pinSelf,
  ROUTE,
  runMain,
  startServer,
} from "./lib.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    sink: { type: "string", default: "otlp" },
    exports: { type: "string", default: "1,4" },
    rate: { type: "string", default: "4000" },
    delay: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
  },
});

interface Counters {
  queued: number;
  sent: number;
  dropped: number;
}

/**
 * A collector that reads each body, then answers 200 after `delayMs`; counts its requests. As
 * CloudWatch Logs (`aws`) it answers AWS JSON 1.1 `{}`, the setup calls at once.
 */
function startFarCollector(delayMs: number, aws: boolean) {
  const posts: Record<string, number> = {};
  let inFlight = 0;
  let maxInFlight = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    const target = req.headers.get("x-amz-target")?.split(".")[1];
    const path = target ?? new URL(req.url).pathname;
    posts[path] = (posts[path] ?? 0) + 1;
    if (aws && target !== "PutLogEvents") return awsAnswer();
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    inFlight--;
    return aws ? awsAnswer() : new Response(new Uint8Array(0), {
      headers: { "content-type": "application/x-protobuf" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    posts,
    maxInFlight: () => maxInFlight,
    reset() {
      for (const key of Object.keys(posts)) delete posts[key];
      maxInFlight = 0;
    },
    close: () => server.shutdown(),
  };
}

function awsAnswer(): Response {
  return new Response("{}", { headers: { "content-type": "application/x-amz-json-1.1" } });
}

/** What the counters gained between two reads. */
function since(after: Counters, before: Counters | undefined): Counters {
  return {
    queued: after.queued - (before?.queued ?? 0),
    sent: after.sent - (before?.sent ?? 0),
    dropped: after.dropped - (before?.dropped ?? 0),
  };
}

async function counters(url: string): Promise<Record<string, Counters>> {
  return (await (await fetch(`${url}/api/health-check`)).json()).telemetry;
}

function percent(c: Counters): string {
  return `${c.queued} queued, ${c.sent} sent, ${c.dropped} dropped (${
    (100 * c.dropped / Math.max(1, c.queued)).toFixed(1)
  }%)`;
}

async function main(): Promise<number> {
  installSignalHandlers();
  const pin = (await hasTaskset()) && navigator.hardwareConcurrency >= 2;
  if (pin) await pinSelf(1);
  const delayMs = Number(args.delay);
  const rate = Number(args.rate);
  const cloudwatch = args.sink === "cloudwatch";
  if (!cloudwatch && args.sink !== "otlp") throw new Error("--sink is otlp or cloudwatch");
  const collector = startFarCollector(delayMs, cloudwatch);
  onCleanup(() => collector.close());
  console.log(
    `${cloudwatch ? "CloudWatch-only" : "OTel SDK"} row, GET ${ROUTE} at ${rate} req/s for ` +
      `${args.duration} s (after ${args.warmup} s), a collector that answers after ${delayMs} ms; ` +
      "counters over the measured window",
  );
  console.log(
    cloudwatch
      ? "\n| CLOUDWATCH_MAX_CONCURRENT_PUTS | p99 ms | lines | collector calls |\n|---:|---:|---|---|"
      : "\n| OTLP_MAX_CONCURRENT_EXPORTS | p99 ms | spans | log records | collector posts |\n" +
        "|---:|---:|---|---|---|",
  );
  for (const exports of args.exports.split(",").map((s) => s.trim())) {
    collector.reset();
    const server = await startServer({
      script: "main.ts",
      env: {
        ...baseEnv(freePort()),
        DATABASE_URL: "memory:",
        ...(cloudwatch
          ? {
            AWS_REGION: "us-east-1",
            AWS_ACCESS_KEY_ID: "AKIABENCHMARK0000000",
            AWS_SECRET_ACCESS_KEY: "bench-secret-not-real",
            AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: collector.url,
            CLOUDWATCH_LOG_GROUP: "cruddur",
            CLOUDWATCH_FLUSH_INTERVAL_MS: "1000",
            CLOUDWATCH_MAX_CONCURRENT_PUTS: exports,
          }
          : {
            OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
            OTEL_TRACES_SAMPLER: "always_on",
            OTLP_MAX_CONCURRENT_EXPORTS: exports,
          }),
      },
      ...(pin ? { cpu: 0 } : {}),
    });
    try {
      const url = `${server.url}${ROUTE}`;
      await openLoop(url, { rate, seconds: Number(args.warmup), pin });
      // From here: what the start left in the sinks' startup buffers is not the collector's.
      const before = await counters(server.url);
      collector.reset();
      const result = await openLoop(url, { rate, seconds: Number(args.duration), pin });
      // Batches still out are answered within the delay; the open ones wait for their timers.
      await new Promise((resolve) => setTimeout(resolve, delayMs * 4 + 1500));
      const after = await counters(server.url);
      const calls = `${
        JSON.stringify(collector.posts)
      }, at most ${collector.maxInFlight()} at once`;
      const p99 = result.p99Ms.toFixed(1);
      if (cloudwatch) {
        const lines = since(after.cloudwatch!, before.cloudwatch);
        console.log(`| ${exports} | ${p99} | ${percent(lines)} | ${calls} |`);
      } else {
        const spans = percent(since(after.traces!, before.traces));
        const records = percent(since(after.logs!, before.logs));
        console.log(`| ${exports} | ${p99} | ${spans} | ${records} | ${calls} |`);
      }
    } finally {
      await server.stop(3000);
    }
  }
  return 0;
}

if (import.meta.main) await runMain(main);
