// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * What a healthy but distant OTLP collector costs in lost telemetry: the OTel SDK row (spans,
 * log records and metrics over OTLP/HTTP, always sampled) against a loopback collector that
 * answers every request after `--delay` ms (a Honeycomb or a collector a region away), at a
 * fixed open-loop rate, once per OTLP_MAX_CONCURRENT_EXPORTS value. Prints, per run, the p99
 * and the server's own span and record counters (queued, sent, dropped): with one batch out at
 * a time a collector 100 ms away takes ~5,000 spans a second, and the rest is dropped.
 *
 *   deno run -A bench/far_collector.ts [--exports=1,4] [--rate=4000] [--delay=100] \
 *     [--duration=10] [--warmup=2]
 */
import { parseArgs } from "node:util";
import {
  baseEnv,
  cleanup,
  freePort,
  hasTaskset,
  installSignalHandlers,
  onCleanup,
  openLoop,
  pinSelf,
  ROUTE,
  startServer,
} from "./lib.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
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

/** A collector that reads each body, then answers 200 after `delayMs`; counts its requests. */
function startFarCollector(delayMs: number) {
  const posts: Record<string, number> = {};
  let inFlight = 0;
  let maxInFlight = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    const path = new URL(req.url).pathname;
    posts[path] = (posts[path] ?? 0) + 1;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    inFlight--;
    return new Response(new Uint8Array(0), {
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
  const collector = startFarCollector(delayMs);
  onCleanup(() => collector.close());
  console.log(
    `OTel SDK row, GET ${ROUTE} at ${rate} req/s for ${args.duration} s (after ${args.warmup} s), ` +
      `a collector that answers after ${delayMs} ms`,
  );
  console.log("\n| OTLP_MAX_CONCURRENT_EXPORTS | p99 ms | spans | log records | collector posts |");
  console.log("|---:|---:|---|---|---|");
  for (const exports of args.exports.split(",").map((s) => s.trim())) {
    collector.reset();
    const server = await startServer({
      script: "main.ts",
      env: {
        ...baseEnv(freePort()),
        DATABASE_URL: "memory:",
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_TRACES_SAMPLER: "always_on",
        OTLP_MAX_CONCURRENT_EXPORTS: exports,
      },
      ...(pin ? { cpu: 0 } : {}),
    });
    try {
      const url = `${server.url}${ROUTE}`;
      await openLoop(url, { rate, seconds: Number(args.warmup), pin });
      const result = await openLoop(url, { rate, seconds: Number(args.duration), pin });
      // Batches still out are answered within the delay; the open ones wait for their timers.
      await new Promise((resolve) => setTimeout(resolve, delayMs * 4 + 1500));
      const health = await (await fetch(`${server.url}/api/health-check`)).json();
      const traces = health.telemetry.traces as Counters;
      const logs = health.telemetry.logs as Counters;
      console.log(
        `| ${exports} | ${result.p99Ms.toFixed(1)} | ${percent(traces)} | ${percent(logs)} | ${
          JSON.stringify(collector.posts)
        }, at most ${collector.maxInFlight()} at once |`,
      );
    } finally {
      await server.stop(3000);
    }
  }
  return 0;
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main();
  } finally {
    await cleanup();
  }
  Deno.exit(code);
}
