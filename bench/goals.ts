/**
 * Issue 12's goals (and issue 16's PGlite cold start), checked against one bench run: each a table row with what was measured
 * and PASS or FAIL. Ratios are per round against the baseline (or the healthy run) of the same
 * round, then the median over rounds; RSS is the highest peak of any round.
 */
import { median } from "./lib.ts";

/** The per-run figures a goal reads. */
export interface GoalRun {
  config: string;
  round: number;
  rps: number;
  p99Ms: number;
  rssMb: number;
  cpuUsPerReq: number;
}

/** Median over rounds of `a`'s figure divided by `b`'s in the same round. */
export type PairRatio = (a: string, b: string, key: "rps" | "p99Ms" | "cpuUsPerReq") => number;

/** Peak RSS bound for every configuration, MB. */
export const RSS_LIMIT_MB = 160;
/** Cold start bound: spawn to the first 200 with every sink configured, ms. */
export const COLD_START_LIMIT_MS = 200;

/** Issue 16's bound: PGlite, spawn to the first data answer on an existing DATA_DIR, ms. */
export const PGLITE_COLD_START_LIMIT_MS = 600;

/** A run's sink counters, as its health check reported them. */
export interface DeliveryRun {
  config: string;
  round: number;
  telemetry?: Record<string, Record<string, number>>;
}

/**
 * The check that healthy rows delivered everything they queued, the start included: the
 * bench's warm-up puts full load on a server the moment it answers, before its slow-loading
 * sinks are installed (README, At startup), and their stand-ins must hold and hand over all of
 * it. Any loss fails, naming the run and sink that lost the largest share.
 */
export function deliveryLine(runs: DeliveryRun[]): string | undefined {
  let items = 0;
  let worst: { label: string; share: number } | undefined;
  for (const run of runs) {
    for (const [sink, stats] of Object.entries(run.telemetry ?? {})) {
      const queued = stats.queued ?? 0;
      const dropped = stats.dropped ?? 0;
      if (queued === 0) continue;
      items += queued;
      const share = dropped / queued;
      if (dropped > 0 && (worst === undefined || share > worst.share)) {
        const label =
          `${run.config} round ${run.round} ${sink} ${dropped.toLocaleString("en-US")}` +
          ` of ${queued.toLocaleString("en-US")}`;
        worst = { label, share };
      }
    }
  }
  if (items === 0) return undefined;
  const goal = "healthy rows: no sink dropped an item, the start under full load included";
  if (worst === undefined) {
    return `| ${goal} | none of ${items.toLocaleString("en-US")} queued | PASS |`;
  }
  return `| ${goal} | worst: ${worst.label} (${(worst.share * 100).toFixed(2)}%) | FAIL |`;
}

/** "snapshot ×4, pglite ×1": how often each source answered. */
export function sourceCounts(sources: string[]): string {
  const counts = new Map<string, number>();
  for (const source of sources) counts.set(source, (counts.get(source) ?? 0) + 1);
  return [...counts].map(([source, n]) => `${source} ×${n}`).join(", ");
}

/** The goal rows (markdown table rows: goal | measured | verdict). */
export function goalLines(
  runs: GoalRun[],
  pair: PairRatio,
  coldStartMs: number[],
  pgliteColdStartMs: number[] = [],
  /** What answered each of those first reads (snapshot, seed, pglite), in the same order. */
  pgliteSources: string[] = [],
): string[] {
  const has = (name: string) => runs.some((r) => r.config === name);
  const rows: string[] = [];
  const row = (goal: string, measured: string, ok: boolean) =>
    rows.push(`| ${goal} | ${measured} | ${ok ? "PASS" : "FAIL"} |`);
  const x = (n: number) => `${n.toFixed(2)}×`;
  const atLeast = (name: string, goal: number, label: string) => {
    if (!has(name)) return;
    const ratio = pair(name, "baseline", "rps");
    row(`${label}: req/s ≥ ${goal.toFixed(2)}× baseline`, x(ratio), ratio >= goal);
  };
  atLeast("full", 0.33, "full (everything on, 100% sampled)");
  if (has("full")) {
    const p99 = pair("full", "baseline", "p99Ms");
    row("full: p99 ≤ 3× baseline", x(p99), p99 <= 3);
    const cpu = pair("full", "baseline", "cpuUsPerReq");
    row("full: server CPU per request ≤ 3× baseline", x(cpu), cpu <= 3);
  }
  atLeast("full-shipped-rule", 0.4, "full, shipped X-Ray rule");
  atLeast("bare", 0.7, "bare (telemetry off, access log on)");
  atLeast("otel-sdk", 0.45, "OTel SDK only");
  if (has("otel-sdk") && has("otel-native")) {
    const ratio = pair("otel-sdk", "otel-native", "rps");
    row(
      "OTel SDK only ahead of Deno's built-in OTel (OTEL_DENO=true)",
      `${x(ratio)} its req/s`,
      ratio > 1,
    );
  }
  if (has("full-blackholed") && has("full")) {
    const rps = pair("full-blackholed", "full", "rps");
    const p99 = pair("full-blackholed", "full", "p99Ms");
    row("every sink black-holed: req/s within 10% of healthy", `${x(rps)} healthy`, rps >= 0.9);
    row("every sink black-holed: p99 within 10% of healthy", `${x(p99)} healthy`, p99 <= 1.1);
  }
  const peaks = new Map<string, number>();
  for (const r of runs) peaks.set(r.config, Math.max(peaks.get(r.config) ?? 0, r.rssMb));
  const [worst, worstMb] = [...peaks.entries()].filter(([name]) => name !== "baseline")
    .reduce((a, b) => (b[1] > a[1] ? b : a), ["", 0]);
  if (worst) {
    row(
      `peak RSS ≤ ${RSS_LIMIT_MB} MB in every configuration`,
      `highest: ${worst} ${worstMb.toFixed(0)} MB`,
      worstMb <= RSS_LIMIT_MB,
    );
  }
  if (coldStartMs.length > 0) {
    const ms = median(coldStartMs);
    row(
      `cold start to the first 200, every sink configured, ≤ ${COLD_START_LIMIT_MS} ms`,
      `${ms.toFixed(0)} ms (median of ${coldStartMs.length}: ${
        coldStartMs.map((v) => v.toFixed(0)).join(", ")
      })`,
      ms <= COLD_START_LIMIT_MS,
    );
  }
  if (pgliteColdStartMs.length > 0) {
    const ms = median(pgliteColdStartMs);
    row(
      `PGlite cold start to the first 200, existing DATA_DIR, ≤ ${PGLITE_COLD_START_LIMIT_MS} ms`,
      `${ms.toFixed(0)} ms (median of ${pgliteColdStartMs.length}: ${
        pgliteColdStartMs.map((v) => v.toFixed(0)).join(", ")
      }${pgliteSources.length ? `; answered by ${sourceCounts(pgliteSources)}` : ""})`,
      ms <= PGLITE_COLD_START_LIMIT_MS,
    );
  }
  return rows;
}
