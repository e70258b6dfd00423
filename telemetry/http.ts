/**
 * The request middleware: continues or starts the trace, makes the SERVER span (or enriches
 * Deno's own in native mode), opens the X-Ray segment, tells the caller its trace, and writes
 * the access log after the response. It never throws into the request.
 */
import type {
  Attributes,
  Context as OtelContext,
  Span,
  SpanContext,
  Tracer,
} from "@opentelemetry/api";
import {
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from "./otel_api.ts";
import { W3CBaggagePropagator } from "./baggage.ts";
import type { Context, MiddlewareHandler } from "hono";
import {
  type ContextStore,
  RANDOM_TRACE_ID_KEY,
  REQUEST_ROOT_CONTEXT,
  SECRETS_KEY,
} from "./context.ts";
import type { TraceIds } from "./ids.ts";
import type { Logger, LogTraceContext } from "./logger.ts";
import { cap } from "./logger.ts";
import type { RequestRecorder } from "./metrics/http_server.ts";
import {
  clientAddress,
  contentLength,
  HTTP_ERROR_TYPE_VAR,
  HTTP_ROUTE_VAR,
  type InnerLayer,
  innerNext,
  matchedRoute,
  recordRequest,
  requestFacts,
  requestOrigin,
  type RequestTelemetry,
  STORE_SOURCE_VAR,
  writeAccessLog,
} from "./access_log.ts";
import { isSecretName, type RequestHeaderScan, scrubHeaderValue, scrubText } from "./scrub.ts";
import {
  formatServerTiming,
  formatTraceParent,
  parseTraceParent,
  TRACE_FLAG_RANDOM,
  W3CTraceState,
} from "./trace_context.ts";
import { nativeValue } from "./native.ts";
import { recordError } from "./traced.ts";
import { parseAmznTraceId, xrayToOtelTraceId } from "./xray/trace_header.ts";
import { isKnownMethod } from "./http_method.ts";

/** What the middleware needs of the X-Ray sink. */
export interface SegmentOpener {
  begin(
    span: Span,
    request: {
      method: string;
      host: string | undefined;
      path: string;
      amznTraceId: string | null;
      /** The caller's span id when the trace was continued over `traceparent`. */
      parentId?: string | undefined;
    },
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
  /** SDK mode: the id source, to seed a root span with an X-Ray `Root` and to know the style. */
  ids?: TraceIds;
  /** The route template `method` would match at `path` (names CORS preflights by route). */
  routeOf?: (method: string, path: string) => string | undefined;
  /** HTTP server metrics (OTLP and/or CloudWatch EMF); cheap, never throws. */
  recorder?: RequestRecorder;
  /**
   * Hands a response header to whoever builds the answer, before the handler runs (the app
   * builds each answer once with all its headers: routes/response.ts). Without it, the
   * middleware sets its headers on the finished response.
   */
  addResponseHeader?: (c: Context, name: string, value: string) => void;
  /** The answer's body size when the builder knows it (else Content-Length is read). */
  responseBytes?: (c: Context) => number | undefined;
  /**
   * The app's next layer, run inside this one's scope instead of as a Hono layer of its own
   * (see `innerNext`): one `compose` step fewer on every request.
   */
  inner?: InnerLayer;
}

const baggage = new W3CBaggagePropagator();
/** The baggage propagator reads its one header from the header pass's value. */
const baggageGetter = {
  get: (carrier: string, key: string) => key === "baggage" ? carrier : undefined,
  keys: () => ["baggage"],
};
/**
 * What Deno 2.9's own SERVER span already records (it appends rather than replaces a key, so
 * setting one of these again would export it twice): native mode leaves them to Deno.
 */
const DENO_SERVER_KEYS = new Set([
  "http.request.method",
  "url.full",
  "url.scheme",
  "url.path",
  "url.query",
  "http.response.status_code",
  "error.type",
]);
/** The attribute marking a CORS preflight, set at span start so samplers can see it. */
export const PREFLIGHT_ATTRIBUTE = "http.request.cors_preflight";

export {
  HTTP_ERROR_TYPE_VAR,
  HTTP_ROUTE_VAR,
  type InnerLayer,
  requestOrigin,
  type RequestTelemetry,
  STORE_SOURCE_VAR,
};

/** Where a request's trace comes from. */
export interface ExtractedParent {
  context: OtelContext;
  /** The caller's span id, when a valid header named one. */
  parentId: string | undefined;
  /** The incoming trace id carries the random-trace-id flag. */
  random: boolean;
  /** An X-Ray `Root` without `Parent`: our root span must take this trace id. */
  seedTraceId: string | undefined;
}

/** The trace-context headers of a request (RequestHeaderScan's). */
export type TraceHeaders = Pick<
  RequestHeaderScan,
  "traceparent" | "tracestate" | "baggage" | "amznTraceId"
>;

/** Extracts the parent context from W3C headers, falling back to X-Amzn-Trace-Id. */
export function extractParent(headers: TraceHeaders): ExtractedParent {
  const parent = parseTraceParent(headers.traceparent);
  let ctx = REQUEST_ROOT_CONTEXT;
  let parentId: string | undefined;
  let random = false;
  let seedTraceId: string | undefined;
  if (parent) {
    const state = W3CTraceState.parse(headers.tracestate);
    ctx = trace.setSpanContext(ctx, {
      traceId: parent.traceId,
      spanId: parent.spanId,
      // Every flag is kept on the remote parent; the SDK's own spans keep only "sampled".
      traceFlags: parent.flags,
      isRemote: true,
      ...(state ? { traceState: state } : {}),
    });
    parentId = parent.spanId;
    random = (parent.flags & TRACE_FLAG_RANDOM) !== 0;
  } else {
    const amzn = parseAmznTraceId(headers.amznTraceId);
    const traceId = amzn?.root ? xrayToOtelTraceId(amzn.root) : undefined;
    if (amzn?.parent && traceId) {
      ctx = trace.setSpanContext(ctx, {
        traceId,
        spanId: amzn.parent,
        traceFlags: amzn.sampled === "0" ? TraceFlags.NONE : TraceFlags.SAMPLED,
        isRemote: true,
      });
      parentId = amzn.parent;
    } else if (traceId) {
      // A load balancer started the X-Ray trace (Root, no Parent): we are its first segment.
      seedTraceId = traceId;
    }
  }
  if (headers.baggage !== null) ctx = baggage.extract(ctx, headers.baggage, baggageGetter);
  return { context: ctx, parentId, random, seedTraceId };
}

export { clientAddress };

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

/**
 * What the answer tells its caller about the trace: Level 2's `traceresponse` for older
 * clients, `Server-Timing` for browser pages, and X-Ray's header when a segment was opened.
 */
function responseTraceHeaders(
  spanContext: SpanContext,
  random: boolean,
  amzn: string | undefined,
): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  if (isSpanContextValid(spanContext)) {
    const flags = spanContext.traceFlags | (random ? TRACE_FLAG_RANDOM : 0);
    const { traceId, spanId } = spanContext;
    headers.push(
      ["traceresponse", formatTraceParent(traceId, spanId, flags)],
      ["server-timing", formatServerTiming(traceId, spanId, flags)],
    );
  }
  if (amzn) headers.push(["x-amzn-trace-id", amzn]);
  return headers;
}

/** Creates the telemetry middleware. */
export function createHttpMiddleware(options: HttpMiddlewareOptions): MiddlewareHandler {
  const { tracer, store, logger, xray, logTrace, recorder } = options;
  const captured = options.captureRequestHeaders.filter((h) => !isSecretName(h));
  const addHeader = options.addResponseHeader;

  return async function telemetryMiddleware(c, next) {
    const facts = requestFacts(c);
    const { method, path, url, scheme, query, client, secrets, userAgent } = facts;
    const request = c.req.raw;
    const scan = facts.headers;
    const hostHeader = scan.host ?? urlHost(url);
    const [serverAddress, serverPort] = splitHost(hostHeader);
    recorder?.begin(method, scheme);
    const known = isKnownMethod(method);
    const attributes: Attributes = {
      "http.request.method": known ? method : "_OTHER",
      "url.path": path,
      "url.scheme": scheme,
    };
    if (!known) attributes["http.request.method_original"] = cap(method, 64);
    // Semantic conventions: an unknown method is named `HTTP` in the span name.
    const spanMethod = known ? method : "HTTP";
    const preflightFor = method === "OPTIONS"
      ? scan.corsRequestMethod?.trim().toUpperCase()
      : undefined;
    let route: string | undefined;
    if (preflightFor) {
      attributes[PREFLIGHT_ATTRIBUTE] = true;
      route = options.routeOf?.(preflightFor, path);
      if (route !== undefined) attributes["http.route"] = route;
    }
    if (query) attributes["url.query"] = query.slice(1);
    if (serverAddress) attributes["server.address"] = serverAddress;
    if (serverPort) attributes["server.port"] = serverPort;
    if (client) attributes["client.address"] = client;
    if (scan.forwardedFor !== null) attributes["aws.xray.x_forwarded_for"] = true;
    if (userAgent) attributes["user_agent.original"] = userAgent;
    for (const name of captured) {
      const value = request.headers.get(name);
      if (value !== null) {
        attributes[`http.request.header.${name}`] = [
          cap(scrubText(scrubHeaderValue(name, value), secrets), 256),
        ];
      }
    }

    let span: Span;
    let parent: OtelContext;
    let parentId: string | undefined;
    let random = false;
    const name = route !== undefined ? `${spanMethod} ${route}` : spanMethod;
    if (options.native) {
      parent = store.active();
      // Deno made the SERVER span; without one (tracing off in Deno) a no-op span stands in.
      span = trace.getSpan(parent) ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      for (const [key, value] of Object.entries(attributes)) {
        if (!DENO_SERVER_KEYS.has(key) && value !== undefined) {
          span.setAttribute(key, nativeValue(value));
        }
      }
    } else {
      const extracted = extractParent(scan);
      parentId = extracted.parentId;
      const start = () =>
        tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, extracted.context);
      const seed = extracted.seedTraceId;
      span = seed !== undefined && options.ids ? options.ids.seeded(seed, start) : start();
      // A continued trace keeps the caller's flag; ids we generate at random say so, while
      // X-Ray-style ids (a timestamp first) and a seeded X-Ray Root do not.
      random = parentId !== undefined
        ? extracted.random
        : seed === undefined && options.ids?.style === "random";
      parent = trace.setSpan(extracted.context, span);
      if (random) parent = parent.setValue(RANDOM_TRACE_ID_KEY, true);
    }
    const ctx = parent.setValue(SECRETS_KEY, secrets);
    c.set("telemetry", { span, secrets, origin: facts.origin } satisfies RequestTelemetry);

    let amzn: string | undefined;
    if (xray) {
      try {
        amzn = xray.begin(span, {
          method,
          host: hostHeader,
          path,
          amznTraceId: scan.amznTraceId,
          parentId,
        });
      } catch {
        // X-Ray is best effort; the request goes on without a segment.
      }
    }

    const spanContext = span.spanContext();
    const traceHeaders = responseTraceHeaders(spanContext, random, amzn);
    if (addHeader) { for (const [name, value] of traceHeaders) addHeader(c, name, value); }

    await store.with(ctx, innerNext(c, next, options.inner));

    const status = c.res.status;
    route ??= matchedRoute(c);
    const responseLength = options.responseBytes?.(c) ?? contentLength(c.res.headers);
    const errorType = c.get(HTTP_ERROR_TYPE_VAR);
    try {
      if (route !== undefined) {
        // A preflight's route was set at start (native mode must not set a key twice).
        if (!preflightFor) span.setAttribute("http.route", route);
        span.updateName(`${spanMethod} ${route}`);
      } else if (options.native && !known) {
        span.updateName(spanMethod); // Deno named it after the raw method
      }
      if (!options.native) span.setAttribute("http.response.status_code", status);
      if (responseLength !== undefined) {
        span.setAttribute(
          "http.response.body.size",
          options.native ? nativeValue(responseLength) : responseLength,
        );
      }
      if (c.error) recordError(span, c.error, secrets);
      // Deno's own span sets error.type on 5xx answers; native mode must not set it twice.
      if (errorType && !(options.native && status >= 500)) {
        span.setAttribute("error.type", errorType);
      }
      if (status >= 500 && !options.native) {
        span.setAttribute("error.type", c.error?.name ?? String(status));
        if (!c.error) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      if (!addHeader) {
        // Server-Timing may hold the app's own metrics too; the others are ours alone.
        for (const [name, value] of traceHeaders) {
          if (name === "server-timing") c.res.headers.append(name, value);
          else c.res.headers.set(name, value);
        }
      }
    } finally {
      if (!options.native) span.end();
    }
    const answer = {
      status,
      route,
      errorType,
      elapsedMs: performance.now() - facts.started,
      storeSource: c.get(STORE_SOURCE_VAR),
    };
    if (recorder) recordRequest(recorder, c, facts, { ...answer, responseBytes: responseLength });
    writeAccessLog(logger, logTrace(spanContext), facts, answer);
  };
}

/** Reads the request's telemetry state from the Hono context, if the middleware ran. */
export function requestTelemetry(c: Context): RequestTelemetry | undefined {
  return c.get("telemetry");
}
