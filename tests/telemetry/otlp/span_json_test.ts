import assert from "node:assert/strict";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { TraceRequestEncoder, unixNanos } from "../../../telemetry/otlp/span_json.ts";
import { buildApp } from "../../support/harness.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { sdkSpans } from "../../support/otlp_spans.ts";
import { decodeTraces } from "../../support/otlp_signals.ts";

const text = new TextDecoder();
const stock = (spans: ReadableSpan[]) => text.decode(JsonTraceSerializer.serializeRequest(spans));

/** Ours, and the stock serializer's, for the same spans: the same text, field for field. */
function assertSameAsStock(spans: ReadableSpan[]): string {
  const ours = new TraceRequestEncoder().encode(spans);
  assert.equal(ours.unencodable, 0);
  assert.equal(ours.spans, spans.length);
  const body = text.decode(ours.body);
  assert.deepEqual(JSON.parse(body), JSON.parse(stock(spans)));
  assert.equal(body, stock(spans), "byte for byte, in the stock serializer's field order");
  decodeTraces(JSON.parse(body)); // and a strict collector takes it
  return body;
}

Deno.test("TraceRequestEncoder writes the stock serializer's text for the app's own spans", async () => {
  const h = await buildApp({ OTEL_SERVICE_NAME: "backend-deno" });
  try {
    for (const path of ["/api/activities/home", "/api/activities/@andrewbrown", "/rollbar/test"]) {
      const res = await h.app.request(path, {
        headers: {
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          tracestate: "congo=t61rcWkgMzE",
          "user-agent": 'span-json-test/1.0 "quoted"',
        },
      });
      await res.arrayBuffer();
    }
    const notFound = await h.app.request("/api/activities/%ZZ");
    await notFound.arrayBuffer();
    const spans = h.exporter.spans;
    assert.ok(spans.length >= 6, `${spans.length} spans`);
    const body = assertSameAsStock(spans);
    assert.ok(body.includes('"traceState":"congo=t61rcWkgMzE"'));
    assert.ok(body.includes('"flags":769'), "a remote parent sets both flag bits");
  } finally {
    await h.close();
  }
});

Deno.test("TraceRequestEncoder writes the stock text for SDK spans: resources, scopes, events, links, status", () => {
  const spans = sdkSpans();
  const body = assertSameAsStock(spans);
  const document = JSON.parse(body);
  assert.equal(document.resourceSpans.length, 2, "grouped by resource");
  assert.equal(document.resourceSpans[0].scopeSpans.length, 2, "then by scope");
  // deno-lint-ignore no-explicit-any
  const b = document.resourceSpans[0].scopeSpans.find((s: any) => s.scope.name === "b");
  assert.equal(b.schemaUrl, "https://opentelemetry.io/schemas/1.26.0");
});

Deno.test("TraceRequestEncoder: a batch written over several turns is the one-shot text", () => {
  const spans = sdkSpans();
  const encoder = new TraceRequestEncoder();
  for (let i = 0; i < spans.length; i++) {
    assert.ok(encoder.add(spans[i]!));
    if (i % 2 === 1) encoder.write();
  }
  assert.equal(encoder.count, spans.length);
  assert.equal(text.decode(encoder.finish()), stock(spans));
  // The encoder starts the next batch empty, with what it keeps (resource, scope, keys) reused.
  assert.equal(encoder.count, 0);
  assert.equal(text.decode(encoder.encode(spans).body), stock(spans));
  assert.equal(text.decode(encoder.encode(spans.slice(1, 3)).body), stock(spans.slice(1, 3)));
});

Deno.test("TraceRequestEncoder: a repeated attribute is rewritten when its value changes", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("t");
  const values = ["GET", "GET", "POST", 200, 200, "200", true, 1, 1.5, [1], [1]];
  for (const value of values) tracer.startSpan("s", { attributes: { k: value } }).end();
  const encoder = new TraceRequestEncoder();
  assert.equal(text.decode(encoder.encode(memory.spans).body), stock(memory.spans));
  const decoded = decodeTraces(JSON.parse(text.decode(encoder.encode(memory.spans).body)));
  assert.deepEqual(decoded.map((s) => s.attributes.k), values);
});

