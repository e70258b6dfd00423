/**
 * Contracts shared by the telemetry sinks. Each sink is asynchronous, bounded and counted,
 * like OpenTelemetry's SpanExporter: the request path only enqueues, never awaits a sink.
 */

/** Counters every sink keeps; generated = sent + dropped + rejected + failed (+ still queued). */
export interface SinkStats {
  /** Items accepted into the sink's queue since start. */
  queued: number;
  /** Items the remote service acknowledged. */
  sent: number;
  /** Send attempts that were repeated after a retryable failure. */
  retried: number;
  /** Items discarded locally: queue full, oversized, shutdown deadline passed, retries exhausted. */
  dropped: number;
  /** Items the remote service refused individually (too old, invalid, partial success). */
  rejected: number;
  /** Items lost to a non-retryable failure of a whole request (400, 401, 403, 413). */
  failed: number;
}

/** A destination for telemetry that can be flushed and shut down within a deadline. */
export interface Sink {
  /** Short name used in the startup line, the health check and the shutdown summary. */
  readonly name: string;
  /** Delivers what is queued; resolves by `deadlineMs` (epoch ms) at the latest, never rejects. */
  forceFlush(deadlineMs: number): Promise<void>;
  /** Flushes, then releases sockets and timers; later calls are harmless. Never rejects. */
  shutdown(deadlineMs: number): Promise<void>;
  /** A snapshot of the counters. */
  stats(): SinkStats;
}

/** Creates a zeroed counter set. */
export function emptyStats(): SinkStats {
  return { queued: 0, sent: 0, retried: 0, dropped: 0, rejected: 0, failed: 0 };
}

/** One line for the CloudWatch sink: the structured JSON the logger already produced. */
export interface LogLine {
  /** Event time, epoch milliseconds. */
  timestamp: number;
  /** The serialised event: one JSON object, control characters escaped, length-capped. */
  message: string;
}

/** The diagnostic channel sinks use for their own failures: console only, never themselves. */
export type Diagnostic = (message: string) => void;
