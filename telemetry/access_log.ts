/**
 * The access log event every request writes after its answer, and the request middleware for
 * when nothing traces (OTEL_SDK_DISABLED and no X-Ray): the same event and metrics, without the
 * span, the attributes or a context to enter unless the request has secrets to scrub.
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { type ContextStore, REQUEST_ROOT_CONTEXT, SECRETS_KEY } from "./context.ts";
import { cap, type Logger, type LogTraceContext } from "./logger.ts";
import type { RequestRecorder } from "./metrics/http_server.ts";
import { redactQuery, type RequestHeaderScan, scanRequestHeaders, scrubText } from "./scrub.ts";
import type { Span } from "@opentelemetry/api";
import { INVALID_SPAN_CONTEXT, trace } from "./otel_api.ts";

/** The Hono variable a route sets when its template is not its path pattern. */
export const HTTP_ROUTE_VAR = "httpRoute" as const;
/** The Hono variable naming a client fault (`error.type`, access-log `error_type`). */
export const HTTP_ERROR_TYPE_VAR = "httpErrorType" as const;
/**
 * The Hono variable a route sets when the store answered from memory while its database was
 * starting (`snapshot`, `seed`): the access log's `store_source` (services/store/warm_start.ts).
 */
export const STORE_SOURCE_VAR = "storeSource" as const;

/** Per-request telemetry state, kept on the Hono context. */
export interface RequestTelemetry {
  span: Span;
  secrets: Set<string>;
  /** The Origin header, read with the secrets (null: none). */
  origin: string | null;
}

declare module "hono" {
  interface ContextVariableMap {
    httpRoute: string;
    httpErrorType: string;
    storeSource: string;
    telemetry: RequestTelemetry;
  }
}

const MAX_USER_AGENT = 512;
const UNMATCHED = new Set(["", "*", "/*"]);
/** Methods whose body a route may parse (and mark secret fields of: see `markSecret`). */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** What the access log and the span both read of a request, scrubbed once. */
export interface RequestFacts {
  started: number;
  method: string;
  path: string;
  url: string;
  scheme: "http" | "https";
  /** `?…` redacted, or "". */
  query: string;
  client: string | undefined;
  /** The request's secret values (headers, query), growing as a route marks body fields. */
  secrets: Set<string>;
  userAgent: string | null;
  /** The Origin header (null: none). */
  origin: string | null;
  /** The headers the telemetry reads, from the same pass (raw: not scrubbed). */
  headers: RequestHeaderScan;
}

/** The client: the first X-Forwarded-For entry (as X-Ray and the seed do), else the socket peer. */
export function clientAddress(c: Context): string | undefined {
  return clientFrom(c.req.header("x-forwarded-for") ?? null, c);
}

function clientFrom(forwarded: string | null, c: Context): string | undefined {
  if (forwarded) return forwarded.split(",")[0]?.trim() || undefined;
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname;
}

/** Reads the request's facts; secrets first, so the rest is scrubbed with them. */
export function requestFacts(c: Context): RequestFacts {
  const started = performance.now();
  const request = c.req.raw;
  const url = request.url;
  const queryAt = url.indexOf("?");
  const secrets = new Set<string>();
  // One pass over the headers: the secrets, and the headers read below and by the CORS check.
  const headers = scanRequestHeaders(request.headers, url, secrets);
  const { userAgent: rawUserAgent, forwardedFor, origin } = headers;
  return {
    started,
    method: request.method,
    path: c.req.path,
    url,
    scheme: url.startsWith("https:") ? "https" : "http",
    query: queryAt >= 0 ? redactQuery(url.slice(queryAt)) : "",
    client: clientFrom(forwardedFor, c),
    secrets,
    origin,
    headers,
    // scrubHeaderValue's rule for a header neither secret nor a Referer: its secret shapes.
    userAgent: rawUserAgent === null ? null : cap(scrubText(rawUserAgent, secrets), MAX_USER_AGENT),
  };
}

/** The request's Origin header: as the telemetry middleware read it, else looked up. */
export function requestOrigin(c: Context): string | undefined {
  const telemetry = c.get("telemetry");
  return telemetry === undefined ? c.req.header("origin") : telemetry.origin ?? undefined;
}

/** The route the request matched, when a handler (not only middleware) answered it. */
export function matchedRoute(c: Context): string | undefined {
  const route = c.get(HTTP_ROUTE_VAR) ?? routePath(c);
  // A route ending in a wildcard is middleware: no handler matched (404/405).
  return UNMATCHED.has(route) || route.endsWith("*") ? undefined : route;
}

