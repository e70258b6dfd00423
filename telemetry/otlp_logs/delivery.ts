/**
 * Sends encoded log batches over OTLP/HTTP with its own account. A retryable answer is retried
 * a few times with backoff (or after Retry-After, capped), sending the same bytes again; new
 * records meanwhile wait in the buffer, bounded by its capacity. The whole export, attempts and
 * waits, ends by OTEL_BLRP_EXPORT_TIMEOUT: each attempt gets what is left of it, and a wait
 * that would pass it is not started. Then the batch is dropped and counted: unlike metrics, a
 * lost batch of records is not recovered later.
 */
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { type OtlpProtocol, rejectedCount } from "../otlp/encoding.ts";
import { exportOnce, type SignalSerializer } from "../otlp/json_export.ts";
import type { Diagnostic, SinkStats } from "../types.ts";
import { sleep } from "../util/deadline.ts";

/** Attempts per batch at most, and the longest wait between two (Retry-After is capped to it). */
export const MAX_ATTEMPTS = 4;
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

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#serializer = encoded(options.protocol ?? "http/json");
  }

  /** True once {@linkcode stop} ran: nothing new is sent, and late answers no longer count. */
  get stopped(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Sends one batch of `records` records; settles when it is counted. Never rejects. */
  async deliver(body: Uint8Array, records: number): Promise<void> {
    const { counts, diagnostic } = this.#options;
    const deadline = Date.now() + this.#options.exportTimeoutMs;
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
