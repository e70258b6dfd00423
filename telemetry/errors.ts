/**
 * The error path: an unhandled request error is recorded on the span, logged once (scrubbed)
 * and handed to every error destination the sinks contribute, with the request's context.
 */
import type { Span, SpanContext } from "@opentelemetry/api";
import { trace } from "./otel_api.ts";
import type { Context } from "hono";
import { activeSecrets, type ContextStore } from "./context.ts";
import { clientAddress, HTTP_ROUTE_VAR, type RequestTelemetry, requestTelemetry } from "./http.ts";
import type { Logger, LogTraceContext } from "./logger.ts";
import { scrubText } from "./scrub.ts";
import { recordError } from "./traced.ts";
import type { ErrorContext, ErrorDestination, MessageLevel } from "./types.ts";

/** Options of {@linkcode createErrorReporting}. */
export interface ErrorReportingOptions {
  store: ContextStore;
  logger: Logger;
  logTrace: (span: SpanContext) => LogTraceContext;
  destinations: readonly ErrorDestination[];
}

/** What the app calls on the error path. */
export interface ErrorReporting {
  /** Records an unhandled error on the span, logs it and reports it, once per error object. */
  reportError(error: unknown, c?: Context, person?: { id: string; username?: string }): void;
  /** Reports a message to every error destination (the seed's /rollbar/test). */
  reportMessage(message: string, level: MessageLevel, c?: Context): void;
}

/** Builds the error path over the sinks' error destinations. */
export function createErrorReporting(options: ErrorReportingOptions): ErrorReporting {
  const { store, logger, logTrace, destinations } = options;
  const reported = new WeakSet<object>();

  /** What the destinations and the error log need to know about the failing request. */
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
      if (destinations.length === 0) return;
      const clean = new Error(scrubText(err.message, secrets));
      clean.name = err.name;
      if (err.stack) clean.stack = scrubText(err.stack, secrets);
      for (const destination of destinations) {
        destination.reportError(clean, { ...context, ...(person ? { person } : {}) });
      }
    },
    reportMessage(message, level, c) {
      if (destinations.length === 0) return;
      const { context } = errorContext(c);
      for (const destination of destinations) destination.reportMessage(message, level, context);
    },
  };
}
