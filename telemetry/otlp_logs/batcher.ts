/**
 * The log records' batch loop, the way the SDK's BatchLogRecordProcessor schedules (a batch at
 * once when it is full, else after the scheduled delay), over plain data:
 * {@linkcode LogBatcher.emit} only pushes the logger's event into the bounded buffer (a full
 * buffer turns the record away, counted dropped); the sink's own timer turns encode the records
 * into the open batch's bytes every {@linkcode ENCODE_CHUNK} records, and send a full batch (as
 * several requests when it passes the body cap, encode.ts). Flush delivers what was buffered
 * when it was called; shutdown flushes within the deadline, then counts whatever never settled
 * as dropped.
 *
 * Encoding a few records at a time lets their events die young: held for a whole batch (512
 * records, ~85 ms at 3,000 requests a second) they outlived two scavenges and were promoted,
 * the largest share of what filled V8's old generation between full GCs under load.
 *
 * Unlike the SDK's, up to `maxConcurrentExports` batches may be out at once (one gives the SDK's
 * behaviour; config.ts, DEFAULT_MAX_CONCURRENT_EXPORTS). They settle in order: a batch counts
 * as out until it and every batch before it settled, so the encoder's buffers (one per batch
 * out, plus the open one) are reused in turn and never under a body still being sent.
 */
import type { LogLevel, LogRecordSink, LogTraceContext } from "../logger.ts";
import type { BoundedIntake, Diagnostic, Sink, SinkStats } from "../types.ts";
import { beforeDeadline } from "../util/deadline.ts";
import { type Report, throttledDiagnostic } from "../util/throttle.ts";
import { type LogEvent, RecordBuffer, type RecordVisitor } from "./buffer.ts";
import type { ConsoleLogRecords } from "./console.ts";
import type { OtlpLogsDelivery } from "./delivery.ts";
import { type LogRecordsEncoder, MAX_RECORD_BYTES } from "./encode.ts";

/** Records per encoding turn: a timer per few requests, the events released within a few. */
const ENCODE_CHUNK = 32;

/** Batch settings (OTEL_BLRP_*; the defaults: 2,048 queued, batches of 512, every second). */
export interface BatchSettings {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  /** Batches out at once at most (OTLP_MAX_CONCURRENT_EXPORTS); default 1, the SDK's. */
  maxConcurrentExports?: number;
}

/** Options of {@linkcode LogBatcher}. */
export interface LogBatcherOptions extends BatchSettings {
  /** The OTLP destination: its encoder and its delivery. */
  otlp?: { encoder: LogRecordsEncoder; delivery: OtlpLogsDelivery };
  console?: ConsoleLogRecords;
  /** The pipeline's counters; the OTLP delivery's when it is configured, else the console's. */
  counts: SinkStats;
  diagnostic: Diagnostic;
}

/** See the module comment. */
export class LogBatcher implements LogRecordSink, Sink, BoundedIntake {
  readonly name = "logs";
  readonly #buffer: RecordBuffer;
  readonly #batchSize: number;
  readonly #delayMs: number;
  readonly #otlp: LogBatcherOptions["otlp"];
  readonly #console: ConsoleLogRecords | undefined;
  readonly #counts: SinkStats;
  readonly #diagnostic: Diagnostic;
  /** Repeated trouble (shortened records) at most once a minute. */
  readonly #report: Report;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The encoding turn, armed when {@linkcode ENCODE_CHUNK} records wait (OTLP only). */
  #encodeTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Records already in the encoder's open batch (taken out of the buffer). They count toward
   * the buffer's capacity, so the bound on records held is the same as before.
   */
  #encoded = 0;
  /** The pending timer fires at once (a full batch is waiting). */
  #timerImmediate = false;
  /** Batches out at most. */
  readonly #maxOut: number;
  /** Batches out: sent and not settled, or settled before one sent earlier. */
  #outCount = 0;
  /** Settles when every batch out has. */
  #lastOut: Promise<void> = Promise.resolve();
  #flushing: Promise<void> | undefined;
  #closed = false;
  #stopped: Promise<void> | undefined;
  #final: SinkStats | undefined;
  /** Records of the current batch that could not be encoded. */
  #unencodable = 0;

