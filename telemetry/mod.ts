/**
 * `createTelemetry(config)`: builds the tracer, logger and sinks from the typed config and
 * returns the one object the app receives. Nothing here is a module singleton, so tests build
 * their own telemetry with stand-ins and a synchronous span exporter.
 */
import { hostname } from "node:os";
import {
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
// The AWS SDK and Rollbar are loaded only when configured: together they are most of the
// module graph, and an app that does not use them should not carry them in memory.
import type { CloudWatchSink, CloudWatchSinkOptions } from "./cloudwatch.ts";
import { activeSecrets, type ContextStore, createContextStore } from "./context.ts";
import {
  clientAddress,
  createHttpMiddleware,
  HTTP_ROUTE_VAR,
  type RequestTelemetry,
  requestTelemetry,
} from "./http.ts";
import {
  type BufferedWriter,
  createBufferedWriter,
  createLogger,
  type Logger,
  type LogTraceContext,
} from "./logger.ts";
import { createTracerPipeline } from "./otel.ts";
import { redactUrl, scrubText } from "./scrub.ts";
import type { ErrorContext, ErrorReporter, RollbarOptions } from "./rollbar.ts";
import { createTraced, recordError } from "./traced.ts";
import type { Diagnostic, Sink, SinkStats } from "./types.ts";
import { createXRay, loadSamplingRule, parseDaemonAddress, type XRay } from "./xray/mod.ts";
import { isPlausibleXRayTime, otelToXRayTraceId } from "./xray/trace_header.ts";

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
  /** Sink tuning for tests (short intervals). */
  cloudwatch?: Partial<CloudWatchSinkOptions>;
  xray?: Partial<Parameters<typeof createXRay>[0]>;
  rollbar?: Partial<RollbarOptions>;
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
  /** The request middleware; install first. */
  middleware(): MiddlewareHandler;
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

function stderrDiagnostic(): Diagnostic {
  const encoder = new TextEncoder();
  return (message) => {
    try {
      Deno.stderr.writeSync(encoder.encode(`[telemetry] ${message}\n`));
    } catch {
      // Nowhere left to report.
    }
  };
}

/** The checked-out commit, when the app runs from a git work tree (not in the image). */
function gitCommit(): string | undefined {
  try {
    const head = Deno.readTextFileSync(".git/HEAD").trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    const commit = ref ? Deno.readTextFileSync(`.git/${ref}`).trim() : head;
    return /^[0-9a-f]{40}$/.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

function resourceAttributes(config: Config): Record<string, string> {
  return {
    ...config.otel.resourceAttributes,
    "service.name": config.serviceName,
    "service.version": config.serviceVersion,
    "deployment.environment": config.environment,
    "deployment.environment.name": config.environment,
    "host.name": hostname(),
    "process.runtime.name": "deno",
    "process.runtime.version": Deno.version.deno,
  };
}

/** Builds the telemetry object from the config. */
export async function createTelemetry(
  config: Config,
  overrides: TelemetryOverrides = {},
): Promise<Telemetry> {
  const diagnostic = overrides.diagnostic ?? stderrDiagnostic();
  const lines: string[] = [];
  const sinks: Sink[] = [];
  const mode = config.otel.mode;
  const store: ContextStore = createContextStore(mode);

  let xray: XRay | undefined;
  if (config.xray.enabled && mode === "sdk") {
    xray = createXRay({
      daemonAddress: parseDaemonAddress(config.xray.daemonAddress),
      serviceName: config.serviceName,
      ...(config.xray.tracingName ? { tracingName: config.xray.tracingName } : {}),
      ...(config.xray.dynamicNamingPattern
        ? { dynamicNamingPattern: config.xray.dynamicNamingPattern }
        : {}),
      samplingRule: await loadSamplingRule(config.xray.samplingRulesPath),
      diagnostic,
      ...overrides.xray,
    });
    lines.push(`X-Ray: UDP to daemon at ${config.xray.daemonAddress}`);
  } else if (config.xray.enabled) {
    lines.push("X-Ray: off (needs the SDK pipeline; OTEL_DENO/OTEL_SDK_DISABLED is set)");
  } else {
    lines.push("X-Ray: off (set AWS_XRAY_DAEMON_ADDRESS or AWS_XRAY_ENABLED=true)");
  }

  let tracerProvider: TracerProvider;
  if (mode === "sdk") {
    const processors: SpanProcessor[] = [];
    if (overrides.spanExporter) processors.push(new SimpleSpanProcessor(overrides.spanExporter));
    if (xray) processors.push(xray.processor);
    const pipeline = createTracerPipeline({
      config: config.otel,
      resource: resourceAttributes(config),
      processors,
      recordUnsampled: xray !== undefined,
      diagnostic,
    });
    tracerProvider = pipeline.provider;
    sinks.push(pipeline.sink);
    lines.push(`Traces: SDK pipeline to ${pipeline.destination}`);
  } else if (mode === "native") {
    tracerProvider = trace.getTracerProvider();
    lines.push("Traces: Deno's built-in OpenTelemetry (OTEL_DENO=true; Deno reads OTEL_*)");
  } else {
    tracerProvider = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
    lines.push("Traces: off (OTEL_SDK_DISABLED=true)");
  }
  const tracer = tracerProvider.getTracer("cruddur-backend", config.serviceVersion);
  if (xray) sinks.push(xray);

  let cloudwatch: CloudWatchSink | undefined;
  if (config.cloudwatch && config.aws) {
    const { createCloudWatchSink, defaultStreamName } = await import("./cloudwatch.ts");
    cloudwatch = createCloudWatchSink({
      logGroup: config.cloudwatch.logGroup,
      logStream: config.cloudwatch.logStream ?? defaultStreamName({
        host: hostname(),
        service: config.serviceName,
        startMs: Date.now(),
        pid: Deno.pid,
      }),
      region: config.aws.region,
      credentials: config.aws.credentials,
      ...(config.cloudwatch.endpoint ? { endpoint: config.cloudwatch.endpoint } : {}),
      createLogGroup: config.cloudwatch.createLogGroup,
      flushIntervalMs: config.cloudwatch.flushIntervalMs,
      diagnostic,
      ...overrides.cloudwatch,
    });
    sinks.push(cloudwatch);
    lines.push(`Logs: console + CloudWatch Logs group "${config.cloudwatch.logGroup}"`);
  } else if (config.cloudwatch) {
    lines.push(
      "Logs: console only (CLOUDWATCH_LOG_GROUP is set but AWS_REGION and credentials are not)",
    );
  } else {
    lines.push("Logs: console only (set CLOUDWATCH_LOG_GROUP and AWS credentials for CloudWatch)");
  }

  let rollbar: ErrorReporter | undefined;
  if (config.rollbar) {
    const codeVersion = config.rollbar.codeVersion ?? gitCommit();
    const { createRollbarReporter } = await import("./rollbar.ts");
    rollbar = createRollbarReporter({
      accessToken: config.rollbar.accessToken,
      environment: config.rollbar.environment,
      ...(codeVersion ? { codeVersion } : {}),
      ...(config.rollbar.endpoint ? { endpoint: config.rollbar.endpoint } : {}),
      itemsPerMinute: config.rollbar.itemsPerMinute,
      root: Deno.cwd(),
      host: hostname(),
      diagnostic,
      ...overrides.rollbar,
    });
    sinks.push(rollbar);
    lines.push(`Errors: Rollbar (${config.rollbar.environment})`);
  } else {
    lines.push("Errors: Rollbar off (set ROLLBAR_ACCESS_TOKEN)");
  }

  let writer: BufferedWriter | undefined;
  let writeLine = overrides.writeLine;
  if (!writeLine) {
    const buffered = createBufferedWriter(Deno.stdout);
    writer = buffered;
    writeLine = buffered.write;
  }
  const logTrace = ({ traceId, spanId }: SpanContext): LogTraceContext =>
    xray && isPlausibleXRayTime(traceId, Date.now())
      ? { traceId, spanId, xrayTraceId: otelToXRayTraceId(traceId) }
      : { traceId, spanId };
  const logger = createLogger({
    service: config.serviceName,
    level: config.logLevel,
    format: config.logFormat,
    write: writeLine,
    ...(cloudwatch ? { sink: cloudwatch } : {}),
    secrets: () => activeSecrets(store),
    traceContext() {
      const span = trace.getSpan(store.active());
      return span ? logTrace(span.spanContext()) : undefined;
    },
  });

  const traced = createTraced(tracer, store);
  const w3c = new W3CTraceContextPropagator();
  const baggage = new W3CBaggagePropagator();
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
    middleware: () =>
      createHttpMiddleware({
        tracer,
        store,
        native: mode === "native",
        logger,
        ...(xray ? { xray } : {}),
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
      if (!rollbar) return;
      const clean = new Error(scrubText(err.message, secrets));
      clean.name = err.name;
      if (err.stack) clean.stack = scrubText(err.stack, secrets);
      rollbar.reportError(clean, { ...context, ...(person ? { person } : {}) });
    },
    reportMessage(message, level, c) {
      rollbar?.reportMessage(message, level, errorContext(c).context);
    },
    markSecret(value) {
      if (value.length > 0) activeSecrets(store)?.add(value);
    },
    async fetch(input, init) {
      if (mode !== "sdk") return await fetch(input, init);
      const url = new URL(input);
      const method = (init?.method ?? "GET").toUpperCase();
      const parent = store.active();
      const span: Span = tracer.startSpan(method, {
        kind: SpanKind.CLIENT,
        attributes: {
          "http.request.method": method,
          "server.address": url.hostname,
          "server.port": Number(url.port || (url.protocol === "https:" ? 443 : 80)),
          "url.full": redactUrl(url.href),
        },
      }, parent);
      const ctx = trace.setSpan(parent, span);
      const headers = new Headers(init?.headers);
      const setter = { set: (h: Headers, k: string, v: string) => h.set(k, v) };
      w3c.inject(ctx, headers, setter);
      baggage.inject(ctx, headers, setter);
      try {
        const response = await store.with(ctx, () => fetch(url, { ...init, headers }));
        span.setAttribute("http.response.status_code", response.status);
        if (response.status >= 400) {
          span.setAttribute("error.type", String(response.status));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        return response;
      } catch (error) {
        recordError(span, error, activeSecrets(store));
        throw error;
      } finally {
        span.end();
      }
    },
    describe: () => [...lines],
    stats() {
      const result: Record<string, SinkStats> = {};
      for (const sink of sinks) result[sink.name] = sink.stats();
      return result;
    },
    details() {
      const result: Record<string, Record<string, number>> = {};
      if (xray) result.xray = xray.details();
      return result;
    },
    async forceFlush(deadlineMs) {
      writer?.flush();
      await Promise.all(sinks.map((sink) => sink.forceFlush(deadlineMs)));
      writer?.flush();
    },
    shutdown(deadlineMs) {
      stopping ??= (async () => {
        await Promise.all(sinks.map((sink) => sink.shutdown(deadlineMs)));
        store.disable();
        writer?.close();
      })();
      return stopping;
    },
  };
}
