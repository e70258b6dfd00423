/**
 * `telemetry.fetch()`: an outgoing call with a CLIENT span (SDK mode) that carries the trace
 * to the callee in `traceparent` (every W3C flag), `tracestate`, `baggage` and, with X-Ray on,
 * `X-Amzn-Trace-Id: Root=…;Parent=<client subsegment id>;Sampled=…`, so a two-hop call is
 * one trace in both tools. In native mode Deno instruments `fetch` itself.
 */
import type { Span, Tracer } from "@opentelemetry/api";
import { SpanKind, SpanStatusCode, trace } from "./otel_api.ts";
import { W3CBaggagePropagator } from "./baggage.ts";
import { activeSecrets, type ContextStore, RANDOM_TRACE_ID_KEY } from "./context.ts";
import { redactUrl } from "./scrub.ts";
import { formatTraceParent, TRACE_FLAG_RANDOM } from "./trace_context.ts";
import { recordError } from "./traced.ts";

/** Options of {@link createTracedFetch}. */
export interface TracedFetchOptions {
  tracer: Tracer;
  store: ContextStore;
  /** Root spans get random trace ids (X-Ray off): a call made outside any trace flags it. */
  randomRoots?: boolean;
  /** The X-Amzn-Trace-Id value for a started CLIENT span, when X-Ray tracks its segment. */
  xrayHeader?: (span: Span) => string | undefined;
}

const baggage = new W3CBaggagePropagator();
const setter = { set: (h: Headers, k: string, v: string) => h.set(k, v) };

/** Creates the traced `fetch`. */
export function createTracedFetch(options: TracedFetchOptions) {
  const { tracer, store } = options;
  return async function tracedFetch(input: string | URL, init?: RequestInit): Promise<Response> {
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
    const { traceId, spanId, traceFlags, traceState } = span.spanContext();
    const randomId = parent.getValue(RANDOM_TRACE_ID_KEY) === true ||
      (options.randomRoots === true && trace.getSpan(parent) === undefined);
    const random = randomId ? TRACE_FLAG_RANDOM : 0;
    headers.set("traceparent", formatTraceParent(traceId, spanId, traceFlags | random));
    const state = traceState?.serialize();
    if (state) headers.set("tracestate", state);
    else headers.delete("tracestate");
    baggage.inject(ctx, headers, setter);
    const amzn = options.xrayHeader?.(span);
    if (amzn) headers.set("x-amzn-trace-id", amzn);
    try {
      const response = await store.with(ctx, () => fetch(url, { ...init, headers }));
      span.setAttribute("http.response.status_code", response.status);
      const length = response.headers.get("content-length");
      if (length && /^\d+$/.test(length)) {
        span.setAttribute("http.response.body.size", Number(length));
      }
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
  };
}