/** How a request was answered. */
export interface Answer {
  status: number;
  route: string | undefined;
  errorType: string | undefined;
  /** One clock read for the metrics and the access log: they report the same request. */
  elapsedMs: number;
  /** Where the store answered from, when not its database (STORE_SOURCE_VAR). */
  storeSource?: string | undefined;
}

/** Writes the access log event of a finished request. */
export function writeAccessLog(
  logger: Logger,
  trace: LogTraceContext | undefined,
  facts: RequestFacts,
  answer: Answer,
): void {
  if (!logger.enabled("info")) return;
  const { method, path } = facts;
  const { status } = answer;
  logger.logWith("info", trace, `${method} ${path} ${status}`, {
    event: "access",
    method,
    scheme: facts.scheme,
    path,
    query: facts.query || undefined,
    route: answer.route,
    status,
    error_type: answer.errorType,
    store_source: answer.storeSource,
    duration_ms: Math.round(answer.elapsedMs * 1000) / 1000,
    client_address: facts.client,
    user_agent: facts.userAgent ?? undefined,
  });
}

/** Feeds the HTTP server metrics a finished request. */
export function recordRequest(
  recorder: RequestRecorder,
  c: Context,
  facts: RequestFacts,
  answer: Answer & { responseBytes: number | undefined },
): void {
  const requestLength = facts.headers.contentLength;
  recorder.end({
    method: facts.method,
    scheme: facts.scheme,
    route: answer.route,
    status: answer.status,
    durationSeconds: answer.elapsedMs / 1000,
    // As on the span: the 5xx's cause, or the client fault a route named.
    errorType: answer.status >= 500 ? c.error?.name ?? String(answer.status) : answer.errorType,
    requestBytes: requestLength ? Number(requestLength) || 0 : undefined,
    responseBytes: answer.responseBytes,
  });
}

/**
 * A layer run inside the telemetry's: Hono's `MiddlewareHandler` contract except that it
 * handles its own errors (a Hono layer's thrown error is caught by `compose` and given to
 * `onError`; this one must do that itself, so the telemetry always sees the answer).
 */
export type InnerLayer = (c: Context, next: () => Promise<void>) => Promise<Response | void>;

/**
 * `next` for the telemetry's scope: the inner layer with `next`, its answer made the
 * context's as `compose` does (a refusal returned before `next` ran), or `next` itself.
 */
export function innerNext(
  c: Context,
  next: () => Promise<void>,
  inner: InnerLayer | undefined,
): () => Promise<void> {
  if (inner === undefined) return next;
  return async () => {
    const res = await inner(c, next);
    if (res && !c.finalized) c.res = res;
  };
}

/** Options of `createAccessLogMiddleware`. */
export interface AccessLogMiddlewareOptions {
  store: ContextStore;
  logger: Logger;
  recorder?: RequestRecorder;
  responseBytes?: (c: Context) => number | undefined;
  /** The app's next layer, run inside this one (HttpMiddlewareOptions.inner). */
  inner?: InnerLayer;
}

/**
 * The middleware when nothing traces. The request's secrets still reach every log line: the
 * context holding them is entered when there are some, or when a route may parse a body and
 * mark its fields secret.
 */
export function createAccessLogMiddleware(options: AccessLogMiddlewareOptions): MiddlewareHandler {
  const { store, logger, recorder, inner } = options;
  return async function accessLogMiddleware(c, next) {
    const facts = requestFacts(c);
    recorder?.begin(facts.method, facts.scheme);
    c.set("telemetry", { span: NO_SPAN, secrets: facts.secrets, origin: facts.origin });
    const run = innerNext(c, next, inner);
    if (facts.secrets.size > 0 || BODY_METHODS.has(facts.method)) {
      await store.with(REQUEST_ROOT_CONTEXT.setValue(SECRETS_KEY, facts.secrets), run);
    } else {
      await run();
    }
    const status = c.res.status;
    const answer = {
      status,
      route: matchedRoute(c),
      errorType: c.get(HTTP_ERROR_TYPE_VAR),
      elapsedMs: performance.now() - facts.started,
      storeSource: c.get(STORE_SOURCE_VAR),
    };
    if (recorder) {
      const responseBytes = options.responseBytes?.(c) ?? contentLength(c.res.headers);
      recordRequest(recorder, c, facts, { ...answer, responseBytes });
    }
    writeAccessLog(logger, undefined, facts, answer);
  };
}

/** A Content-Length header's value, when it is a length. */
export function contentLength(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  if (!value) return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}
