/**
 * The hostile-sink figures of `deno task reliability` (issue 13, points 3-5): peak RSS while
 * CloudWatch or Rollbar answers 200 with a body that never ends, X-Ray with a daemon host
 * whose DNS never answers, and 60 KB handle paths with a healthy and a black-holed OTLP
 * collector. Each scenario runs in a fresh `deno run` of this file (with the start task's V8
 * flags), so its peak RSS is its own, against stand-ins on 127.0.0.1 in the same process.
 */
import type { Hono } from "hono";
import { createApp } from "../../app.ts";
import { loadConfig } from "../../config.ts";
import { createMemoryStore } from "../../services/store.ts";
import { createTelemetry, type Telemetry, type TelemetryOverrides } from "../../telemetry/mod.ts";
import { AWS_ENV, drive, percentile } from "../support/faults.ts";
import { startHostileEndpoint } from "../support/hostile_http.ts";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import type { SinkStats } from "../../telemetry/types.ts";
import { startV8Flags } from "../../bench/lib.ts";

const MB = 1024 * 1024;

/** Samples RSS every 10 ms while `work` runs; returns the peak in MB. */
async function peakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, Deno.memoryUsage().rss);
    return { result, peakMb: peak / MB };
  } finally {
    clearInterval(timer);
  }
}

function account(s: SinkStats | undefined): string {
  if (!s) return "n/a";
  return `${s.queued} queued: ${s.sent} sent, ${s.failed} failed, ${s.dropped} dropped, ` +
    `${s.retried} retried`;
}

/** The real app and telemetry, as main.ts builds them, minus the console: nothing is kept. */
interface Bare {
  app: Hono;
  telemetry: Telemetry;
}

async function withHarness<T>(
  env: Record<string, string>,
  overrides: TelemetryOverrides,
  run: (h: Bare) => Promise<T>,
): Promise<T> {
  const config = loadConfig({ LOG_FORMAT: "json", ...env });
  const telemetry = await createTelemetry(config, {
    writeLine: () => {},
    diagnostic: () => {},
    ...overrides,
  });
  const store = createMemoryStore({ seededAt: Date.now(), currentUser: "andrewbrown" });
  const app = createApp({ config, telemetry, store, clock: Date.now });
  try {
    return await run({ app, telemetry });
  } finally {
    await telemetry.shutdown(Date.now() + 2000);
  }
}

async function floodedCloudWatch(): Promise<string> {
  const endpoint = startHostileEndpoint("flood", "application/x-amz-json-1.1");
  try {
    const env = {
      ...AWS_ENV,
      CLOUDWATCH_LOG_GROUP: "cruddur",
      CLOUDWATCH_LOG_STREAM: "hostile",
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoint.url,
      CLOUDWATCH_FLUSH_INTERVAL_MS: "50",
    };
    const { result, peakMb } = await peakRss(() =>
      withHarness(env, {}, async (h) => {
        const { latencies } = await drive(h.app, 2000);
        await h.telemetry.forceFlush(Date.now() + 5000);
        return { p99: percentile(latencies, 99), stats: h.telemetry.stats().cloudwatch };
      })
    );
    return `| CloudWatch answers 200 with an endless body (${endpoint.requests} calls) | ` +
      `${peakMb.toFixed(0)} MB | ${result.p99.toFixed(2)} ms | ${account(result.stats)} |`;
  } finally {
    await endpoint.close();
  }
}

async function floodedRollbar(): Promise<string> {
  const endpoint = startHostileEndpoint("flood");
  try {
    const env = {
      ROLLBAR_ACCESS_TOKEN: "hostile-token",
      ROLLBAR_ENDPOINT: endpoint.url,
      ROLLBAR_ITEMS_PER_MINUTE: "1000",
    };
    const { result, peakMb } = await peakRss(() =>
      withHarness(env, {}, async (h) => {
        const { latencies } = await drive(h.app, 500, "/rollbar/test");
        await h.telemetry.forceFlush(Date.now() + 10_000);
        return { p99: percentile(latencies, 99), stats: h.telemetry.stats().rollbar };
      })
    );
    return `| Rollbar answers 200 with an endless body (${endpoint.requests} posts) | ` +
      `${peakMb.toFixed(0)} MB | ${result.p99.toFixed(2)} ms | ${account(result.stats)} |`;
  } finally {
    await endpoint.close();
  }
}

