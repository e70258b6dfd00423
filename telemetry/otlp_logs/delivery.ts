/**
 * Sends encoded log batches over OTLP/HTTP with its own account. A retryable answer is retried
 * a few times with backoff (or after Retry-After, capped), sending the same bytes again; new
 * records meanwhile wait in the buffer, bounded by its capacity. The whole export, attempts and
 * waits, ends by OTEL_BLRP_EXPORT_TIMEOUT: each attempt gets what is left of it, and a wait
 * that would pass it is not started. Then the batch is dropped and counted: unlike metrics, a
 * lost batch of records is not recovered later.
 *
 * A receiver whose body limit is lower than ours answers 413 (the Collector past its
 * `max_request_body_size`): the batch is then sent again as two halves, each split again on a
 * 413 of its own, at most {@linkcode MAX_SPLIT_DEPTH} times (16 parts), within the batch's
 * deadline; what is still refused past that fails and is counted.
 */
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { type OtlpProtocol, rejectedCount } from "../otlp/encoding.ts";
import { exportOnce, type SignalSerializer } from "../otlp/json_export.ts";
import type { Diagnostic, SinkStats } from "../types.ts";
import type { EncodedRequest } from "./encode.ts";
import { sleep } from "../util/deadline.ts";

/** Attempts per batch at most, and the longest wait between two (Retry-After is capped to it). */
export const MAX_ATTEMPTS = 4;
/** Times a refused (413) batch is halved at most. */
export const MAX_SPLIT_DEPTH = 4;
const MAX_BACKOFF_MS = 4000;

/** The body is already encoded; only the collector's answer needs reading. */
function encoded(protocol: OtlpProtocol): SignalSerializer<Uint8Array> {
  return {
    serializeRequest: (body) => body,
    deserializeResponse: (data) => ({
      partialSuccess: { rejectedLogRecords: rejectedCount(protocol, data, "rejectedLogRecords") },
    }),
  };
}

/** Options of {@linkcode OtlpLogsDelivery}. */
export interface DeliveryOptions {
  transport: IExporterTransport;
  /** The pipeline's counters: this adds sent, retried, dropped, rejected, failed. */
  counts: SinkStats;
  /** Per attempt (OTEL_EXPORTER_OTLP_TIMEOUT). */
  timeoutMs: number;
  /** How the bodies are encoded, so how the answers are read. Default http/json. */
  protocol?: OtlpProtocol;
  /** Halves a body for a 413 (the encoder's `split`); without it a 413 fails the batch. */
  split?: (body: Uint8Array) => [EncodedRequest, EncodedRequest] | undefined;
  /** Per batch, every attempt and wait included (OTEL_BLRP_EXPORT_TIMEOUT). */
  exportTimeoutMs: number;
  diagnostic: Diagnostic;
}

/** See the module comment. */
export class OtlpLogsDelivery {
  readonly #options: DeliveryOptions;
  readonly #closed = new AbortController();
  readonly #serializer: SignalSerializer<Uint8Array>;
  #failing = false;
  #splitReported = false;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#serializer = encoded(options.protocol ?? "http/json");
  }

  /** True once {@linkcode stop} ran: nothing new is sent, and late answers no longer count. */
  get stopped(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Sends one batch of `records` records; settles when it is counted. Never rejects. */
  deliver(body: Uint8Array, records: number): Promise<void> {
    return this.#deliver(body, records, Date.now() + this.#options.exportTimeoutMs, 0);
  }

  async #deliver(body: Uint8Array, records: number, deadline: number, depth: number) {
    const { counts, diagnostic } = this.#options;
    for (let attempt = 1; !this.stopped; attempt++) {
      const outcome = await exportOnce(this.#options.transport, this.#serializer, body, {
        timeoutMs: Math.max(1, Math.min(this.#options.timeoutMs, deadline - Date.now())),
        rejectedField: "rejectedLogRecords",
      });
      if (this.stopped) return; // counted at shutdown
      if (outcome.kind === "sent") {
        const rejected = Math.min(outcome.rejected, records);
        counts.rejected += rejected;
        counts.sent += records - rejected;
        if (this.#failing) diagnostic("logs: OTLP export recovered");
        this.#failing = false;
        return;
      }
      const wait = outcome.kind === "retry"
        ? Math.min(outcome.afterMs ?? 250 * 2 ** attempt, MAX_BACKOFF_MS)
        : 0;
      const inTime = Date.now() + wait < deadline;
      if (outcome.kind === "retry" && attempt < MAX_ATTEMPTS && inTime) {
        counts.retried++;
        await sleep(wait, this.#closed.signal);
        continue;
      }
      if (outcome.kind === "fail" && outcome.status === 413 && depth < MAX_SPLIT_DEPTH) {
        const halves = this.#options.split?.(body);
        if (halves) {
          if (!this.#splitReported) {
            this.#splitReported = true;
            diagnostic(
              `logs: the receiver refused ${body.byteLength} bytes as too large (413), sending halves`,
            );
          }
          for (const half of halves) {
            await this.#deliver(half.body, half.records, deadline, depth + 1);
          }
          return;
        }
      }
      if (outcome.kind === "retry") counts.dropped += records;
      else counts.failed += records;
      const reason = outcome.kind === "retry" && !inTime
        ? `OTEL_BLRP_EXPORT_TIMEOUT (${this.#options.exportTimeoutMs} ms) passed: ${outcome.reason}`
        : outcome.reason;
      if (!this.#failing) diagnostic(`logs: ${records} records lost: ${reason}`);
      this.#failing = true;
      return;
    }
  }

  /** Ends every call and sleep still out; their batches are counted by the caller. */
  stop(): void {
    this.#closed.abort();
    this.#options.transport.shutdown();
  }
}
