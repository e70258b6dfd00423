/**
 * Spans for the OTLP encoders' tests: SDK tracers over two resources and three scopes, with
 * every field of a span set (events, links, remote parents, trace state, status, every
 * attribute type), so an encoder is compared with the stock serializer on all of them.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { TraceState } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { SyncMemoryExporter } from "./memory_exporter.ts";

/** Spans of SDK tracers over two resources and three scopes, with every field set. */
export function sdkSpans(): ReadableSpan[] {
  const memory = new SyncMemoryExporter();
  const make = (resource: Record<string, string>) =>
    new BasicTracerProvider({
      resource: resourceFromAttributes(resource),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
  const one = make({ "service.name": "one", "unicode": 'ü € 😀 "quoted" \\ \n\t\u0001' });
  const two = make({ "service.name": "two" });
  const a = one.getTracer("a", "1.0.0");
  const b = one.getTracer("b", undefined, { schemaUrl: "https://opentelemetry.io/schemas/1.26.0" });
  const c = two.getTracer("c");
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    traceFlags: 1,
    isRemote: true,
    traceState: new TraceState("vendor=abc,other=xy"),
  });
  const server = a.startSpan("GET /api/x", {
    kind: SpanKind.SERVER,
    attributes: {
      "http.request.method": "GET",
      "http.response.status_code": 500,
      "ratio": 0.25,
      "negative": -7,
      "big": 2 ** 60,
      "flag": true,
      "off": false,
      "strings": ["a", '"b"', "ü"],
      "numbers": [1, 2.5, -3],
      "bools": [true, false],
      "holes": ["x", null, undefined] as unknown as string[],
      "empty": [],
      "text": 'line\nbreak \u2028 "quote" \\ 😀 \ud800',
    },
    links: [
      { context: trace.getSpanContext(remote)!, attributes: { "link.kind": "caused-by" } },
      {
        context: {
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b7ad6b7169203331",
          traceFlags: 0,
        },
      },
    ],
  }, remote);
  server.addEvent("plain");
  server.addEvent("with attributes", { "event.n": 3, "event.s": "x" });
  server.recordException(new TypeError('bad "input"'));
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'failed: "why"' });
  const ctx = trace.setSpan(remote, server);
  const child = b.startSpan("child", { kind: SpanKind.CLIENT }, ctx);
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  const other = c.startSpan("other", { kind: SpanKind.PRODUCER });
  other.end();
  const again = a.startSpan("same scope, later", { kind: SpanKind.CONSUMER }, ctx);
  again.end();
  server.end();
  return memory.spans;
}
