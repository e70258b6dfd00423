/**
 * Every sink, in the order they are installed, flushed and listed. A new sink is one folder
 * under telemetry/ exporting a {@linkcode SinkPlugin}, one config section, and one line here.
 *
 * A sink whose client is slow to load says so (`deferrable`): the set wires stand-ins in its
 * place (telemetry/pending.ts) and installs it in {@linkcode SinkSet.installDeferred}, which
 * main.ts calls once the server listens, so the first requests do not wait for an SDK to load.
 */
import { cloudwatchSink } from "./cloudwatch/mod.ts";
import { metricsSink } from "./metrics/mod.ts";
import { otlpLogsSink } from "./otlp_logs/mod.ts";
import { rollbarSink } from "./rollbar/mod.ts";
import type { SpanContext } from "@opentelemetry/api";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LogRecordSink, LogTraceContext } from "./logger.ts";
import type { RequestRecorder } from "./metrics/http_server.ts";
import type { OtlpRetryOptions } from "./otlp/retry.ts";
import { PendingSink } from "./pending.ts";
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
import { beforeDeadline } from "./util/deadline.ts";
import { descriptorsFree } from "./util/descriptors.ts";
import { xraySink } from "./xray/mod.ts";

/**
 * The traces sink, loaded when it is installed: telemetry/otlp/mod.ts brings the OTLP
 * transformer (its retry layer's serialiser). In SDK mode it contributes span processors;
 * otherwise only its banner line. With no exporter set (config.ts requires an endpoint for
 * `otlp`) it has none, so nothing holds spans for it: a stand-in would count every span of
 * the first requests as dropped, a loss of telemetry that was never going anywhere.
 */
const tracesSink: SinkPlugin<OtlpRetryOptions> = {
  name: "traces",
  deferrable: (config) =>
    config.otel.mode === "sdk" && config.otel.exporters.length > 0 ? ["spanProcessors"] : [],
  async install(context) {
    const { otlpSink } = await import("./otlp/mod.ts");
    return otlpSink.install(context);
  },
};

/**
 * The installed sinks: X-Ray first (its line comes first in the banner), then traces, log
 * records, logs, errors, and metrics last (they report every other sink's counters).
 */
export const SINKS: readonly SinkPlugin<unknown>[] = [
  xraySink,
  tracesSink,
  otlpLogsSink,
  cloudwatchSink,
  rollbarSink,
  metricsSink,
] as readonly SinkPlugin<unknown>[];

/** A deferred sink whose install attempt failed (it keeps holding for the next one). */
export interface InstallFailure {
  readonly sink: string;
  readonly error: unknown;
}

/** Descriptors that must be free before a late install loads its modules. */
const DESCRIPTOR_HEADROOM = 16;

/** One sink of the set: installed before serving, or installed late behind stand-ins. */
type Entry =
  | { readonly plugin: SinkPlugin<unknown>; readonly installed: SinkContribution }
  | { readonly plugin: SinkPlugin<unknown>; readonly pending: PendingSink };

/** What every part of the set reads: the contribution, or the stand-in's view of it. */
function partsOf(entry: Entry): SinkContribution {
  if ("installed" in entry) return entry.installed;
  const p = entry.pending;
  return {
    startup: "",
    ...(p.spanProcessor ? { spanProcessors: [p.spanProcessor] } : {}),
    ...(p.logDestination ? { logDestination: p.logDestination } : {}),
    ...(p.errorDestination ? { errorDestination: p.errorDestination } : {}),
    ...(p.logRecords ? { logRecords: p.logRecords } : {}),
    ...(p.requestRecorder ? { requestRecorder: p.requestRecorder } : {}),
  };
}

/** The installed sinks, seen through the contract: what createTelemetry wires and loops over. */
export class SinkSet {
  readonly #entries: readonly Entry[];
  readonly #context: Omit<InstallContext, "tuning">;
  readonly #tuning: Readonly<Record<string, object | undefined>>;
  readonly #parts: readonly SinkContribution[];
  readonly #logDestinations: readonly LogDestination[];
  /** Cleared when shutdown begins: later lines (the summary) reach the console only. */
  #logsAttached = true;
  #round: Promise<InstallFailure[]> | undefined;
  /** The first request hook (X-Ray's segment opener), if any sink has one. */
  readonly requestHook: RequestHook | undefined;
  readonly errorDestinations: readonly ErrorDestination[];
  /** Every sink's span processors, in order (a late sink's stand-in in its place). */
  readonly spanProcessors: readonly SpanProcessor[];
  /** A sink samples by its own rule: spans the trace sampler drops must be recorded. */
  readonly recordsUnsampled: boolean;

  private constructor(
    entries: readonly Entry[],
    context: Omit<InstallContext, "tuning">,
    tuning: Readonly<Record<string, object | undefined>>,
  ) {
    this.#entries = entries;
    this.#context = context;
    this.#tuning = tuning;
    this.#parts = entries.map(partsOf);
    this.#logDestinations = this.#parts.flatMap((c) => c.logDestination ?? []);
    this.errorDestinations = this.#parts.flatMap((c) => c.errorDestination ?? []);
    this.requestHook = this.#parts.find((c) => c.requestHook)?.requestHook;
    this.spanProcessors = this.#parts.flatMap((c) => c.spanProcessors ?? []);
    this.recordsUnsampled = this.#parts.some((c) => c.recordsUnsampled === true);
  }

