/**
 * `createTelemetry(config)`: builds the tracer, logger and sinks from the typed config and
 * returns the one object the app receives. Nothing here is a module singleton, so tests build
 * their own telemetry with stand-ins and a synchronous span exporter.
 */
import { hostname } from "node:os";
import type { SpanContext, Tracer, TracerProvider } from "@opentelemetry/api";
import { INVALID_SPAN_CONTEXT, trace } from "./otel_api.ts";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import type { CloudWatchSinkOptions } from "./cloudwatch/sink.ts";
import { activeSecrets, type ContextStore, createContextStore } from "./context.ts";
import { createTracedFetch } from "./fetch.ts";
import { createHttpMiddleware, type HttpMiddlewareOptions } from "./http.ts";
import { createAccessLogMiddleware } from "./access_log.ts";
import { type ConsoleWriter, createConsoleWriter } from "./console_writer.ts";
import { createLogger, type Logger, type LogTraceContext } from "./logger.ts";
import type { OtlpRetryOptions } from "./otlp/retry.ts";
import type { RollbarOptions } from "./rollbar/reporter.ts";
import { createTraceIds, type TraceIds } from "./ids.ts";
import { nativeTracer } from "./native.ts";
import { createErrorReporting } from "./errors.ts";
import { type InstallFailure, SinkSet } from "./sinks.ts";
import { createTraced } from "./traced.ts";
import { AlwaysOffSampler } from "./sampler.ts";
import { createTracerProvider, RecordingTracerProvider } from "./tracing.ts";
import { staticResource } from "./resource.ts";
import type { Diagnostic, SinkStats } from "./types.ts";
import { beforeDeadline } from "./util/deadline.ts";
import { stderrDiagnostic } from "./util/throttle.ts";
import type { XRayOptions } from "./xray/mod.ts";

