/**
 * Event-loop delay the way Node's `perf_hooks.monitorEventLoopDelay()` measures it, which is
 * what the semantic conventions' `nodejs.eventloop.delay.*` refer to: a repeating timer of
 * `resolutionMs`, and each sample is the time since the previous tick. An idle loop reads the
 * resolution; a loop kept busy for 500 ms reads 500 ms on the tick after it.
 *
 * Why not Deno's `monitorEventLoopDelay`: its native histogram records how late a runtime-side
 * interval fired and catches up missed ticks in a burst, so a 500 ms block of the JavaScript
 * thread read ~14 ms; and reading its mean and stddev walks the histogram value by value, up to
 * 8 ms of main-thread CPU per export once a delay of ~10 ms was recorded (measured with
 * bench/event_loop_delay.ts). Here a tick costs a clock read and a few arithmetic operations,
 * min, max, mean and stddev are kept exactly (Welford), and the percentiles come from 1,728
 * log-linear buckets (1 µs steps below 128 µs, then 64 per power of two: within 1.6%), read in
 * one pass.
 */

/** Buckets per power of two above the exact range. */
const SUB = 64;
/** Enough buckets for 2^32 µs (71 minutes); longer samples land in the last one. */
const BUCKETS = SUB * 25 + 2 * SUB;
const MAX_MICROS = 2 ** 32 - 1;

/** What one export reads, in seconds. */
export interface DelaySnapshot {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Options of {@linkcode EventLoopDelayMonitor}. */
export interface EventLoopDelayOptions {
  /** The timer's period (Node's `resolution`); default 20 ms. */
  resolutionMs?: number;
  /** Milliseconds clock; `performance.now` unless a test drives it. */
  now?: () => number;
}

function bucketOf(micros: number): number {
  if (micros < 2 * SUB) return micros;
  const shift = 31 - Math.clz32(micros) - 6; // keep the top 7 bits: 64..127
  return shift * SUB + (micros >>> shift);
}

/** The largest value (µs) a bucket holds, as HDR histograms report a percentile. */
function upperEdge(bucket: number): number {
  if (bucket < 2 * SUB) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const mantissa = bucket - shift * SUB;
  return (mantissa + 1) * 2 ** shift - 1; // not <<: 128 << 25 overflows an int32
}

/** See the module comment. */
export class EventLoopDelayMonitor {
  readonly resolutionMs: number;
  readonly #now: () => number;
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #min = Infinity;
  #max = 0;
  #mean = 0;
  /** Sum of squared deviations (Welford). */
  #m2 = 0;
  #previous = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: EventLoopDelayOptions = {}) {
    this.resolutionMs = Math.max(1, options.resolutionMs ?? 20);
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts the timer; it never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#previous = this.#now();
    this.#timer = setInterval(this.sample, this.resolutionMs);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One tick: records the time since the previous one. The timer calls it; tests may too. */
  readonly sample = (): void => {
    const now = this.#now();
    const ms = now - this.#previous;
    this.#previous = now;
    if (!(ms >= 0)) return;
    this.#count++;
    if (ms < this.#min) this.#min = ms;
    if (ms > this.#max) this.#max = ms;
    const delta = ms - this.#mean;
    this.#mean += delta / this.#count;
    this.#m2 += delta * (ms - this.#mean);
    this.#counts[bucketOf(Math.min(MAX_MICROS, Math.round(ms * 1000)))]!++;
  };

  /** Samples since the last {@linkcode reset}. */
  get count(): number {
    return this.#count;
  }

  /** The samples since the last reset, in seconds; `undefined` before the first one. */
  read(): DelaySnapshot | undefined {
    if (this.#count === 0) return undefined;
    // HDR's rule: the value at which the running count reaches round(p% of the total).
    const targets = [50, 90, 99].map((p) => Math.max(1, Math.round(p / 100 * this.#count)));
    const found: number[] = [];
    let seen = 0;
    for (let b = 0; b < BUCKETS && found.length < targets.length; b++) {
      seen += this.#counts[b]!;
      while (found.length < targets.length && seen >= targets[found.length]!) {
        // A bucket's edge may pass the largest sample in it: report at most the max.
        found.push(Math.min(upperEdge(b) / 1e6, this.#max / 1000));
      }
    }
    return {
      count: this.#count,
      min: this.#min / 1000,
      max: this.#max / 1000,
      mean: this.#mean / 1000,
      stddev: Math.sqrt(this.#m2 / this.#count) / 1000,
      p50: found[0]!,
      p90: found[1]!,
      p99: found[2]!,
    };
  }

  /** Starts a new period (each export reports the delay since the previous one). */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#min = Infinity;
    this.#max = 0;
    this.#mean = 0;
    this.#m2 = 0;
  }
}