  /**
   * Installs every sink of `plugins` ({@linkcode SINKS}; tests pass fakes) that cannot wait,
   * with its tuning from `overrides`; the deferrable ones get stand-ins until
   * {@linkcode installDeferred}.
   */
  static async start(
    context: Omit<InstallContext, "tuning">,
    tuning: Readonly<Record<string, object | undefined>>,
    plugins: readonly SinkPlugin<unknown>[] = SINKS,
  ): Promise<SinkSet> {
    const entries: Entry[] = [];
    for (const plugin of plugins) {
      const slots = plugin.deferrable?.(context.config);
      if (slots) {
        entries.push({ plugin, pending: new PendingSink(plugin.name, slots) });
      } else {
        entries.push({
          plugin,
          installed: await plugin.install({ ...context, tuning: tuning[plugin.name] }),
        });
      }
    }
    return new SinkSet(entries, context, tuning);
  }

  /**
   * One round of installs of the deferred sinks still waiting, one after the other (a request
   * can be served between two), each handed what its stand-ins held. A call during a round
   * returns that round. Resolves with the sinks that failed this time, and why (they keep
   * holding, bounded, for the next round); never rejects.
   */
  installDeferred(): Promise<InstallFailure[]> {
    this.#round ??= (async () => {
      const failures: InstallFailure[] = [];
      for (const entry of this.#entries) {
        if (!("pending" in entry) || entry.pending.state !== "waiting") continue;
        const { plugin, pending } = entry;
        try {
          await pending.install(() => {
            // A module load with no descriptor left can crash Deno (util/descriptors.ts).
            if (!descriptorsFree(DESCRIPTOR_HEADROOM)) {
              throw new Error("no file descriptors free (the process is at its open-file limit)");
            }
            return plugin.install({ ...this.#context, tuning: this.#tuning[plugin.name] });
          });
        } catch (error) {
          failures.push({ sink: plugin.name, error });
        }
      }
      return failures;
    })().finally(() => this.#round = undefined);
    return this.#round;
  }

  /** The banner line of one sink, by its name (a late sink's once it is up). */
  startupLine(name: string): string | undefined {
    const entry = this.#entries.find((e) => e.plugin.name === name);
    if (!entry) return undefined;
    return "installed" in entry ? entry.installed.startup : entry.pending.startup();
  }

  /** One banner line per sink. */
  startupLines(): string[] {
    return this.#entries.map((e) => "installed" in e ? e.installed.startup : e.pending.startup());
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
    for (const c of this.#parts) {
      const xrayTraceId = c.logIds?.(traceId)?.xrayTraceId;
      if (xrayTraceId) return { traceId, spanId, traceFlags, xrayTraceId };
    }
    return { traceId, spanId, traceFlags };
  }

  /** What the middleware records each request into: every sink's recorder (metrics, EMF). */
  requestRecorder(): RequestRecorder | undefined {
    const recorders = this.#parts.flatMap((c) => c.requestRecorder ?? []);
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
    const sinks = this.#parts.flatMap((c) => c.logRecords ?? []);
    if (sinks.length <= 1) return sinks[0];
    return {
      emit(level, event, detail) {
        for (const s of sinks) s.emit(level, event, detail);
      },
    };
  }

  stats(): Record<string, SinkStats> {
    const result: Record<string, SinkStats> = {};
    for (const entry of this.#entries) {
      if ("installed" in entry) {
        const sink = entry.installed.sink;
        if (sink) result[sink.name] = sink.stats();
        continue;
      }
      const stats = entry.pending.stats();
      if (stats) result[entry.pending.installed?.sink?.name ?? entry.pending.name] = stats;
    }
    return result;
  }

  details(): Record<string, Record<string, number>> {
    const result: Record<string, Record<string, number>> = {};
    for (const entry of this.#entries) {
      const c = "installed" in entry ? entry.installed : entry.pending.installed;
      const details = "installed" in entry ? c?.details?.() : entry.pending.details();
      if (c?.sink && details) result[c.sink.name] = details;
    }
    return result;
  }

  /** Flushes every sink; a late one once it is up, if that happens before the deadline. */
  async forceFlush(deadlineMs: number): Promise<void> {
    await Promise.all(this.#entries.map(async (entry) => {
      const sink = await this.#sinkBy(entry, deadlineMs);
      if ("pending" in entry) await entry.pending.flushBacklog(sink, deadlineMs);
      await sink?.forceFlush(deadlineMs);
    }));
  }

  /**
   * Detaches the log destinations, then shuts every sink down within the deadline. A late
   * sink still installing is waited for until then; past it, what it holds is counted lost.
   */
  async shutdown(deadlineMs: number): Promise<void> {
    this.#logsAttached = false;
    await Promise.all(this.#entries.map(async (entry) => {
      const sink = await this.#sinkBy(entry, deadlineMs);
      if ("pending" in entry) {
        await entry.pending.flushBacklog(sink, deadlineMs);
        entry.pending.abandon();
      }
      await sink?.shutdown(deadlineMs);
    }));
  }

  /**
   * The entry's sink; a late one still waiting gets one more install round (flushing before
   * the server listened, or after a failed attempt), waited for until the deadline.
   */
  async #sinkBy(entry: Entry, deadlineMs: number): Promise<Sink | undefined> {
    if ("installed" in entry) return entry.installed.sink;
    if (entry.pending.state === "waiting") {
      await beforeDeadline(this.installDeferred(), deadlineMs);
    }
    return entry.pending.installed?.sink;
  }
}
