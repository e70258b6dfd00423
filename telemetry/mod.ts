/**
 * `createTelemetry(config)`: builds the tracer, logger and sinks from the typed config and
 * returns the one object the app receives. Nothing here is a module singleton, so tests build
 * their own telemetry with stand-ins and a synchronous span exporter.
 */
import { hostname } from "node:os";
import {
  type Span,
  type SpanContext,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import type { CloudWatchSinkOptions } from "./cloudwatch/sink.ts";
import { preciseTracer } from "./clock.ts";
import { activeSecrets, type ContextStore, createContextStore } from "./context.ts";
import { createTracedFetch } from "./fetch.ts";
import {
  clientAddress,
  createHttpMiddleware,
  HTTP_ROUTE_VAR,
  type RequestTelemetry,
  requestTelemetry,
} from "./http.ts";
import { type ConsoleWriter, createConsoleWriter } from "./console_writer.ts";
import { createLogger, type Logger, type LogTraceContext } from "./logger.ts";
import type { OtlpRetryOptions } from "./otlp/retry.ts";
import type { RollbarOptions } from "./rollbar/reporter.ts";
import { createTraceIds, type TraceIds } from "./ids.ts";
import { nativeTracer } from "./native.ts";
import { scrubText } from "./scrub.ts";
import { SINKS } from "./sinks.ts";
import { createTraced, recordError } from "./traced.ts";
import { createTracerProvider } from "./tracing.ts";
import type {
  Diagnostic,
  ErrorContext,
  LogLine,
  Sink,
  SinkContribution,
  SinkStats,
} from "./types.ts";
import { beforeDeadline } from "./util/deadline.ts";
import { stderrDiagnostic } from "./util/throttle.ts";
import type { XRayOptions } from "./xray/mod.ts";

export type { Logger } from "./logger.ts";
export type { Sink, SinkStats } from "./types.ts";

/** Test and embedding hooks; production passes none. */
export interface TelemetryOverrides {
  /** Extra span exporter, attached through a SimpleSpanProcessor (tests: in-memory). */
  spanExporter?: SpanExporter;
  /** Console line writer (tests capture it); default: buffered stdout. */
  writeLine?: (line: string) => void;
  /** Diagnostics channel for the sinks' own failures; default: stderr. */
  diagnostic?: Diagnostic;
  /** Sink tuning for tests (short intervals), by sink name. */
  cloudwatch?: Partial<CloudWatchSinkOptions>;
  xray?: Partial<XRayOptions>;
  rollbar?: Partial<RollbarOptions>;
  traces?: Partial<OtlpRetryOptions>;
}

/** Runs `fn` inside a child span; see telemetry/traced.ts. */
export type Traced = ReturnType<typeof createTraced>;

/** The object the app receives. */
export interface Telemetry {
  readonly mode: Config["otel"]["mode"];
  readonly tracer: Tracer;
  readonly tracerProvider: TracerProvider;
  readonly logger: Logger;
  readonly traced: Traced;
  /**
   * The request middleware; install first. `routeOf` gives the route template a method would
   * match at a path, so CORS preflights are named by the route they ask about.
   */
  middleware(
    options?: { routeOf?: (method: string, path: string) => string | undefined },
  ): MiddlewareHandler;
  /** Records an unhandled request error on the span and reports it to Rollbar, once. */
  reportError(error: unknown, c?: Context, person?: { id: string; username?: string }): void;
  /** Reports a message to Rollbar (the seed's /rollbar/test). */
  reportMessage(message: string, level: "info" | "warning" | "error", c?: Context): void;
  /** Marks a value of the current request as secret: scrubbed from everything that leaves. */
  markSecret(value: string): void;
  /** `fetch` with a CLIENT span and trace-context injection (SDK mode). */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  /** One line per sink saying where its data goes, for the startup banner. */
  describe(): string[];
  stats(): Record<string, SinkStats>;
  details(): Record<string, Record<string, number>>;
  forceFlush(deadlineMs: number): Promise<void>;
  shutdown(deadlineMs: number): Promise<void>;
}

function resourceAttributes(config: Config): Record<string, string> {
  return {
    ...config.otel.resourceAttributes,
    "service.name": config.serviceName,
    "service.version": config.serviceVersion,
    "deployment.environment.name": config.environment,
    "host.name": hostname(),
    "process.runtime.name": "deno",
    "process.runtime.version": Deno.version.deno,
  };
}

/** The provider for the configured mode: the SDK one fed by every sink's span processors. */
function createProvider(
  config: Config,
  resource: Record<string, string>,
  installed: readonly SinkContribution[],
  testExporter: SpanExporter | undefined,
  ids: TraceIds,
): TracerProvider {
  if (config.otel.mode === "native") return trace.getTracerProvider();
  if (config.otel.mode !== "sdk") {
    return new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
  }
  const processors: SpanProcessor[] = [];
  if (testExporter) processors.push(new SimpleSpanProcessor(testExporter));
  for (const c of installed) processors.push(...(c.spanProcessors ?? []));
  return createTracerProvider({
    config: config.otel,
    resource,
    ids,
    processors,
    recordUnsampled: installed.some((c) => c.recordsUnsampled === true),
  });
}

/** Builds the telemetry object from the config. */
export async function createTelemetry(
  config: Config,
  overrides: TelemetryOverrides = {},
): Promise<Telemetry> {
  const diagnostic = overrides.diagnostic ?? stderrDiagnostic();
  const mode = config.otel.mode;
  const store: ContextStore = createContextStore(mode);
  const resource = resourceAttributes(config);
  const installed: SinkContribution[] = [];
  for (const plugin of SINKS) {
    const tuning = (overrides as Record<string, object | undefined>)[plugin.name];
    installed.push(await plugin.install({ config, diagnostic, resource, tuning }));
  }
  const lines = installed.map((c) => c.startup);
  const sinks: Sink[] = installed.flatMap((c) => (c.sink ? [c.sink] : []));
  const requestHook = installed.find((c) => c.requestHook)?.requestHook;
  // X-Ray needs ids that start with the epoch seconds; without it, ids are random and say so.
  const ids = createTraceIds(requestHook ? "xray" : "random");
  const tracerProvider = createProvider(config, resource, installed, overrides.spanExporter, ids);
  const sdkTracer = tracerProvider.getTracer("cruddur-backend", config.serviceVersion);
  // Our spans take their times from one microsecond clock (see telemetry/clock.ts).
  const tracer = mode === "sdk"
    ? preciseTracer(sdkTracer)
    : mode === "native"
    ? nativeTracer(sdkTracer)
    : sdkTracer;
  const logIdSources = installed.flatMap((c) => (c.logIds ? [c.logIds.bind(c)] : []));
  const logDestinations = installed.flatMap((c) => (c.logDestination ? [c.logDestination] : []));
  const errorDestinations = installed.flatMap((c) =>
    c.errorDestination ? [c.errorDestination] : []
  );
  // Detached when shutdown begins: a line logged after that (the summary) reaches the console
  // only, so no sink counts or warns about a line it can no longer send.
  let logsAttached = true;
  const logFanOut = logDestinations.length === 0 ? undefined : {
    push(line: LogLine): void {
      if (!logsAttached) return;
      for (const destination of logDestinations) destination.push(line);
    },
  };

  let writer: ConsoleWriter | undefined;
  let writeLine = overrides.writeLine;
  if (!writeLine) {
    // Asynchronous and bounded: a stdout nobody reads must not stop the event loop.
    writer = createConsoleWriter(Deno.stdout);
    writeLine = writer.write;
  }
  const logTrace = ({ traceId, spanId }: SpanContext): LogTraceContext => {
    for (const ids of logIdSources) {
      const extra = ids(traceId);
      if (extra?.xrayTraceId) return { traceId, spanId, xrayTraceId: extra.xrayTraceId };
    }
    return { traceId, spanId };
  };
  const logger = createLogger({
    service: config.serviceName,
    level: config.logLevel,
    format: config.logFormat,
    write: writeLine,
    ...(writer ? { flush: writer.flush } : {}),
    ...(logFanOut ? { sink: logFanOut } : {}),
    secrets: () => activeSecrets(store),
    traceContext() {
      const span = trace.getSpan(store.active());
      return span ? logTrace(span.spanContext()) : undefined;
    },
  });

  const randomRoots = mode === "sdk" && ids.style === "random";
  const traced = createTraced(tracer, store, randomRoots);
  const tracedFetch = createTracedFetch({
    tracer,
    store,
    randomRoots,
    ...(requestHook?.outgoingHeader
      ? { xrayHeader: requestHook.outgoingHeader.bind(requestHook) }
      : {}),
  });
  const reported = new WeakSet<object>();
  let stopping: Promise<void> | undefined;

  /** What Rollbar and the error log need to know about the failing request, if any. */
  function errorContext(c: Context | undefined): {
    state: RequestTelemetry | undefined;
    span: Span | undefined;
    context: ErrorContext;
  } {
    const state = c ? requestTelemetry(c) : undefined;
    const span = state?.span ?? trace.getSpan(store.active());
    const ids = span ? logTrace(span.spanContext()) : undefined;
    const request = c
      ? {
        method: c.req.method,
        url: c.req.url,
        route: c.get(HTTP_ROUTE_VAR) ?? c.req.routePath,
        headers: c.req.raw.headers,
        clientAddress: clientAddress(c),
      }
      : undefined;
    return {
      state,
      span,
      context: {
        ...(request ? { request } : {}),
        ...(ids ? { traceId: ids.traceId, spanId: ids.spanId } : {}),
        ...(ids?.xrayTraceId ? { xrayTraceId: ids.xrayTraceId } : {}),
      },
    };
  }

  return {
    mode,
    tracer,
    tracerProvider,
    logger,
    traced,
    middleware: (options) =>
      createHttpMiddleware({
        ...(options?.routeOf ? { routeOf: options.routeOf } : {}),
        ...(mode === "sdk" ? { ids } : {}),
        tracer,
        store,
        native: mode === "native",
        logger,
        ...(requestHook ? { xray: requestHook } : {}),
        captureRequestHeaders: config.otel.captureRequestHeaders,
        logTrace,
      }),
    reportError(error, c, person) {
      if (typeof error === "object" && error !== null) {
        if (reported.has(error)) return;
        reported.add(error);
      }
      const { state, span, context } = errorContext(c);
      const secrets = state?.secrets ?? activeSecrets(store);
      if (span && span !== state?.span) recordError(span, error, secrets);
      const err = error instanceof Error ? error : new Error(String(error));
      logger.error(`Unhandled error: ${scrubText(err.message, secrets)}`, {
        error_type: err.name,
        route: context.request?.route,
      });
      if (errorDestinations.length === 0) return;
      const clean = new Error(scrubText(err.message, secrets));
      clean.name = err.name;
      if (err.stack) clean.stack = scrubText(err.stack, secrets);
      for (const destination of errorDestinations) {
        destination.reportError(clean, { ...context, ...(person ? { person } : {}) });
      }
    },
    reportMessage(message, level, c) {
      if (errorDestinations.length === 0) return;
      const { context } = errorContext(c);
      for (const destination of errorDestinations) {
        destination.reportMessage(message, level, context);
      }
    },
    markSecret(value) {
      if (value.length > 0) activeSecrets(store)?.add(value);
    },
    fetch(input, init) {
      return mode === "sdk" ? tracedFetch(input, init) : fetch(input, init);
    },
    describe: () => [...lines],
    stats() {
      const result: Record<string, SinkStats> = {};
      for (const sink of sinks) result[sink.name] = sink.stats();
      if (writer) result.console = writer.stats();
      return result;
    },
    details() {
      const result: Record<string, Record<string, number>> = {};
      for (const c of installed) if (c.sink && c.details) result[c.sink.name] = c.details();
      return result;
    },
    async forceFlush(deadlineMs) {
      await Promise.all([
        ...sinks.map((sink) => sink.forceFlush(deadlineMs)),
        writer?.flush(deadlineMs),
      ]);
    },
    shutdown(deadlineMs) {
      stopping ??= (async () => {
        logsAttached = false;
        await Promise.all(sinks.map((sink) => sink.shutdown(deadlineMs)));
        if (tracerProvider instanceof BasicTracerProvider) {
          await beforeDeadline(tracerProvider.shutdown(), deadlineMs);
        }
        store.disable();
        // The console stays open: main.ts's summary line comes after this (Logger.flush).
      })();
      return stopping;
    },
  };
}