Deno.test("TraceRequestEncoder sends valid OTLP where the stock text is not: non-finite doubles, huge integers", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer("t").startSpan("s", {
    attributes: { nan: Number.NaN, inf: Infinity, minus: -Infinity, huge: 1e21 },
  }).end();
  const body = text.decode(new TraceRequestEncoder().encode(memory.spans).body);
  const attributes = JSON.parse(body).resourceSpans[0].scopeSpans[0].spans[0].attributes;
  assert.deepEqual(attributes, [
    { key: "nan", value: { doubleValue: "NaN" } },
    { key: "inf", value: { doubleValue: "Infinity" } },
    { key: "minus", value: { doubleValue: "-Infinity" } },
    { key: "huge", value: { doubleValue: 1e21 } },
  ]);
  // The stock text has null (NaN) and an int64 that does not exist (1e21).
  assert.match(stock(memory.spans), /"doubleValue":null/);
});

Deno.test("TraceRequestEncoder leaves out a span it cannot read, counts it, and keeps the rest", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("t");
  for (const name of ["a", "b", "c"]) tracer.startSpan(name).end();
  const [a, b, c] = memory.spans;
  const broken = Object.create(b!, {
    attributes: {
      get() {
        throw new Error("a throwing getter");
      },
    },
  }) as ReadableSpan;
  const badTime = Object.create(c!, { endTime: { value: [Number.NaN, 0] } }) as ReadableSpan;
  const encoded = new TraceRequestEncoder().encode([a!, broken, badTime]);
  assert.equal(encoded.spans, 1);
  assert.equal(encoded.unencodable, 2);
  assert.deepEqual(decodeTraces(JSON.parse(text.decode(encoded.body))).map((s) => s.name), ["a"]);
});

Deno.test("TraceRequestEncoder escapes an id that is not hex, so the body stays JSON", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer("t").startSpan("s").end();
  const span = memory.spans[0]!;
  const context = { ...span.spanContext(), spanId: 'ab"\\\n' };
  const odd = Object.create(span, { spanContext: { value: () => context } }) as ReadableSpan;
  const body = text.decode(new TraceRequestEncoder().encode([odd]).body);
  assert.equal(JSON.parse(body).resourceSpans[0].scopeSpans[0].spans[0].spanId, 'ab"\\\n');
  assert.equal(body, stock([odd]));
});

Deno.test("unixNanos() joins seconds and nanoseconds exactly, as the stock BigInt sum does", () => {
  const cases: Array<[number, number]> = [
    [1_700_000_000, 0],
    [1_700_000_000, 5],
    [1_700_000_000, 999_999_999],
    [1_700_000_000, 123_456_789],
    [1, 1],
    [0, 42],
    [0, 0],
  ];
  for (const time of cases) {
    assert.equal(unixNanos(time), (BigInt(time[0]) * 1_000_000_000n + BigInt(time[1])).toString());
  }
  assert.equal(unixNanos([-5, 0]), "0", "a negative time is not a uint64: 0");
  assert.throws(() => unixNanos([Number.NaN, 0]));
});

Deno.test("TraceRequestEncoder writes a later batch into a released body's buffer, and never into one still out", async () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("reuse");
  for (let i = 0; i < 6; i++) tracer.startSpan(`span-${i}`).end();
  await provider.shutdown();
  const [a, b, c] = [memory.spans.slice(0, 2), memory.spans.slice(2, 4), memory.spans.slice(4)];
  const encoder = new TraceRequestEncoder();
  const first = encoder.encode(a).body;
  const firstText = text.decode(first);
  const second = encoder.encode(b).body;
  assert.notEqual(second.buffer, first.buffer, "a body not released is not written over");
  assert.equal(text.decode(first), firstText);
  encoder.release(first);
  const third = encoder.encode(c).body;
  assert.equal(third.buffer, first.buffer, "the released buffer is reused");
  assert.equal(text.decode(third), stock(c));
  assert.equal(text.decode(second), stock(b));
});
