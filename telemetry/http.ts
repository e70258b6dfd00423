/**
 * The request middleware: continues or starts the trace, makes the SERVER span (or enriches
 * Deno's own in native mode), opens the X-Ray segment, tells the caller its trace, and writes
 * the access log after the response. It never throws into the request.
 */
import {
  type Attributes,
  type Context as OtelContext,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
} from "@opentelemetry/api";
import { TraceState, W3CBaggagePropagator } from "@opentelemetry/core";
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { type ContextStore, SECRETS_KEY } from "./context.ts";
import type { Logger, LogTraceContext } from "./logger.ts";
import { cap } from "./logger.ts";
import { collectSecretValues, isSecretName, redactQuery } from "./scrub.ts";
import { formatTraceParent, parseTraceParent, sanitizeTraceState } from "./trace_context.ts";
import { recordError } from "./traced.ts";
import { parseAmznTraceId, xrayToOtelTraceId } from "./xray/trace_header.ts";

/** What the middleware needs of the X-Ray sink. */
export interface SegmentOpener {
  begin(
    span: Span,
    request: { method: string; host: string | undefined; path: string; amznTraceId: string | null },
  ): string;
}

/** Options of `createHttpMiddleware`. */
export interface HttpMiddlewareOptions {
  tracer: Tracer;
  store: ContextStore;
  /** `native`: Deno made the SERVER span; enrich it instead of making another. */
  native: boolean;
  logger: Logger;
  xray?: SegmentOpener;
  captureRequestHeaders: readonly string[];
  /** The trace ids a log event carries for a span (adds the X-Ray form when X-Ray is on). */
  logTrace: (span: SpanContext) => LogTraceContext;
}

/** Per-request telemetry state, kept on the Hono context. */
export interface RequestTelemetry {
  span: Span;
  secrets: Set<string>;
}

const baggage = new W3CBaggagePropagator();
const headerGetter = {
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
  keys: (carrier: Headers) => [...carrier.keys()],
};
const MAX_USER_AGENT = 512;
const UNMATCHED = new Set(["", "*", "/*"]);

/** The Hono variable a route sets when its template is not its path pattern. */
export const HTTP_ROUTE_VAR = "httpRoute" as const;
/** The Hono variable naming a client fault (`error.type`, access-log `error_type`). */
export const HTTP_ERROR_TYPE_VAR = "httpErrorType" as const;

declare module "hono" {
  interface ContextVariableMap {
    httpRoute: string;
    httpErrorType: string;
    telemetry: RequestTelemetry;
  }
}

/** Extracts the parent context from W3C headers, falling back to X-Amzn-Trace-Id. */
export function extractParent(headers: Headers): OtelContext {
  const parent = parseTraceParent(headers.get("traceparent"));
  let ctx = ROOT_CONTEXT;
  if (parent) {
    const state = sanitizeTraceState(headers.get("tracestate"));
    ctx = trace.setSpanContext(ctx, {
      traceId: parent.traceId,
      spanId: parent.spanId,
      traceFlags: parent.flags & TraceFlags.SAMPLED,
      isRemote: true,
      ...(state ? { traceState: new TraceState(state) } : {}),
    });
  } else {
    const amzn = parseAmznTraceId(headers.get("x-amzn-trace-id"));
    const traceId = amzn?.root ? xrayToOtelTraceId(amzn.root) : undefined;
    if (amzn?.parent && traceId) {
      ctx = trace.setSpanContext(ctx, {
        traceId,
        spanId: amzn.parent,
        traceFlags: amzn.sampled === "0" ? TraceFlags.NONE : TraceFlags.SAMPLED,
        isRemote: true,
      });
    }
  }
  return headers.has("baggage") ? baggage.extract(ctx, headers, headerGetter) : ctx;
}

/** The client: the first X-Forwarded-For entry (as X-Ray and the seed do), else the socket peer. */
export function clientAddress(c: Context): string | undefined {
  const forwarded = c.req.header("x-forwarded-for");
  if (forwarded) return forwarded.split(",")[0]?.trim() || undefined;
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname;
}

/** The authority of an absolute URL, without parsing the whole URL. */
function urlHost(url: string): string | undefined {
  const start = url.indexOf("//");
  if (start < 0) return undefined;
  const end = url.indexOf("/", start + 2);
  return url.slice(start + 2, end < 0 ? undefined : end) || undefined;
}

function splitHost(host: string | undefined): [string | undefined, number | undefined] {
  if (!host) return [undefined, undefined];
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!match) return [undefined, undefined];
  return [match[1], match[2] ? Number(match[2]) : undefined];
}

