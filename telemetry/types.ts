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
  /**
   * Items shortened to fit a size limit and sent anyway (also counted in the above); present
   * once a sink has shortened one.
   */
  truncated?: number;
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

/**
 * A destination that can say how many more items it takes now without turning one away (its
 * free places), the next one being `next`: a queue bounded in bytes answers for that item's
 * size. A late sink's stand-in hands its backlog over no faster (telemetry/pending.ts).
 */
export interface BoundedIntake<Item = unknown> {
  intakeRoom(next: Item): number;
}

/** The free places of `target` for `next` and after, or no limit when it does not say. */
export function intakeRoom(target: unknown, next: unknown): number {
  const room = (target as Partial<BoundedIntake> | undefined)?.intakeRoom;
  return typeof room === "function" ? room.call(target, next) : Infinity;
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

/** What the error path knows about a failure; every destination scrubs it before it leaves. */
export interface ErrorContext {
  /** The request; `url` is raw, destinations redact its query values. */
  request?: {
    method: string;
    url: string;
    route?: string;
    headers: Headers;
    clientAddress?: string;
  };
  /** The signed-in user, when known. */
  person?: { id: string; username?: string };
  /** Trace correlation, so the error links to the trace. */
  traceId?: string;
  spanId?: string;
  xrayTraceId?: string;
  /** Extra data; secret-looking keys and echoed secrets are scrubbed. */
  custom?: Record<string, unknown>;
}

/** Levels an error destination accepts for messages. */
export type MessageLevel = "debug" | "info" | "warning" | "error" | "critical";

/** Where unhandled errors and reported messages go (Rollbar today). Never throws, never waits. */
export interface ErrorDestination {
  reportError(error: unknown, context: ErrorContext): void;
  reportMessage(message: string, level: MessageLevel, context?: ErrorContext): void;
}

/** Where the logger's JSON lines go besides the console (CloudWatch today). Never blocks. */
export interface LogDestination {
  push(line: LogLine): void;
}

/** What the request middleware calls when it starts a SERVER span (the X-Ray segment today). */
export interface RequestHook {
  /** Returns the value of the response's X-Amzn-Trace-Id header ("" for none). Never throws. */
  begin(
    span: import("@opentelemetry/api").Span,
    request: {
      method: string;
      host: string | undefined;
      path: string;
      amznTraceId: string | null;
      /** The caller's span id when the trace was continued over W3C `traceparent`. */
      parentId?: string | undefined;
    },
  ): string;
  /** The sink's trace header for an outgoing call made under a started CLIENT span. */
  outgoingHeader?(span: import("@opentelemetry/api").Span): string | undefined;
}

/**
 * What one installed sink contributes. `createTelemetry` knows this contract, not the sinks:
 * it wires span processors into the tracer provider, log and error destinations into the
 * logger and the error path, and loops over every sink for stats, flush and shutdown.
 */
export interface SinkContribution {
  /** The sink's line in the startup banner: where its data goes, or why it is off. */
  readonly startup: string;
  /** Lifecycle and counters; absent when the sink is off. */
  readonly sink?: Sink;
  /** Processors for the SDK tracer provider (span sinks). */
  readonly spanProcessors?: readonly import("@opentelemetry/sdk-trace-base").SpanProcessor[];
  /** The sink samples by its own rule, so it needs spans the trace sampler drops, recorded. */
  readonly recordsUnsampled?: boolean;
  readonly logDestination?: LogDestination;
  readonly errorDestination?: ErrorDestination;
  readonly requestHook?: RequestHook;
  /** Extra ids a log line carries for a trace (the X-Ray form), when the sink has its own. */
  logIds?(traceId: string): { xrayTraceId?: string } | undefined;
  /** Counters beyond {@linkcode SinkStats}, for the health check's detail. */
  details?(): Record<string, number>;
  /** Fed every logger event as a structured record (OTLP logs). */
  readonly logRecords?: import("./logger.ts").LogRecordSink;
  /** Fed every request's start and outcome (HTTP server metrics, EMF). */
  readonly requestRecorder?: import("./metrics/http_server.ts").RequestRecorder;
}

/** What a sink is given to install itself. */
export interface InstallContext<Tuning = unknown> {
  readonly config: import("../config.ts").Config;
  /** The sinks' own failures go here (stderr in production), never into a sink. */
  readonly diagnostic: Diagnostic;
  /** Resource attributes (service.name, host.name, ...). */
  readonly resource: Readonly<Record<string, string>>;
  /** Test tuning for this sink (short intervals, injected clients); production passes none. */
  readonly tuning: Partial<Tuning> | undefined;
  /** Every installed sink's counters, read at call time (the metrics sink exports them). */
  readonly stats: () => Record<string, SinkStats>;
}

/**
 * The parts of a contribution that can arrive after the server started serving: until the sink
 * is installed, each is a bounded, counted buffer of the calls it receives (telemetry/pending.ts).
 * A request hook, log ids and `recordsUnsampled` cannot wait: the request path or the tracer
 * provider reads them from the first request on.
 */
export type DeferrableSlot =
  | "spanProcessors"
  | "logDestination"
  | "errorDestination"
  | "logRecords"
  | "requestRecorder";

/** A sink: one folder under telemetry/, listed once in telemetry/sinks.ts. */
export interface SinkPlugin<Tuning = unknown> {
  /** The key of its counters in stats() and of its tuning in TelemetryOverrides. */
  readonly name: string;
  /** Reads its config section; loads heavy SDKs only when it is configured. */
  install(context: InstallContext<Tuning>): Promise<SinkContribution>;
  /**
   * For a sink whose client is slow to load (an SDK): the slots its contribution fills under
   * this config, decided from the config alone (nothing loaded), so the server can listen
   * while the sink installs. The install may fill fewer of them, never others. Undefined (or
   * no method): the sink is installed before the server listens.
   */
  deferrable?(config: import("../config.ts").Config): readonly DeferrableSlot[] | undefined;
}
