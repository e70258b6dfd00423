/**
 * The spans' batch processor, scheduled as the SDK's BatchSpanProcessor schedules (a batch out
 * at once when it is full, else after the scheduled delay; at most `maxQueueSize` spans held,
 * a span past that dropped and counted), with the work moved off
 * the request path: `onEnd` only puts the span into a fixed ring. The sink's own timer turn
 * (every {@linkcode ENCODE_CHUNK} spans, and when the delay passes) writes the spans into the
 * open batch's bytes (telemetry/otlp/span_protobuf.ts or span_json.ts) and releases them, so
 * they die young instead of being held for a whole batch; a full batch, or the open one when
 * the delay passes, goes to the retry layer (telemetry/otlp/retry.ts). The SDK processor
 * serialised a full batch inside the
 * `end()` of whichever request filled it.
 *
 * Unlike the SDK's, up to `maxConcurrentExports` batches may be out at once (one gives the SDK's
 * behaviour): with one, a collector 100 ms away takes at most a batch per round trip, and a
 * busier service drops the rest (config.ts, DEFAULT_MAX_CONCURRENT_EXPORTS).
 *
 * Account: every sampled span offered counts as queued; a span turned away counts as dropped;
 * a span whose fields cannot be encoded counts as failed; the rest are held here until the
 * retry layer takes their batch, which then counts them (sent, rejected, failed, dropped).
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { BoundedIntake, Diagnostic, SinkStats } from "../types.ts";
import { beforeDeadline } from "../util/deadline.ts";
import type { SpanBatchEncoder } from "./encoding.ts";

/**
 * Spans per encoding turn: a timer per few requests instead of one per event-loop turn, and
 * spans still released within a few requests of their end (before the young generation is
 * collected, not after a whole batch).
 */
const ENCODE_CHUNK = 32;

/** Batch settings (OTEL_BSP_*; the SDK's defaults: 2,048 held, batches of 512, every 5 s). */
export interface SpanBatchSettings {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  /** How long one hand-over may take before the next batch goes (OTEL_BSP_EXPORT_TIMEOUT). */
  exportTimeoutMillis: number;
  /** Hand-overs in progress at most (OTLP_MAX_CONCURRENT_EXPORTS); default 1, the SDK's. */
  maxConcurrentExports?: number;
}

/** Where encoded batches go: the retry layer. */
export interface BatchDelivery {
  /**
   * Takes one batch of `spans` spans. Resolves when its first attempt ended or it waits in the
   * retry buffer (its place among the batches out is free then); never rejects. From the call
   * on, the batch is the delivery's to count. `body` is read until then only: the delivery
   * copies what it keeps longer, and the batcher writes a later batch into the same buffer.
   * Called again before an earlier call resolved (OTLP_MAX_CONCURRENT_EXPORTS above 1).
   */
  deliver(body: Uint8Array, spans: number): Promise<unknown>;
}

/** Options of {@linkcode SpanBatcher}. */
export interface SpanBatcherOptions extends SpanBatchSettings {
  encoder: SpanBatchEncoder;
  delivery: BatchDelivery;
  /** The sink's counters: this adds queued, dropped (turned away) and failed (unencodable). */
  counts: SinkStats;
  diagnostic: Diagnostic;
}

/** An encoded batch not yet handed over. */
interface Sealed {
  body: Uint8Array;
  spans: number;
}

/** See the module comment. */
export class SpanBatcher implements SpanProcessor, BoundedIntake {
  readonly #encoder: SpanBatchEncoder;
  readonly #delivery: BatchDelivery;
  readonly #counts: SinkStats;
  readonly #diagnostic: Diagnostic;
  readonly #maxHeld: number;
  readonly #batchSize: number;
  readonly #delayMs: number;
  readonly #exportTimeoutMs: number;
  readonly #maxOut: number;
  /** An encoding turn is armed when this many spans wait in the ring (or a batch's worth). */
  readonly #chunk: number;
  /** Spans ended since the last encoding turn, in slots 0..#fresh-1. */
  readonly #ring: (ReadableSpan | undefined)[];
  #fresh = 0;
  /** Full batches waiting for the one out to be handed over. */
  readonly #sealed: Sealed[] = [];
  /** Spans accepted and not yet handed over: in the ring, the open batch or a sealed one. */
  #held = 0;
  #encodeTimer: ReturnType<typeof setTimeout> | undefined;
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
  /** The hand-overs in progress (at most #maxOut), each settled by its delivery or deadline. */
  readonly #out = new Set<Promise<void>>();
  #closed = false;
  #unencodableReported = false;

  constructor(options: SpanBatcherOptions) {
    this.#encoder = options.encoder;
    this.#delivery = options.delivery;
    this.#counts = options.counts;
    this.#diagnostic = options.diagnostic;
    this.#maxHeld = Math.max(1, Math.floor(options.maxQueueSize));
    this.#batchSize = Math.max(1, Math.min(options.maxExportBatchSize, this.#maxHeld));
    this.#delayMs = Math.max(0, options.scheduledDelayMillis);
    this.#exportTimeoutMs = Math.max(1, options.exportTimeoutMillis);
    this.#maxOut = Math.max(1, Math.floor(options.maxConcurrentExports ?? 1));
    this.#chunk = Math.min(ENCODE_CHUNK, this.#batchSize);
    this.#ring = new Array(this.#maxHeld).fill(undefined);
  }

