/**
 * CloudWatch metrics without PutMetricData: request outcomes aggregated per route and status
 * class over an interval, written into the CloudWatch Logs stream as Embedded Metric Format
 * events, from which CloudWatch extracts the metrics itself.
 *
 * Per (route, status class) and interval, one event carries `RequestCount`, `Errors` (4xx),
 * `Faults` (5xx) and `Latency` in milliseconds as a distribution: `{Values, Counts, Min, Max,
 * Count, Sum}`, the form CloudWatch's own agent uses for histograms, so percentiles (p99) work
 * in alarms. Latencies are kept to two significant digits, so a distribution has few distinct
 * values; more than 100 (the limit per metric) are spread over continuation events that carry
 * only `Latency`. Two dimension sets: (Service, Route, StatusClass) and (Service) alone, the
 * one the alarms in aws/json/ watch.
 *
 * A request costs two Map lookups by strings it already holds (route template, method), one by
 * status class, an arithmetic rounding and a few increments: no string is built per request.
 * Nothing is written until the interval ends, and an idle interval writes nothing.
 */
import type { LogLine } from "../types.ts";
import { metricMethod, type RequestRecorder, type RequestSample } from "../metrics/http_server.ts";

/** Distinct values per metric in one EMF event at most (the EMF specification's limit). */
export const MAX_VALUES_PER_METRIC = 100;
/** (route, status class) pairs kept per interval; further ones share an overflow route. */
export const MAX_KEYS = 200;
/** Distinct latencies kept per pair and interval; further ones are folded into the largest. */
const MAX_DISTINCT = 1000;
/** The route dimension's value for requests no route matched, and for the overflow pair. */
export const UNMATCHED_ROUTE = "unmatched";
export const OVERFLOW_ROUTE = "other";

/** Options of {@linkcode EmfAggregator}. */
export interface EmfOptions {
  /** CloudWatch namespace (CLOUDWATCH_METRICS_NAMESPACE). */
  namespace: string;
  /** The `Service` dimension (the service name). */
  service: string;
  /** Aggregation period (CLOUDWATCH_METRICS_INTERVAL_MS). */
  intervalMs: number;
  /** Where the events go: the CloudWatch Logs sink's queue. */
  push(line: LogLine): void;
  now?: () => number;
}

interface Bucket {
  route: string;
  statusClass: string;
  count: number;
  errors: number;
  faults: number;
  /** Latency (ms, two significant digits) → occurrences. */
  latencies: Map<number, number>;
}

/** Exact powers of ten, 10^0 … 10^22 (the largest a double holds exactly). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * Rounds a latency to two significant digits (0 stays 0): `Number(ms.toPrecision(2))`, by
 * arithmetic (toPrecision formats a string, several times the cost); a value within rounding
 * error of a tie is decided by toPrecision itself, so the result is the same double.
 */
export function quantizeMs(ms: number): number {
  if (!(ms > 0)) return 0;
  const k = Math.floor(Math.log10(ms)) - 1; // ms = n · 10^k with n in [10, 100)
  if (k < -22 || k > 22 || ms === Infinity) return Number(ms.toPrecision(2));
  const scaled = k < 0 ? ms * POW10[-k]! : ms / POW10[k]!;
  const n = Math.round(scaled);
  if (Math.abs(scaled - n) > 0.49999) return Number(ms.toPrecision(2));
  // A division or product by an exact power of ten is the double nearest "n e k", as Number()
  // parses it.
  return k < 0 ? n / POW10[-k]! : n * POW10[k]!;
}

