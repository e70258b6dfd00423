/**
 * The OTLP span exporter's retry layer: it takes encoded batches (span_protobuf.ts, span_json.ts;
 * `export` encodes a batch of spans itself, for any SDK processor) and sends them through an
 * `IExporterTransport` (telemetry/otlp/transport.ts), keeping a batch through an outage
 * instead of dropping it, and sending the same bytes again. Both seams are public in
 * otlp-exporter-base 0.223.1; each attempt is one `send`, and this layer sees the transport's
 * answer: success (with the body, for partial success), failure, or retryable with the
 * Retry-After the collector sent.
 *
 * Policy: retryable causes (429, 502, 503, 504, network error, timeout) keep the batch in a
 * bounded retry buffer, retried oldest first after exponential backoff with full jitter, or
 * after Retry-After when the collector sends one. While a retry is pending, new batches join
 * the buffer (the batch processor keeps flowing); past `maxBufferedSpans` spans or
 * `maxBufferedBytes` bytes the NEWEST batch is dropped and counted, like the processor's own
 * full queue, so ordering holds and the batch in flight is never touched. The byte bound holds
 * the buffer's memory whatever the spans carry (2,048 spans with 60 KB paths were ~250 MB).
 * Non-retryable answers (400, 401, 403, 404, ...) fail the batch at once (`failed`); a 200
 * carrying `partialSuccess.rejectedSpans` counts those spans `rejected` and the rest `sent`.
 * A 413 (a receiver whose body limit is below the batch) sends the batch again as two halves
 * (telemetry/otlp/split.ts), each halved again on a 413 of its own, at most
 * {@linkcode MAX_SPLIT_DEPTH} times (16 parts); what is still refused then fails.
 */