  constructor(options: LogBatcherOptions) {
    this.#buffer = new RecordBuffer(options.maxQueueSize);
    this.#batchSize = Math.max(1, Math.min(options.maxExportBatchSize, this.#buffer.capacity));
    this.#delayMs = Math.max(0, options.scheduledDelayMillis);
    this.#maxOut = Math.max(1, Math.floor(options.maxConcurrentExports ?? 1));
    this.#otlp = options.otlp;
    this.#console = options.console;
    this.#counts = options.counts;
    this.#diagnostic = options.diagnostic;
    this.#report = throttledDiagnostic(options.diagnostic, { prefix: "logs" });
  }

  /** Records it takes now without turning one away (BoundedIntake). */
  intakeRoom(): number {
    return this.#closed ? 0 : this.#buffer.capacity - this.#buffer.length - this.#encoded;
  }

  /** The request path: one push into the buffer, a timer armed when it starts or fills a batch. */
  emit(
    level: LogLevel,
    event: LogEvent,
    detail: { timeMs: number; trace: LogTraceContext | undefined },
  ): void {
    this.#counts.queued++;
    if (
      this.#closed || this.#buffer.length + this.#encoded >= this.#buffer.capacity ||
      !this.#buffer.push(level, event, detail.timeMs, detail.trace)
    ) {
      this.#counts.dropped++;
      return;
    }
    const held = this.#buffer.length + this.#encoded;
    if (held === 1 || held === this.#batchSize) this.#schedule();
    if (this.#buffer.length >= ENCODE_CHUNK) this.#armEncode();
  }

  /** Arms an encoding turn unless one is armed or the open batch is full (OTLP only). */
  #armEncode(): void {
    if (this.#encodeTimer !== undefined || !this.#otlp || this.#encoded >= this.#batchSize) return;
    const timer = setTimeout(this.#onEncodeTimer, 0);
    Deno.unrefTimer(timer); // held records never keep the process alive
    this.#encodeTimer = timer;
  }

  /** Moves the buffered records into the open batch (up to a batch), as bytes. */
  readonly #onEncodeTimer = (): void => {
    this.#encodeTimer = undefined;
    if (this.#closed || !this.#otlp) return;
    this.#take(this.#batchSize);
    this.#otlp.encoder.write();
  };

  /** Takes records out of the buffer until the open batch has `max`; returns how many. */
  #take(max: number): number {
    this.#unencodable = 0;
    const taken = this.#buffer.drain(Math.max(0, max - this.#encoded), this.#visit);
    if (this.#unencodable > 0) {
      this.#counts.failed += this.#unencodable;
      this.#diagnostic(`logs: ${this.#unencodable} records could not be encoded`);
    }
    return taken - this.#unencodable;
  }

  forceFlush(deadlineMs: number): Promise<void> {
    return beforeDeadline(this.#flushAll(), deadlineMs).then(() => {});
  }

  shutdown(deadlineMs: number): Promise<void> {
    this.#stopped ??= (async () => {
      // Past the deadline no new send starts: what is buffered is counted dropped below.
      if (Date.now() < deadlineMs) await beforeDeadline(this.#flushAll(), deadlineMs);
      this.#closed = true;
      this.#clearTimer();
      this.#otlp?.delivery.stop();
      const result = { ...this.#counts };
      const lost = result.queued -
        (result.sent + result.dropped + result.rejected + result.failed);
      if (lost > 0) {
        result.dropped += lost;
        this.#diagnostic(`logs: shutdown deadline passed, ${lost} queued records abandoned`);
      }
      this.#final = result;
      this.#buffer.drain(this.#buffer.length, () => {}); // release the events
    })();
    return this.#stopped;
  }

  stats(): SinkStats {
    return { ...(this.#final ?? this.#counts) };
  }

  /** Arms the timer: at once for a full batch, else after the delay; never with every slot out. */
  #schedule(): void {
    const held = this.#buffer.length + this.#encoded;
    if (this.#outCount >= this.#maxOut || this.#flushing || this.#closed || held === 0) return;
    const full = held >= this.#batchSize;
    if (this.#timer !== undefined) {
      if (!full || this.#timerImmediate) return;
      clearTimeout(this.#timer);
    }
    this.#timerImmediate = full;
    const timer = setTimeout(this.#onTimer, full ? 0 : this.#delayMs);
    Deno.unrefTimer(timer); // a pending batch never keeps the process alive
    this.#timer = timer;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    // Every free slot takes a batch: the one the timer was armed for, then each full one (a
    // backlog behind a slow collector never crosses the full mark emit() arms the timer at).
    do {
      if (this.#outCount >= this.#maxOut || this.#flushing || this.#closed) return;
      if (this.#buffer.length + this.#encoded === 0) return;
      this.#send();
    } while (this.#buffer.length + this.#encoded >= this.#batchSize);
  };

  /** Sends the next batch; it counts as out until it and every batch before it settled. */
  #send(): void {
    // #exportBatch encodes the batch before its first await: the open batch is free at once.
    const sent = this.#exportBatch(this.#batchSize);
    this.#outCount++;
    this.#lastOut = Promise.allSettled([this.#lastOut, sent]).then(() => {
      this.#outCount--;
      this.#schedule();
      if (this.#buffer.length >= ENCODE_CHUNK && !this.#closed) this.#armEncode();
    });
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#encodeTimer !== undefined) clearTimeout(this.#encodeTimer);
    this.#encodeTimer = undefined;
  }

  /** Delivers what is buffered now, batch by batch, after the batches already out. */
  #flushAll(): Promise<void> {
    if (this.#flushing) return this.#flushing.then(() => this.#flushAll());
    const flushing: Promise<void> = (async () => {
      this.#clearTimer();
      let remaining = this.#buffer.length + this.#encoded;
      await this.#lastOut;
      while (remaining > 0 && !this.#closed) {
        const take = Math.min(remaining, this.#batchSize);
        remaining -= take;
        await this.#exportBatch(take);
      }
    })().finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
      this.#schedule();
    });
    this.#flushing = flushing;
    return flushing;
  }

  /**
   * Sends the open batch, filled up to `max` records from the buffer, as one request (or
   * several past the body cap); prints when there is no OTLP destination.
   */
  async #exportBatch(max: number): Promise<void> {
    const taken = this.#take(max);
    if (!this.#otlp) {
      this.#counts.sent += taken;
      return;
    }
    if (this.#encoded === 0) return;
    this.#encoded = 0;
    const { encoder, delivery } = this.#otlp;
    const requests = encoder.finish();
    if (encoder.truncated > 0) {
      this.#counts.truncated = (this.#counts.truncated ?? 0) + encoder.truncated;
      this.#report(
        "truncated",
        `${encoder.truncated} records over ${MAX_RECORD_BYTES} bytes shortened to fit`,
      );
      encoder.truncated = 0;
    }
    // A batch over the body cap leaves as several requests, one at a time, in order.
    for (const request of requests) await delivery.deliver(request.body, request.records);
  }

  readonly #visit: RecordVisitor = (level, event, timeMs, trace) => {
    try {
      if (this.#otlp) {
        this.#otlp.encoder.add(level, event, timeMs, trace);
        this.#encoded++;
      }
    } catch {
      this.#unencodable++;
      return;
    }
    try {
      this.#console?.add(level, event, timeMs, trace);
    } catch {
      // Printing is best effort; the record is counted by the OTLP delivery when there is one.
    }
  };
}