/** Aggregates request outcomes and writes EMF events; see the module comment. */
export class EmfAggregator implements RequestRecorder {
  /** Every bucket of the interval, in the order they appeared (the order events are written). */
  private buckets: Bucket[] = [];
  /** route template → method → status class (status / 100) → bucket. */
  private routes = new Map<string, Map<string, Map<number, Bucket>>>();
  /** Requests no route matched, by status class. */
  private unmatched = new Map<number, Bucket>();
  /** Pairs past MAX_KEYS, by status class. */
  private overflow = new Map<number, Bucket>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: EmfOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts the interval timer (it does not keep the process alive). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => this.flush(), this.options.intervalMs);
    Deno.unrefTimer(this.timer);
  }

  begin(): void {
    // EMF has no in-flight gauge: only finished requests count.
  }

  end(sample: RequestSample): void {
    if (this.stopped) return;
    const status = sample.status;
    const bucket = this.bucketOf(sample.route, sample.method, Math.floor(status / 100));
    bucket.count++;
    if (status >= 500) bucket.faults++;
    else if (status >= 400) bucket.errors++;
    let ms = quantizeMs(sample.durationSeconds * 1000);
    const latencies = bucket.latencies;
    // One lookup for a latency seen before (the rule: two significant digits repeat).
    const seen = latencies.get(ms);
    if (seen !== undefined) {
      latencies.set(ms, seen + 1);
      return;
    }
    if (latencies.size >= MAX_DISTINCT) ms = Math.max(...latencies.keys());
    latencies.set(ms, (latencies.get(ms) ?? 0) + 1);
  }

  private bucketOf(route: string | undefined, method: string, statusClass: number): Bucket {
    if (route === undefined) return this.inClass(this.unmatched, UNMATCHED_ROUTE, statusClass);
    const m = metricMethod(method);
    let byMethod = this.routes.get(route);
    if (byMethod === undefined) this.routes.set(route, byMethod = new Map());
    let byClass = byMethod.get(m);
    if (byClass === undefined) byMethod.set(m, byClass = new Map());
    const bucket = byClass.get(statusClass);
    if (bucket !== undefined) return bucket;
    if (this.buckets.length >= MAX_KEYS) {
      return this.inClass(this.overflow, OVERFLOW_ROUTE, statusClass);
    }
    return this.add(byClass, `${m} ${route}`, statusClass);
  }

  private inClass(byClass: Map<number, Bucket>, route: string, statusClass: number): Bucket {
    return byClass.get(statusClass) ?? this.add(byClass, route, statusClass);
  }

  private add(byClass: Map<number, Bucket>, route: string, statusClass: number): Bucket {
    const bucket: Bucket = {
      route,
      statusClass: `${statusClass}xx`,
      count: 0,
      errors: 0,
      faults: 0,
      latencies: new Map(),
    };
    byClass.set(statusClass, bucket);
    this.buckets.push(bucket);
    return bucket;
  }

  /** Writes the interval's events and starts a new interval. */
  flush(): void {
    if (this.buckets.length === 0) return;
    const buckets = this.buckets;
    this.buckets = [];
    this.routes = new Map();
    this.unmatched = new Map();
    this.overflow = new Map();
    const timestamp = this.now();
    for (const bucket of buckets) {
      for (const event of this.events(bucket, timestamp)) {
        this.options.push({ timestamp, message: JSON.stringify(event) });
      }
    }
  }

  /** Flushes what is left and stops; later requests are not recorded. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
    this.stopped = true;
  }

  private events(bucket: Bucket, timestamp: number): Record<string, unknown>[] {
    const { namespace, service } = this.options;
    const values = [...bucket.latencies.entries()].sort((a, b) => a[0] - b[0]);
    const dimensions = {
      Service: service,
      Route: bucket.route,
      StatusClass: bucket.statusClass,
    };
    const directive = (metrics: Array<{ Name: string; Unit: string }>) => ({
      Timestamp: timestamp,
      CloudWatchMetrics: [{
        Namespace: namespace,
        Dimensions: [["Service", "Route", "StatusClass"], ["Service"]],
        Metrics: metrics,
      }],
    });
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < values.length || i === 0; i += MAX_VALUES_PER_METRIC) {
      const chunk = values.slice(i, i + MAX_VALUES_PER_METRIC);
      let count = 0;
      let sum = 0;
      for (const [value, n] of chunk) {
        count += n;
        sum += value * n;
      }
      const latency = {
        Values: chunk.map(([value]) => value),
        Counts: chunk.map(([, n]) => n),
        Min: chunk[0]?.[0] ?? 0,
        Max: chunk.at(-1)?.[0] ?? 0,
        Count: count,
        Sum: Math.round(sum * 1000) / 1000,
      };
      const latencyMetric = { Name: "Latency", Unit: "Milliseconds" };
      out.push(
        i === 0
          ? {
            _aws: directive([
              { Name: "RequestCount", Unit: "Count" },
              { Name: "Errors", Unit: "Count" },
              { Name: "Faults", Unit: "Count" },
              latencyMetric,
            ]),
            ...dimensions,
            RequestCount: bucket.count,
            Errors: bucket.errors,
            Faults: bucket.faults,
            Latency: latency,
          }
          : { _aws: directive([latencyMetric]), ...dimensions, Latency: latency },
      );
    }
    return out;
  }
}