  /** Spans held here (not yet handed to the retry layer). */
  queued(): number {
    return this.#held;
  }

  /** Spans it takes now without turning one away (BoundedIntake). */
  intakeRoom(): number {
    return this.#closed ? 0 : this.#maxHeld - this.#held;
  }

  onStart(_span: Span, _context: Context): void {}

  /** The request path: counted, and one store into the ring; a turn armed for the first. */
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    this.#counts.queued++;
    if (this.#closed || this.#held >= this.#maxHeld) {
      this.#counts.dropped++;
      return;
    }
    this.#ring[this.#fresh++] = span;
    this.#held++;
    if (this.#fresh === this.#chunk && this.#encodeTimer === undefined) {
      const timer = setTimeout(this.#onEncodeTimer, 0);
      Deno.unrefTimer(timer); // held spans never keep the process alive
      this.#encodeTimer = timer;
    }
    if (this.#delayTimer === undefined) this.#armDelay();
  }

  /** Hands over everything held when called, batch by batch. */
  async forceFlush(): Promise<void> {
    if (this.#closed) return;
    this.#encodeFresh();
    this.#seal();
    while (!this.#closed && (this.#sealed.length > 0 || this.#out.size > 0)) {
      this.#pump();
      if (this.#out.size === 0) break;
      await Promise.race(this.#out);
    }
  }

  /** Stops taking spans and releases them; the sink counts what was still held. */
  shutdown(): Promise<void> {
    this.#closed = true;
    this.#clearTimers();
    this.#ring.fill(undefined);
    this.#fresh = 0;
    this.#sealed.length = 0;
    return Promise.resolve();
  }

  readonly #onEncodeTimer = (): void => {
    this.#encodeTimer = undefined;
    if (this.#closed) return;
    this.#encodeFresh();
    if (this.#sealed.length > 0) this.#pump();
    if (this.#encoder.count > 0 && this.#delayTimer === undefined) this.#armDelay();
  };

  /** The scheduled delay for the spans held now (the SDK arms it when a span finds none). */
  #armDelay(): void {
    const timer = setTimeout(this.#onDelayTimer, this.#delayMs);
    Deno.unrefTimer(timer);
    this.#delayTimer = timer;
  }

  readonly #onDelayTimer = (): void => {
    this.#delayTimer = undefined;
    if (this.#closed) return;
    this.#encodeFresh();
    this.#seal();
    this.#pump();
  };

  /** Writes the spans of the ring into the open batch, sealing each full one. */
  #encodeFresh(): void {
    if (this.#encodeTimer !== undefined) {
      clearTimeout(this.#encodeTimer);
      this.#encodeTimer = undefined;
    }
    const fresh = this.#fresh;
    this.#fresh = 0;
    let unencodable = 0;
    for (let i = 0; i < fresh; i++) {
      const span = this.#ring[i]!;
      this.#ring[i] = undefined;
      if (!this.#encoder.add(span)) unencodable++;
      else if (this.#encoder.count >= this.#batchSize) this.#seal();
    }
    this.#encoder.write();
    if (unencodable > 0) {
      this.#held -= unencodable;
      this.#counts.failed += unencodable;
      if (!this.#unencodableReported) {
        this.#unencodableReported = true;
        this.#diagnostic(`traces: ${unencodable} spans could not be encoded, counted failed`);
      }
    }
  }

  /** Closes the open batch (if it has spans) into a sealed one. */
  #seal(): void {
    if (this.#encoder.count === 0) return;
    const spans = this.#encoder.count;
    this.#sealed.push({ body: this.#encoder.finish(), spans });
    if (this.#delayTimer !== undefined) {
      clearTimeout(this.#delayTimer);
      this.#delayTimer = undefined;
    }
  }

  /** Hands sealed batches over, oldest first, while fewer than #maxOut are in progress. */
  #pump(): void {
    while (!this.#closed && this.#sealed.length > 0 && this.#out.size < this.#maxOut) {
      const batch = this.#sealed.shift()!;
      this.#held -= batch.spans;
      const delivered = this.#delivery.deliver(batch.body, batch.spans);
      // The buffer is reused once the delivery is done with it, not before (even past the
      // export timeout below).
      void delivered.then(() => this.#encoder.release(batch.body), () => {});
      // A hand-over that hangs past the export timeout no longer holds its place.
      const out: Promise<void> = beforeDeadline(delivered, Date.now() + this.#exportTimeoutMs)
        .then(() => {
          this.#out.delete(out);
          this.#pump();
        });
      this.#out.add(out);
    }
  }

  #clearTimers(): void {
    if (this.#encodeTimer !== undefined) clearTimeout(this.#encodeTimer);
    if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
    this.#encodeTimer = undefined;
    this.#delayTimer = undefined;
  }
}
