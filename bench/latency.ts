// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * Latency at a fixed request rate: what telemetry adds to a request when the server is not
 * saturated. `deno task bench` loads every server with wrk's closed loop (50 connections, each
 * waiting for its answer), which measures throughput, and its latencies are those of a queue
 * at saturation: a median of about 50 / req/s. Here each configuration's server gets the same
 * open-loop rate (bench/open_loop.ts, in a process of its own on CPU 1), well below what the
 * slowest row can serve, so a row's latency is its own work plus its waiting for its own
 * background turns (batches, sends, collections), not a queue of other requests.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys \
 *     bench/latency.ts [--only=bare,full] [--rate=1000] [--rounds=2] [--duration=10] \
 *     [--warmup=3] [--env=KEY=VALUE ...] [--workers-cpu=1] [--v8-flags=--max-semi-space-size=8]
 *
 * Same servers, pinning and loopback stand-ins as bench/run.ts; ratios and differences are to
 * the baseline of the same round, then the median of the rounds. `--workers-cpu=1` moves
 * each server's V8 worker threads (the collector's helpers, the background compilers) off the
 * server's core onto the generator's: the server then has a second core, as on a host with more
 * than one.
 */
import { parseArgs } from "node:util";
import {
  ALWAYS_SAMPLE_RULE,
  baseEnv,
  CONFIGS,
  envOverrides,
  freePort,
  hasTaskset,
  installSignalHandlers,
  median,
  onCleanup,
  openLoop,
  pinSelf,
  procSample,
  ROUTE,
  runMain,
  startServer,
  v8FlagArgs,
} from "./lib.ts";
import type { OpenLoopResult } from "./open_loop.ts";
import { sinksOf, startBlackholeSinks, startHealthySinks } from "./sinks.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string", default: "bare,full" },
    rate: { type: "string", default: "1000" },
    rounds: { type: "string", default: "2" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    env: { type: "string", multiple: true },
    /** Moves each server's V8 worker threads to this CPU: what a second core would take off. */
    "workers-cpu": { type: "string" },
    /** V8 flags after the start task's, for every server (the baseline too): they win. */
    "v8-flags": { type: "string" },
  },
});

interface Row extends OpenLoopResult {
  config: string;
  round: number;
  cpuUsPerReq: number;
}

/**
 * Pins a server's V8 platform threads (GC helpers, compilers) to `cpu`; returns how many. In a
 * shell: Deno grants another process's /proc only with --allow-all (see bench/lib.ts readProc).
 */
async function pinV8Workers(pid: number, cpu: string): Promise<number> {
  const script = 'for t in /proc/"$1"/task/*; do ' +
    'grep -q "^V8 DefaultWorke" "$t/comm" 2>/dev/null && taskset -p -c "$2" "${t##*/}" >/dev/null && echo; ' +
    "done";
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", String(pid), cpu],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").length - 1;
}

function ms(n: number): string {
  return n.toFixed(2);
}