export type { Logger } from "./logger.ts";
export type { InstallFailure } from "./sinks.ts";
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
   * match at a path, so CORS preflights are named by the route they ask about;
   * `addResponseHeader` and `responseBytes` let the app build each answer once with the trace
   * headers in it (see HttpMiddlewareOptions); `inner` is the app's next layer, run inside
   * this one instead of as a Hono layer of its own.
   */
  middleware(
    options?: Pick<
      HttpMiddlewareOptions,
      "routeOf" | "addResponseHeader" | "responseBytes" | "inner"
    >,
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

/**
 * The provider for the configured mode: ours fed by every sink's span processors. A test's
 * exporter gets the SDK's SimpleSpanProcessor, loaded only then.
 */
async function createProvider(
  config: Config,
  resource: Record<string, string>,
  sinks: SinkSet,
  testExporter: SpanExporter | undefined,
  ids: TraceIds,
): Promise<TracerProvider> {
  // Deno records native spans through the API, loaded for that mode only.
  if (config.otel.mode === "native") {
    return (await import("@opentelemetry/api")).trace.getTracerProvider();
  }
  if (config.otel.mode !== "sdk") {
    // Nothing is recorded: every span is a non-recording one with random ids.
    return new RecordingTracerProvider({
      resource: staticResource({}),
      ids: createTraceIds("random"),
      sampler: new AlwaysOffSampler(),
      processors: [],
      limits: NO_LIMITS,
    });
  }
  const processors: SpanProcessor[] = [];
  if (testExporter) {
    const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
    processors.push(new SimpleSpanProcessor(testExporter));
  }
  processors.push(...sinks.spanProcessors);
  return createTracerProvider({
    config: config.otel,
    resource,
    ids,
    processors,
    recordUnsampled: sinks.recordsUnsampled,
  });
}

/** The logger: console (asynchronous and bounded unless a test captures lines) plus the sinks. */
function buildLogger(
  config: Config,
  store: ContextStore,
  sinks: SinkSet,
  logTrace: (span: SpanContext) => LogTraceContext,
  captured: ((line: string) => void) | undefined,
): { logger: Logger; writer: ConsoleWriter | undefined } {
  // Asynchronous and bounded: a stdout nobody reads must not stop the event loop.
  const writer = captured ? undefined : createConsoleWriter(Deno.stdout);
  const remote = sinks.logDestination();
  const records = sinks.logRecords();
  const logger = createLogger({
    service: config.serviceName,
    level: config.logLevel,
    format: config.logFormat,
    write: captured ?? writer!.write,
    ...(writer ? { flush: writer.flush } : {}),
    ...(remote ? { sink: remote } : {}),
    ...(records ? { records } : {}),
    secrets: () => activeSecrets(store),
    traceContext() {
      const span = trace.getSpan(store.active());
      return span ? logTrace(span.spanContext()) : undefined;
    },
  });
  return { logger, writer };
}

const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Limits of a provider that records nothing (never read). */
const NO_LIMITS = {
  attributeValueLengthLimit: 0,
  attributeCountLimit: 0,
  eventCountLimit: 0,
  linkCountLimit: 0,
  attributePerEventCountLimit: 0,
  attributePerLinkCountLimit: 0,
};

/** `traced` when nothing traces: the call itself, a throw turned into a rejection as there. */
const untraced: Traced = (_name, fn) => {
  try {
    return Promise.resolve(fn(NO_SPAN));
  } catch (error) {
    return Promise.reject(error);
  }
};

/** Builds the telemetry object from the config, every sink installed. */
export async function createTelemetry(
  config: Config,
  overrides: TelemetryOverrides = {},
): Promise<Telemetry> {
  const started = await startTelemetry(config, overrides);
  const [failed] = await started.installDeferred();
  if (failed) throw failed.error;
  return started.telemetry;
}

/** {@linkcode startTelemetry}'s result: telemetry that works now, sinks that come later. */
export interface StartedTelemetry {
  /** Records everything from now on; the late sinks' share waits in bounded buffers. */
  telemetry: Telemetry;
  /**
   * Installs the sinks whose clients are slow to load (AWS SDK, Rollbar, the OTLP and metrics
   * SDKs) and hands each what it was given meanwhile: one attempt for each still waiting.
   * Resolves with the ones that failed (call again to retry; they keep holding, bounded);
   * flush and shutdown make one more attempt themselves.
   */
  installDeferred(): Promise<InstallFailure[]>;
  /** One sink's banner line by its name (a late sink's own once it is installed). */
  startupLine(sink: string): string | undefined;
}

/**
 * Builds the telemetry with only the sinks the request path cannot do without (X-Ray's segment
 * opener) installed, so the server can listen before the heavy sink clients load. Spans, log
 * lines, records, error reports and request samples meant for a sink still loading wait in
 * bounded, counted buffers (telemetry/pending.ts) until {@linkcode StartedTelemetry.installDeferred}.
 */
export async function startTelemetry(
  config: Config,
  overrides: TelemetryOverrides = {},
): Promise<StartedTelemetry> {
  const diagnostic = overrides.diagnostic ?? stderrDiagnostic();
  const mode = config.otel.mode;
  const store: ContextStore = createContextStore(mode);
  const resource = resourceAttributes(config);
  const tuning = overrides as Readonly<Record<string, object | undefined>>;
  // Filled in below; read lazily by stats(), which the metrics sink calls once per export.
  const late: { sinks?: SinkSet; writer?: ConsoleWriter | undefined } = {};
  const stats = (): Record<string, SinkStats> => {
    const result = late.sinks?.stats() ?? {};
    if (late.writer) result.console = late.writer.stats();
    return result;
  };
  const sinks = await SinkSet.start({ config, diagnostic, resource, stats }, tuning);
  late.sinks = sinks;
  const requestHook = sinks.requestHook;
  // X-Ray needs ids that start with the epoch seconds; without it, ids are random and say so.
  const ids = createTraceIds(requestHook ? "xray" : "random");
  const tracerProvider = await createProvider(
    config,
    resource,
    sinks,
    overrides.spanExporter,
    ids,
  );
  const sdkTracer = tracerProvider.getTracer("cruddur-backend", config.serviceVersion);
  // SDK-mode spans take their times from one microsecond clock (telemetry/span.ts, clock.ts).
  const tracer = mode === "native" ? nativeTracer(sdkTracer) : sdkTracer;
  const logTrace = (span: SpanContext): LogTraceContext => sinks.logTrace(span);
  const { logger, writer } = buildLogger(config, store, sinks, logTrace, overrides.writeLine);
  late.writer = writer;
  const recorder = sinks.requestRecorder();
  const errors = createErrorReporting({
    store,
    logger,
    logTrace,
    destinations: sinks.errorDestinations,
  });

  const randomRoots = mode === "sdk" && ids.style === "random";
  // OTEL_SDK_DISABLED without X-Ray: no span is ever recorded, so none is made.
  const tracingOff = mode === "disabled" && !requestHook;
  const traced = tracingOff ? untraced : createTraced(tracer, store, randomRoots);
  const tracedFetch = createTracedFetch({
    tracer,
    store,
    randomRoots,
    ...(requestHook?.outgoingHeader
      ? { xrayHeader: requestHook.outgoingHeader.bind(requestHook) }
      : {}),
  });
  let stopping: Promise<void> | undefined;

  const telemetry: Telemetry = {
    mode,
    tracer,
    tracerProvider,
    logger,
    traced,
    middleware: (options) =>
      tracingOff
        ? createAccessLogMiddleware({
          store,
          logger,
          ...(recorder ? { recorder } : {}),
          ...(options?.responseBytes ? { responseBytes: options.responseBytes } : {}),
          ...(options?.inner ? { inner: options.inner } : {}),
        })
        : createHttpMiddleware({
          ...options,
          ...(mode === "sdk" ? { ids } : {}),
          tracer,
          store,
          native: mode === "native",
          logger,
          ...(requestHook ? { xray: requestHook } : {}),
          captureRequestHeaders: config.otel.captureRequestHeaders,
          logTrace,
          ...(recorder ? { recorder } : {}),
        }),
    reportError: errors.reportError,
    reportMessage: errors.reportMessage,
    markSecret(value) {
      if (value.length > 0) activeSecrets(store)?.add(value);
    },
    fetch(input, init) {
      return mode === "sdk" ? tracedFetch(input, init) : fetch(input, init);
    },
    describe: () => sinks.startupLines(),
    stats,
    details: () => sinks.details(),
    async forceFlush(deadlineMs) {
      await Promise.all([sinks.forceFlush(deadlineMs), writer?.flush(deadlineMs)]);
    },
    shutdown(deadlineMs) {
      stopping ??= (async () => {
        await sinks.shutdown(deadlineMs);
        if (tracerProvider instanceof RecordingTracerProvider) {
          await beforeDeadline(tracerProvider.shutdown(), deadlineMs);
        }
        store.disable();
        // The console stays open: main.ts's summary line comes after this (Logger.flush).
      })();
      return stopping;
    },
  };
  return {
    telemetry,
    installDeferred: () => sinks.installDeferred(),
    startupLine: (name) => sinks.startupLine(name),
  };
}