/** Creates the telemetry middleware. */
export function createHttpMiddleware(options: HttpMiddlewareOptions): MiddlewareHandler {
  const { tracer, store, logger, xray, logTrace } = options;
  const captured = options.captureRequestHeaders.filter((h) => !isSecretName(h));

  return async function telemetryMiddleware(c, next) {
    const started = performance.now();
    const request = c.req.raw;
    const method = request.method;
    const path = c.req.path;
    const url = request.url;
    const queryAt = url.indexOf("?");
    const search = queryAt >= 0 ? url.slice(queryAt) : "";
    const query = search ? redactQuery(search) : "";
    const hostHeader = request.headers.get("host") ?? urlHost(url);
    const [serverAddress, serverPort] = splitHost(hostHeader);
    const scheme = url.startsWith("https:") ? "https" : "http";
    const client = clientAddress(c);
    const userAgent = request.headers.get("user-agent");
    const attributes: Attributes = {
      "http.request.method": method,
      "url.path": path,
      "url.scheme": scheme,
    };
    if (query) attributes["url.query"] = query.slice(1);
    if (serverAddress) attributes["server.address"] = serverAddress;
    if (serverPort) attributes["server.port"] = serverPort;
    if (client) attributes["client.address"] = client;
    if (request.headers.has("x-forwarded-for")) attributes["aws.xray.x_forwarded_for"] = true;
    if (userAgent) attributes["user_agent.original"] = cap(userAgent, MAX_USER_AGENT);
    for (const name of captured) {
      const value = request.headers.get(name);
      if (value !== null) attributes[`http.request.header.${name}`] = [cap(value, 256)];
    }

    let span: Span;
    let parent: OtelContext;
    if (options.native) {
      parent = store.active();
      // Deno made the SERVER span; without one (tracing off in Deno) a no-op span stands in.
      span = trace.getSpan(parent) ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      // Deno records url.full and url.query with the raw query; overwrite both redacted.
      // (Deno appends rather than replaces a key; backends keep the last value.)
      if (query) attributes["url.full"] = `${scheme}://${hostHeader ?? ""}${path}${query}`;
      span.setAttributes(attributes);
    } else {
      parent = extractParent(request.headers);
      span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent);
      parent = trace.setSpan(parent, span);
    }
    const secrets = new Set(collectSecretValues(request.headers, url));
    const ctx = parent.setValue(SECRETS_KEY, secrets);
    c.set("telemetry", { span, secrets } satisfies RequestTelemetry);

    let amzn: string | undefined;
    if (xray) {
      try {
        amzn = xray.begin(span, {
          method,
          host: hostHeader,
          path,
          amznTraceId: request.headers.get("x-amzn-trace-id"),
        });
      } catch {
        // X-Ray is best effort; the request goes on without a segment.
      }
    }

    await store.with(ctx, next);

    const status = c.res.status;
    const route = c.get(HTTP_ROUTE_VAR) ?? routePath(c);
    // A route ending in a wildcard is middleware: no handler matched (404/405).
    const matched = !UNMATCHED.has(route) && !route.endsWith("*");
    const spanContext = span.spanContext();
    const errorType = c.get(HTTP_ERROR_TYPE_VAR);
    try {
      if (matched) {
        span.setAttribute("http.route", route);
        span.updateName(`${method} ${route}`);
      }
      span.setAttribute("http.response.status_code", status);
      const length = c.res.headers.get("content-length");
      if (length) span.setAttribute("http.response.body.size", Number(length));
      if (c.error) recordError(span, c.error, secrets);
      if (errorType) span.setAttribute("error.type", errorType);
      if (status >= 500) {
        span.setAttribute("error.type", c.error?.name ?? String(status));
        if (!c.error) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      if (isSpanContextValid(spanContext)) {
        c.res.headers.set(
          "traceresponse",
          formatTraceParent(spanContext.traceId, spanContext.spanId, spanContext.traceFlags),
        );
      }
      if (amzn) c.res.headers.set("x-amzn-trace-id", amzn);
    } finally {
      if (!options.native) span.end();
    }
    if (logger.enabled("info")) {
      logger.logWith("info", logTrace(spanContext), `${method} ${path} ${status}`, {
        event: "access",
        method,
        scheme,
        path,
        query: query || undefined,
        route: matched ? route : undefined,
        status,
        error_type: errorType,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        client_address: client,
        user_agent: userAgent ? cap(userAgent, MAX_USER_AGENT) : undefined,
      });
    }
  };
}

/** Reads the request's telemetry state from the Hono context, if the middleware ran. */
export function requestTelemetry(c: Context): RequestTelemetry | undefined {
  return c.get("telemetry");
}