async function main(): Promise<number> {
  installSignalHandlers();
  const wanted = new Set(["baseline", ...args.only.split(",").map((s) => s.trim())]);
  const configs = CONFIGS.filter((c) => wanted.has(c.name) && !c.store);
  const unknown = [...wanted].filter((name) => !configs.some((c) => c.name === name));
  if (unknown.length > 0) {
    console.error(`Unknown or store configuration(s): ${unknown.join(", ")}`);
    return 1;
  }
  const tmpDir = await Deno.makeTempDir({ prefix: "cruddur-latency-" });
  onCleanup(() => Deno.remove(tmpDir, { recursive: true }));
  const pin = (await hasTaskset()) && navigator.hardwareConcurrency >= 2;
  if (pin) await pinSelf(1);
  const alwaysRule = `${tmpDir}/xray-always.json`;
  await Deno.writeTextFile(alwaysRule, JSON.stringify(ALWAYS_SAMPLE_RULE));
  const healthy = await startHealthySinks();
  onCleanup(() => healthy.close());
  const blackhole = await startBlackholeSinks();
  onCleanup(() => blackhole.close());
  const overrides = envOverrides(args.env);
  const rows: Row[] = [];
  const rounds = Number(args.rounds);
  for (let round = 1; round <= rounds; round++) {
    // Rotated as bench/run.ts rotates, so no configuration always runs first.
    const order = configs.map((_, i) => configs[(i + round - 1) % configs.length]!);
    for (const config of order) {
      const sinks = sinksOf(config.sinks, { healthy, blackhole });
      const server = await startServer({
        script: config.script,
        env: {
          ...baseEnv(freePort()),
          ...config.env(sinks, { alwaysRule }),
          ...(config.script === "main.ts" ? overrides : {}),
        },
        ...(pin ? { cpu: 0 } : {}),
        denoFlags: v8FlagArgs(args["v8-flags"]),
      });
      try {
        const url = `${server.url}${ROUTE}`;
        const workersCpu = args["workers-cpu"];
        if (workersCpu !== undefined) await pinV8Workers(server.pid, workersCpu);
        await openLoop(url, { rate: Number(args.rate), seconds: Number(args.warmup), pin });
        if (workersCpu !== undefined && await pinV8Workers(server.pid, workersCpu) === 0) {
          console.error(`${config.name}: no V8 worker thread to move`);
        }
        const before = await procSample(server.pid);
        const result = await openLoop(url, {
          rate: Number(args.rate),
          seconds: Number(args.duration),
          pin,
        });
        const after = await procSample(server.pid);
        const cpuUsPerReq = before && after
          ? ((after.cpuMs - before.cpuMs) * 1000) / result.sent
          : NaN;
        rows.push({ ...result, config: config.name, round, cpuUsPerReq });
        console.error(
          `round ${round} ${config.name.padEnd(18)} p50 ${ms(result.p50Ms)} ms  p99 ${
            ms(result.p99Ms)
          } ms  p99.9 ${ms(result.p999Ms)} ms  CPU ${cpuUsPerReq.toFixed(0)} us/req  errors ${
            result.errors + result.skipped
          }  generator late p99 ${ms(result.lateP99Ms)} ms`,
        );
      } finally {
        await server.stop(3000);
      }
    }
  }

  const rate = Number(args.rate);
  console.log(
    `\nOpen-loop latency at ${rate} req/s (GET ${ROUTE}; ${args.duration} s measured after ${args.warmup} s, ` +
      `${rounds} rounds; each row the median of its rounds, differences and ratios to the ` +
      `baseline of the same round). Busy is rate × CPU a request, the server's share of a core.\n`,
  );
  console.log(
    "| config | p50 ms | p90 ms | p99 ms | p99.9 ms | p50 + ms | p99 + ms | p99 ×baseline | CPU µs/req | busy | errors |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const config of configs) {
    const mine = rows.filter((r) => r.config === config.name);
    const vs = (pick: (r: Row) => number, op: (a: number, b: number) => number) =>
      median(mine.map((r) => {
        const base = rows.find((b) => b.round === r.round && b.config === "baseline")!;
        return op(pick(r), pick(base));
      }));
    const m = (pick: (r: Row) => number) => median(mine.map(pick));
    const cpu = m((r) => r.cpuUsPerReq);
    console.log(
      `| ${config.name} | ${ms(m((r) => r.p50Ms))} | ${ms(m((r) => r.p90Ms))} | ${
        ms(m((r) => r.p99Ms))
      } | ${ms(m((r) => r.p999Ms))} | ${ms(vs((r) => r.p50Ms, (a, b) => a - b))} | ${
        ms(vs((r) => r.p99Ms, (a, b) => a - b))
      } | ${vs((r) => r.p99Ms, (a, b) => a / b).toFixed(2)}× | ${cpu.toFixed(0)} | ${
        ((rate * cpu) / 1e4).toFixed(0)
      }% | ${mine.reduce((n, r) => n + r.errors + r.skipped, 0)} |`,
    );
  }
  return 0;
}

if (import.meta.main) await runMain(main);
