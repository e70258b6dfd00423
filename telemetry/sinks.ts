/**
 * Every sink, in the order they are installed, flushed and listed. A new sink is one folder
 * under telemetry/ exporting a {@linkcode SinkPlugin}, one config section, and one line here.
 */
import { cloudwatchSink } from "./cloudwatch/mod.ts";
import { metricsSink } from "./metrics/mod.ts";
import { otlpSink } from "./otlp/mod.ts";
import { otlpLogsSink } from "./otlp_logs/mod.ts";
import { rollbarSink } from "./rollbar/mod.ts";
import type { SpanContext } from "@opentelemetry/api";
import type { LogRecordSink, LogTraceContext } from "./logger.ts";
import type { RequestRecorder } from "./metrics/http_server.ts";
import type {
  ErrorDestination,
  InstallContext,
  LogDestination,
  RequestHook,
  Sink,
  SinkContribution,
  SinkPlugin,
  SinkStats,
} from "./types.ts";
import { xraySink } from "./xray/mod.ts";

/**
 * The installed sinks: X-Ray first (its line comes first in the banner), then traces, log
 * records, logs, errors, and metrics last (they report every other sink's counters).
 */
export const SINKS: readonly SinkPlugin<unknown>[] = [
  xraySink,
  otlpSink,
  otlpLogsSink,
  cloudwatchSink,
  rollbarSink,
  metricsSink,
] as readonly SinkPlugin<unknown>[];

/** The installed sinks, seen through the contract: what createTelemetry wires and loops over. */
export class SinkSet {
  readonly #contributions: readonly SinkContribution[];
  readonly #sinks: readonly Sink[];
  readonly #logDestinations: readonly LogDestination[];
  /** Cleared when shutdown begins: later lines (the summary) reach the console only. */
  #logsAttached = true;
  /** The first request hook (X-Ray's segment opener), if any sink has one. */
  readonly requestHook: RequestHook | undefined;
  readonly errorDestinations: readonly ErrorDestination[];

  constructor(contributions: readonly SinkContribution[]) {
    this.#contributions = contributions;
    this.#sinks = contributions.flatMap((c) => (c.sink ? [c.sink] : []));
    this.#logDestinations = contributions.flatMap((c) =>
      c.logDestination ? [c.logDestination] : []
    );
    this.errorDestinations = contributions.flatMap((c) =>
      c.errorDestination ? [c.errorDestination] : []
    );
    this.requestHook = contributions.find((c) => c.requestHook)?.requestHook;
  }

  /** Installs every sink of {@linkcode SINKS} with its tuning from `overrides`. */
  static async install(
    context: Omit<InstallContext, "tuning">,
    tuning: Readonly<Record<string, object | undefined>>,
  ): Promise<SinkSet> {
    const contributions: SinkContribution[] = [];
    for (const plugin of SINKS) {
      contributions.push(await plugin.install({ ...context, tuning: tuning[plugin.name] }));
    }
    return new SinkSet(contributions);
  }

  get contributions(): readonly SinkContribution[] {
    return this.#contributions;
  }

  /** One banner line per sink. */
  startupLines(): string[] {
    return this.#contributions.map((c) => c.startup);
  }

  /** The logger's remote destination: every sink's, detached at shutdown; none without sinks. */
  logDestination(): LogDestination | undefined {
    if (this.#logDestinations.length === 0) return undefined;
    return {
      push: (line) => {
        if (!this.#logsAttached) return;
        for (const destination of this.#logDestinations) destination.push(line);
      },
    };
  }

  /** The ids a log line carries for a span: the X-Ray form too, when a sink has one. */
  logTrace({ traceId, spanId, traceFlags }: SpanContext): LogTraceContext {
    for (const c of this.#contributions) {
      const xrayTraceId = c.logIds?.(traceId)?.xrayTraceId;
      if (xrayTraceId) return { traceId, spanId, traceFlags, xrayTraceId };
    }
    return { traceId, spanId, traceFlags };
  }

  /** What the middleware records each request into: every sink's recorder (metrics, EMF). */
  requestRecorder(): RequestRecorder | undefined {
    const recorders = this.#contributions.flatMap((c) => c.requestRecorder ?? []);
    if (recorders.length <= 1) return recorders[0];
    return {
      begin(method, scheme) {
        for (const r of recorders) r.begin(method, scheme);
      },
      end(sample) {
        for (const r of recorders) r.end(sample);
      },
    };
  }

  /** Where the logger's structured events go (OTLP log records), if a sink takes them. */
  logRecords(): LogRecordSink | undefined {
    const sinks = this.#contributions.flatMap((c) => c.logRecords ?? []);
    if (sinks.length <= 1) return sinks[0];
    return {
      emit(level, event, detail) {
        for (const s of sinks) s.emit(level, event, detail);
      },
    };
  }

  stats(): Record<string, SinkStats> {
    const result: Record<string, SinkStats> = {};
    for (const sink of this.#sinks) result[sink.name] = sink.stats();
    return result;
  }

  details(): Record<string, Record<string, number>> {
    const result: Record<string, Record<string, number>> = {};
    for (const c of this.#contributions) if (c.sink && c.details) result[c.sink.name] = c.details();
    return result;
  }

  async forceFlush(deadlineMs: number): Promise<void> {
    await Promise.all(this.#sinks.map((sink) => sink.forceFlush(deadlineMs)));
  }

  /** Detaches the log destinations, then shuts every sink down within the deadline. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.#logsAttached = false;
    await Promise.all(this.#sinks.map((sink) => sink.shutdown(deadlineMs)));
  }
}