import { context } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode, suppressTracing } from "@opentelemetry/core";
import type { ExportResponse, IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { type OtlpProtocol, rejectedCount, type SpanBatchEncoder } from "./encoding.ts";
import { TraceRequestEncoder } from "./span_json.ts";
import { halveTraceRequest } from "./split.ts";
import { sleep } from "../util/deadline.ts";
import { errorText } from "../util/errors.ts";
import { type Diagnostic, emptyStats, type SinkStats } from "../types.ts";

/** Options of `RetryingSpanExporter`. */
export interface OtlpRetryOptions {
  /** Per attempt, body included (OTEL_EXPORTER_OTLP_TIMEOUT). Default 10 s. */
  timeoutMs?: number;
  /** Spans held for retry at most (default: the BSP queue size, 2048). */
  maxBufferedSpans?: number;
  /**
   * Encoded bytes held for retry at most. Default {@linkcode MAX_BUFFERED_BYTES}; a batch
   * larger than this on its own is still kept while the buffer is empty.
   */
  maxBufferedBytes?: number;
  /** First backoff; doubles per failed attempt up to `maxBackoffMs`. Default 500 ms. */
  initialBackoffMs?: number;
  /** Backoff ceiling. Default 30 s. */
  maxBackoffMs?: number;
  /** A Retry-After longer than this is clamped (a collector asking for an hour). Default 60 s. */
  maxRetryAfterMs?: number;
  /** Where the layer reports its own trouble (once per outage). */
  diagnostic?: Diagnostic;
  /** Jitter source, for tests. */
  random?: () => number;
  /**
   * What `export` encodes a batch of spans with; its protocol also says how the collector's
   * answer is read. Default: OTLP JSON.
   */
  encoder?: SpanBatchEncoder;
}

/**
 * The retry buffer's byte bound by default: 8 MiB, about 11,000 of our usual spans (~0.7 KB
 * each encoded), so the span bound (2,048) is the one that holds for them.
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Times a refused (413) batch is halved at most: 16 parts. */
export const MAX_SPLIT_DEPTH = 4;

/** How an attempt ended, as this layer classifies it. */
export type AttemptOutcome =
  | { kind: "sent"; rejected: number }
  | { kind: "retry"; afterMs?: number; reason: string }
  | { kind: "fail"; reason: string; status?: number };

/** A batch held for retry: its request body and how many spans it carries. */
interface Batch {
  body: Uint8Array;
  spans: number;
  attempts: number;
  /** Times its spans were halved for a 413. */
  depth: number;
}

const SUCCESS: ExportResult = { code: ExportResultCode.SUCCESS };

/** Classifies one transport answer (a success's body read as `protocol` says). */
export function classifyResponse(
  response: ExportResponse,
  protocol: OtlpProtocol = "http/json",
): AttemptOutcome {
  switch (response.status) {
    case "success":
      return { kind: "sent", rejected: rejectedCount(protocol, response.data, "rejectedSpans") };
    case "retryable": {
      const reason = response.error ? errorText(response.error) : "retryable answer";
      const afterMs = response.retryInMillis;
      return afterMs !== undefined && afterMs >= 0
        ? { kind: "retry", afterMs, reason }
        : { kind: "retry", reason };
    }
    default: {
      // The HTTP status, when there was one (a 413 lets the logs sink split the batch).
      const status = (response.error as { status?: unknown } | undefined)?.status;
      return typeof status === "number"
        ? { kind: "fail", reason: errorText(response.error), status }
        : { kind: "fail", reason: errorText(response.error) };
    }
  }
}

/** The retry layer; see the module comment. */
export class RetryingSpanExporter implements SpanExporter {
  /** sent/retried/dropped/rejected/failed of this layer (queued is the BSP's). */
  readonly counts: SinkStats = emptyStats();
  private readonly buffer: Batch[] = [];
  private bufferedSpans = 0;
  private bufferedBytes = 0;
  private inflightSpans = 0;
  private skipBackoff: AbortController | undefined;
  /** Aborted by abandon(): wakes the backoff sleep. */
  private readonly stop = new AbortController();
  private pump: Promise<void> | undefined;
  private drainDeadline: number | undefined;
  private overflowReported = false;
  private outageReported = false;
  private splitReported = false;
  private closed = false;
  private readonly maxBufferedSpans: number;
  private readonly maxBufferedBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly diagnostic: Diagnostic;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  /** For `export`: batches handed over as spans. */
  private readonly encoder: SpanBatchEncoder;

  constructor(private readonly transport: IExporterTransport, options: OtlpRetryOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxBufferedSpans = options.maxBufferedSpans ?? 2048;
    this.maxBufferedBytes = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.diagnostic = options.diagnostic ?? (() => {});
    this.random = options.random ?? Math.random;
    this.encoder = options.encoder ?? new TraceRequestEncoder();
  }

  /** Spans held here: in the retry buffer or on their first attempt. */
  pending(): number {
    return this.bufferedSpans + this.inflightSpans;
  }

  /** Encodes `spans` (for an SDK processor) and delivers them; `done` gets the first outcome. */
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let encoded;
    try {
      encoded = this.encoder.encode(spans);
    } catch (error) {
      // Only a throwing resource or scope gets here; a span's own fields are checked one by one.
      this.counts.failed += spans.length;
      done({ code: ExportResultCode.FAILED, error: new Error(errorText(error)) });
      return;
    }
    if (encoded.unencodable > 0) {
      this.counts.failed += encoded.unencodable;
      this.diagnostic(`traces: ${encoded.unencodable} spans could not be encoded, counted failed`);
    }
    if (encoded.spans === 0) {
      done({ code: ExportResultCode.FAILED, error: new Error("no span could be encoded") });
      return;
    }
    void this.deliver(encoded.body, encoded.spans).then((result) => {
      this.encoder.release(encoded.body);
      done(result);
    });
  }

  /**
   * Sends one encoded batch of `spans` spans, counted from here on. Resolves when the first
   * attempt ended (or the batch joined the retry buffer behind an outage); never rejects.
   * `body` is read until then only: a batch kept for retry keeps its own copy, so the caller
   * may reuse the buffer once this resolves.
   */
  deliver(body: Uint8Array, spans: number): Promise<ExportResult> {
    return this.#deliver(body, spans, 0);
  }

  async #deliver(body: Uint8Array, spans: number, depth: number): Promise<ExportResult> {
    if (this.closed) {
      this.counts.dropped += spans;
      return Promise.resolve({
        code: ExportResultCode.FAILED,
        error: new Error("Exporter is shut down"),
      });
    }
    if (this.buffer.length > 0) {
      // An outage is on: queue behind the batches already waiting, keep the processor flowing.
      this.enqueue({ body, spans, attempts: 0, depth });
      return SUCCESS;
    }
    this.inflightSpans += spans;
    const outcome = await this.attempt(body);
    this.inflightSpans -= spans;
    if (this.closed) return SUCCESS; // abandoned and counted at shutdown
    if (outcome.kind === "retry") {
      this.enqueue({ body, spans, attempts: 1, depth }, outcome);
      return SUCCESS;
    }
    const halves = this.halves(body, depth, outcome);
    if (halves) {
      let result = SUCCESS;
      for (const half of halves) {
        const settled = await this.#deliver(half.body, half.spans, depth + 1);
        if (settled.code !== ExportResultCode.SUCCESS) result = settled;
      }
      return result;
    }
    this.settle(spans, outcome);
    return outcome.kind === "sent"
      ? SUCCESS
      : { code: ExportResultCode.FAILED, error: new Error(outcome.reason) };
  }

  /** The two halves to send instead of a batch the receiver refused as too large (413). */
  private halves(body: Uint8Array, depth: number, outcome: AttemptOutcome) {
    if (outcome.kind !== "fail" || outcome.status !== 413 || depth >= MAX_SPLIT_DEPTH) return;
    const halves = halveTraceRequest(this.encoder.protocol, body);
    if (halves && !this.splitReported) {
      this.splitReported = true;
      this.diagnostic(
        `traces: the receiver refused ${body.byteLength} bytes as too large (413), sending halves`,
      );
    }
    return halves;
  }

  /** Retries what is buffered now, then with backoff capped by the deadline, until empty. */
  async drain(deadlineMs: number): Promise<void> {
    this.drainDeadline = deadlineMs;
    this.skipBackoff?.abort(); // skip the current backoff once
    try {
      while (!this.closed && this.pending() > 0 && Date.now() < deadlineMs) {
        if (this.buffer.length > 0) this.startPump();
        await sleep(Math.min(10, Math.max(0, deadlineMs - Date.now())), this.stop.signal);
      }
    } finally {
      if (this.drainDeadline === deadlineMs) this.drainDeadline = undefined;
    }
  }

  forceFlush(): Promise<void> {
    return this.drain(Date.now() + this.maxBackoffMs);
  }

  /** Stops retrying, counts whatever is still held as dropped, releases the transport. */
  abandon(why = "shutdown deadline passed"): number {
    if (this.closed) return 0;
    this.closed = true;
    const lost = this.pending();
    this.counts.dropped += lost;
    this.buffer.length = 0;
    this.bufferedSpans = 0;
    this.bufferedBytes = 0;
    this.inflightSpans = 0;
    this.stop.abort();
    this.transport.shutdown();
    if (lost > 0) this.diagnostic(`traces: ${why}, ${lost} spans abandoned`);
    return lost;
  }

  shutdown(): Promise<void> {
    this.abandon();
    return Promise.resolve();
  }

  private async attempt(body: Uint8Array): Promise<AttemptOutcome> {
    try {
      // The exporter's own HTTP call must never become a span, whatever is instrumented.
      const response = await context.with(
        suppressTracing(context.active()),
        () => this.transport.send(body, this.timeoutMs),
      );
      return classifyResponse(response, this.encoder.protocol);
    } catch (error) {
      return { kind: "fail", reason: errorText(error) };
    }
  }

  private settle(spans: number, outcome: AttemptOutcome): void {
    if (outcome.kind === "sent") {
      const rejected = Math.min(outcome.rejected, spans);
      this.counts.rejected += rejected;
      this.counts.sent += spans - rejected;
      if (this.outageReported) {
        this.outageReported = false;
        this.overflowReported = false;
        this.diagnostic("traces: OTLP export recovered");
      }
    } else {
      this.counts.failed += spans;
      this.diagnostic(`traces: ${spans} spans failed, not retryable: ${outcome.reason}`);
    }
  }

  private enqueue(batch: Batch, outcome?: AttemptOutcome): void {
    const bytes = batch.body.byteLength;
    if (
      this.bufferedSpans + batch.spans > this.maxBufferedSpans ||
      (this.buffer.length > 0 && this.bufferedBytes + bytes > this.maxBufferedBytes)
    ) {
      this.counts.dropped += batch.spans;
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.diagnostic(
          `traces: retry buffer full (${this.maxBufferedSpans} spans or ${this.maxBufferedBytes} bytes), dropping new batches`,
        );
      }
      return;
    }
    // The caller reuses its buffer once deliver() resolves: a batch kept for later gets its own.
    this.buffer.push({ ...batch, body: batch.body.slice() });
    this.bufferedSpans += batch.spans;
    this.bufferedBytes += bytes;
    if (outcome?.kind === "retry" && !this.outageReported) {
      this.outageReported = true;
      this.diagnostic(`traces: OTLP export failed, retrying: ${outcome.reason}`);
    }
    this.startPump(outcome?.kind === "retry" ? outcome.afterMs : undefined);
  }

  private backoff(attempts: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.maxRetryAfterMs);
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (attempts - 1));
    // Full jitter, with a floor so a fleet does not hammer a recovering collector.
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  private startPump(firstDelayMs?: number): void {
    if (this.pump) return;
    this.pump = this.run(firstDelayMs).finally(() => {
      this.pump = undefined;
    });
  }

  private async run(firstDelayMs: number | undefined) {
    let delay = firstDelayMs;
    while (!this.closed && this.buffer.length > 0) {
      const head = this.buffer[0]!;
      let wait = delay ?? this.backoff(Math.max(1, head.attempts), undefined);
      if (this.drainDeadline !== undefined) {
        // A flush is waiting: never sleep past half the time it has left.
        wait = Math.min(wait, Math.max(0, (this.drainDeadline - Date.now()) / 2));
      }
      await this.pause(wait);
      delay = undefined;
      if (this.closed) return;
      head.attempts++;
      this.counts.retried++;
      const outcome = await this.attempt(head.body);
      if (this.closed) return;
      if (outcome.kind === "retry") {
        delay = outcome.afterMs === undefined
          ? this.backoff(head.attempts, undefined)
          : this.backoff(head.attempts, outcome.afterMs);
        continue;
      }
      const halves = this.halves(head.body, head.depth, outcome);
      if (halves) {
        // In the refused batch's place, in order; the spans stay held, their bytes change.
        const [first, second] = halves;
        this.buffer.splice(
          0,
          1,
          ...halves.map((half) => ({
            body: half.body,
            spans: half.spans,
            attempts: 0,
            depth: head.depth + 1,
          })),
        );
        this.bufferedBytes += first.body.byteLength + second.body.byteLength -
          head.body.byteLength;
        delay = 0;
        continue;
      }
      this.buffer.shift();
      this.bufferedSpans -= head.spans;
      this.bufferedBytes -= head.body.byteLength;
      this.settle(head.spans, outcome);
      delay = 0; // the collector is back: send the rest at once
    }
  }

  /** Backoff sleep; drain() skips it once, abandon() ends it. */
  private async pause(ms: number): Promise<void> {
    const skip = new AbortController();
    this.skipBackoff = skip;
    await sleep(ms, AbortSignal.any([skip.signal, this.stop.signal]));
    if (this.skipBackoff === skip) this.skipBackoff = undefined;
  }
}
