// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * An open-loop load generator: requests start at a fixed rate whether or not earlier ones have
 * been answered, so a slow answer cannot hold the next request back (wrk's closed loop, where
 * each connection waits for its answer, measures latency at saturation instead). Run as its
 * own process by bench/latency.ts, so the stand-ins' work never delays a timing here; prints
 * one JSON line.
 *
 *   deno run --allow-net bench/open_loop.ts --url=http://127.0.0.1:PORT/path --rate=1000 \
 *     --duration=10 --warmup=3
 *
 * A request's latency is from just before its `fetch` to the end of its body. The timer wakes
 * about every millisecond and starts every request due by then; how late a request started
 * against its schedule is reported apart (`lateP99Ms`), so a generator that could not keep up
 * shows instead of passing for a slow server.
 */
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    rate: { type: "string", default: "1000" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    /** Unanswered requests at most; past it a due request is counted as not sent. */
    "max-in-flight": { type: "string", default: "2000" },
  },
});

/** What one phase measured. */
export interface OpenLoopResult {
  rate: number;
  sent: number;
  answered: number;
  /** Non-2xx answers and failed requests. */
  errors: number;
  /** Due requests not started because `max-in-flight` were unanswered. */
  skipped: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  lateP99Ms: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Runs `seconds` at `rate`; resolves when every request started has settled. */
async function phase(url: string, rate: number, seconds: number, maxInFlight: number) {
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  const late = new Float64Array(total);
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let skipped = 0;
  let inFlight = 0;
  const settled: Promise<void>[] = [];
  const start = performance.now();
  const one = async (index: number, started: number) => {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (!response.ok) errors++;
    } catch {
      errors++;
    } finally {
      latencies[index] = performance.now() - started;
      answered++;
      inFlight--;
    }
  };
  while (sent + skipped < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
    while (sent + skipped < due) {
      const index = sent + skipped;
      if (inFlight >= maxInFlight) {
        skipped++;
        continue;
      }
      late[sent] = now - (start + (index * 1000) / rate);
      inFlight++;
      settled.push(one(sent++, performance.now()));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(settled);
  return { sent, answered, errors, skipped, latencies: latencies.subarray(0, sent), late };
}

async function main(): Promise<void> {
  const url = args.url;
  if (!url) throw new Error("--url is required");
  const rate = Number(args.rate);
  const maxInFlight = Number(args["max-in-flight"]);
  await phase(url, rate, Number(args.warmup), maxInFlight);
  const run = await phase(url, rate, Number(args.duration), maxInFlight);
  const sorted = Float64Array.from(run.latencies).sort();
  const late = Float64Array.from(run.late.subarray(0, run.sent)).sort();
  const result: OpenLoopResult = {
    rate,
    sent: run.sent,
    answered: run.answered,
    errors: run.errors,
    skipped: run.skipped,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    lateP99Ms: percentile(late, 0.99),
  };
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main();
