/**
 * A BatchSpanProcessor with an exact account: every sampled span offered counts as queued,
 * and a span the full queue turns away counts as dropped. The SDK keeps its drop count
 * private, so the queue's occupancy is tracked here from what goes in and what the processor
 * hands to the exporter, which is exactly the SDK's own rule for a full queue.
 */
import type { Context } from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import {
  BatchSpanProcessor,
  type BufferConfig,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { SinkStats } from "../types.ts";

/** The batch processor plus the account of its queue. */
export class CountingBatchProcessor implements SpanProcessor {
  readonly #inner: BatchSpanProcessor;
  readonly #counts: SinkStats;
  readonly #maxQueueSize: number;
  /** Spans in the processor's queue: offered and kept, not yet handed to the exporter. */
  #queued = 0;
  /** After shutdown the processor ignores new spans: they are dropped here, counted. */
  #closed = false;

  constructor(
    exporter: SpanExporter,
    config: BufferConfig & { maxQueueSize: number },
    counts: SinkStats,
  ) {
    this.#counts = counts;
    this.#maxQueueSize = config.maxQueueSize;
    this.#inner = new BatchSpanProcessor(new HandOffCounter(exporter, this), config);
  }

  /** Spans waiting in the processor's queue. */
  queued(): number {
    return this.#queued;
  }

  /** Called by the exporter wrapper as the processor hands a batch over. */
  handedOver(n: number): void {
    this.#queued = Math.max(0, this.#queued - n);
  }

  onStart(span: Span, context: Context): void {
    this.#inner.onStart(span, context);
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    // Every offered span counts as queued, so queued = sent + dropped + rejected + failed +
    // pending holds like the other sinks' accounts (a full queue's drop is in both).
    this.#counts.queued++;
    if (this.#closed || this.#queued >= this.#maxQueueSize) this.#counts.dropped++;
    else this.#queued++;
    this.#inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    this.#closed = true;
    return this.#inner.shutdown();
  }
}

/** Sees each batch the processor exports, so the queue's occupancy stays exact. */
class HandOffCounter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly owner: CountingBatchProcessor,
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.owner.handedOver(spans.length);
    this.inner.export(spans, done);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