async function deadDns(): Promise<string> {
  const rules = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    rules,
    JSON.stringify({
      SamplingRule: {
        RuleName: "everything",
        ResourceARN: "*",
        Priority: 1,
        FixedRate: 1,
        ReservoirSize: 0,
        ServiceName: "*",
        ServiceType: "*",
        Host: "*",
        HTTPMethod: "*",
        URLPath: "*",
        Version: 1,
      },
    }),
  );
  let lookups = 0;
  try {
    const env = {
      AWS_XRAY_DAEMON_ADDRESS: "xray-daemon.invalid:2000",
      AWS_XRAY_SAMPLING_RULES: rules,
    };
    // The resolver is the stand-in: it never answers (no packet leaves the machine).
    const lookup = () => {
      lookups++;
      return new Promise<never>(() => {});
    };
    const { result, peakMb } = await peakRss(() =>
      withHarness(env, { xray: { lookup } }, async (h) => {
        const startMb = Deno.memoryUsage().rss / MB;
        const { latencies } = await drive(h.app, 5000);
        return {
          startMb,
          endMb: Deno.memoryUsage().rss / MB,
          p99: percentile(latencies, 99),
          stats: h.telemetry.stats().xray,
        };
      })
    );
    return `| X-Ray daemon host whose DNS never answers, 5,000 requests at 100% (${lookups} lookup) | ` +
      `${peakMb.toFixed(0)} MB (${result.startMb.toFixed(0)} → ${result.endMb.toFixed(0)}) | ` +
      `${result.p99.toFixed(2)} ms | ${account(result.stats)} |`;
  } finally {
    await Deno.remove(rules);
  }
}

export async function largePaths(
  failing: boolean,
): Promise<{ rps: number; p99: number; peakMb: number }> {
  const receiver = startOtlpReceiver();
  if (failing) receiver.answer({ kind: "blackhole" });
  const path = `/api/activities/@${"h".repeat(60 * 1024)}`;
  try {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: "10",
      OTEL_EXPORTER_OTLP_TIMEOUT: "300",
    };
    const { result, peakMb } = await peakRss(() =>
      withHarness(env, {}, async (h) => {
        await drive(h.app, 100, path); // warm-up
        const started = performance.now();
        const { latencies } = await drive(h.app, 2000, path);
        const seconds = (performance.now() - started) / 1000;
        return { rps: latencies.length / seconds, p99: percentile(latencies, 99) };
      })
    );
    return { ...result, peakMb };
  } finally {
    await receiver.close();
  }
}

type Paths = Awaited<ReturnType<typeof largePaths>>;

function best(runs: Paths[]): Paths {
  return {
    rps: Math.max(...runs.map((r) => r.rps)),
    p99: Math.min(...runs.map((r) => r.p99)),
    peakMb: Math.max(...runs.map((r) => r.peakMb)),
  };
}

const SCENARIOS: Record<string, () => Promise<unknown>> = {
  "paths-healthy": () => largePaths(false),
  "paths-failing": () => largePaths(true),
  cloudwatch: floodedCloudWatch,
  rollbar: floodedRollbar,
  dns: deadDns,
};

/** Runs one scenario in a fresh process; returns what it printed (JSON). */
async function isolated<T>(name: string): Promise<T> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      startV8Flags(new URL("../../deno.json", import.meta.url).pathname),
      new URL(import.meta.url).pathname,
      name,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "null") as T;
}

if (import.meta.main) {
  const run = SCENARIOS[Deno.args[0] ?? ""];
  if (!run) throw new Error(`Unknown scenario; one of ${Object.keys(SCENARIOS).join(", ")}`);
  // deno-lint-ignore no-console
  console.log(JSON.stringify(await run()));
  Deno.exit(0);
}

/** The markdown rows for issue 13 points 3-5. */
export async function hostileSinkRows(): Promise<string[]> {
  // Alternating rounds, best of two each: the machine is shared, so one round is noise.
  const runs = { healthy: [] as Paths[], failing: [] as Paths[] };
  for (let round = 0; round < 2; round++) {
    runs.healthy.push(await isolated<Paths>("paths-healthy"));
    runs.failing.push(await isolated<Paths>("paths-failing"));
  }
  const healthy = best(runs.healthy);
  const failing = best(runs.failing);
  const ratio = failing.rps / healthy.rps;
  return [
    "",
    "| 60 KB handle paths, 2,000 GETs (best of 2 rounds) | req/s | p99 | peak RSS |",
    "|---|---|---|---|",
    `| OTLP collector healthy | ${healthy.rps.toFixed(0)} | ${healthy.p99.toFixed(2)} ms | ` +
    `${healthy.peakMb.toFixed(0)} MB |`,
    `| OTLP collector black-holed | ${failing.rps.toFixed(0)} (${
      (ratio * 100).toFixed(0)
    }% of healthy) | ` +
    `${failing.p99.toFixed(2)} ms | ${failing.peakMb.toFixed(0)} MB |`,
    "",
    "| hostile sink | peak RSS (process) | request p99 | account |",
    "|---|---|---|---|",
    await isolated<string>("cloudwatch"),
    await isolated<string>("rollbar"),
    await isolated<string>("dns"),
  ];
}
