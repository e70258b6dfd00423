import assert from "node:assert/strict";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { TraceRequestProtobufEncoder } from "../../../telemetry/otlp/span_protobuf.ts";
import { ProtoWriter } from "../../../telemetry/otlp/protobuf.ts";
import { buildApp } from "../../support/harness.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { protobufToJson } from "../../support/otlp_protobuf.ts";
import { sdkSpans } from "../../support/otlp_spans.ts";
import { decodeTraces } from "../../support/otlp_signals.ts";

const stock = (spans: ReadableSpan[]) => ProtobufTraceSerializer.serializeRequest(spans)!;

/** Ours, and the stock serializer's, for the same spans: the same bytes, field for field. */
function assertSameAsStock(spans: ReadableSpan[]): Uint8Array {
  const ours = new TraceRequestProtobufEncoder().encode(spans);
  assert.equal(ours.unencodable, 0);
  assert.equal(ours.spans, spans.length);
  const expected = stock(spans);
  // Decoded first, so a difference shows as a field; then byte for byte.
  assert.deepEqual(protobufToJson("traces", ours.body), protobufToJson("traces", expected));
  assert.deepEqual(ours.body, expected, "byte for byte, in the stock serializer's field order");
  decodeTraces(protobufToJson("traces", ours.body)); // and a strict collector takes it
  return ours.body;
}

function spansWith(attributes: Record<string, unknown>[]): ReadableSpan[] {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("t");
  // deno-lint-ignore no-explicit-any
  for (const a of attributes) tracer.startSpan("s", { attributes: a as any }).end();
  return memory.spans;
}

Deno.test("TraceRequestProtobufEncoder writes the stock serializer's bytes for the app's own spans", async () => {
  const h = await buildApp({ OTEL_SERVICE_NAME: "backend-deno" });
  try {
    for (const path of ["/api/activities/home", "/api/activities/@andrewbrown", "/rollbar/test"]) {
      const res = await h.app.request(path, {
        headers: {
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          tracestate: "congo=t61rcWkgMzE",
          "user-agent": 'span-protobuf-test/1.0 "quoted" ü',
        },
      });
      await res.arrayBuffer();
    }
    const notFound = await h.app.request("/api/activities/%ZZ");
    await notFound.arrayBuffer();
    const spans = h.exporter.spans;
    assert.ok(spans.length >= 6, `${spans.length} spans`);
    const body = protobufToJson("traces", assertSameAsStock(spans));
    const all = body.resourceSpans.flatMap((r: { scopeSpans: { spans: unknown[] }[] }) =>
      r.scopeSpans.flatMap((s) => s.spans)
    );
    assert.ok(all.some((s: { traceState?: string }) => s.traceState === "congo=t61rcWkgMzE"));
    assert.ok(all.some((s: { flags: number }) => s.flags === 769), "remote parent: both bits");
  } finally {
    await h.close();
  }
});

Deno.test("TraceRequestProtobufEncoder writes the stock bytes for SDK spans: resources, scopes, events, links, status", () => {
  const spans = sdkSpans();
  const body = protobufToJson("traces", assertSameAsStock(spans));
  assert.equal(body.resourceSpans.length, 2, "grouped by resource");
  assert.equal(body.resourceSpans[0].scopeSpans.length, 2, "then by scope");
  const decoded = decodeTraces(body);
  const server = decoded.find((s) => s.name === "GET /api/x")!;
  assert.equal(
    server.attributes.text,
    'line\nbreak \u2028 "quote" \\ 😀 \ufffd',
    "UTF-8, lone surrogate replaced",
  );
  assert.deepEqual(server.attributes.holes, ["x", null, null]);
  assert.equal(server.attributes.big, 2 ** 60);
  assert.equal(server.attributes.negative, -7);
  assert.equal(server.links.length, 2);
  assert.equal(server.status.message, 'failed: "why"');
});

Deno.test("TraceRequestProtobufEncoder: batch after batch, the same bytes as the stock one-shot", () => {
  const spans = sdkSpans();
  const encoder = new TraceRequestProtobufEncoder();
  for (let i = 0; i < spans.length; i++) {
    assert.ok(encoder.add(spans[i]!));
    if (i % 2 === 1) encoder.write();
  }
  assert.equal(encoder.count, spans.length);
  assert.deepEqual(encoder.finish(), stock(spans));
  assert.equal(encoder.count, 0);
  assert.deepEqual(encoder.encode(spans).body, stock(spans));
  assert.deepEqual(encoder.encode(spans.slice(1, 3)).body, stock(spans.slice(1, 3)));
});

Deno.test("TraceRequestProtobufEncoder: a repeated attribute's cached bytes follow a changed value", () => {
  const values = [
    "GET",
    "GET",
    "GET",
    "POST",
    "POST",
    200,
    200,
    200,
    "200",
    true,
    true,
    1,
    1,
    1.5,
    1.5,
    [1],
    [1],
    "é",
    "é",
    "é",
  ];
  const spans = spansWith(values.map((k) => ({ k })));
  const encoder = new TraceRequestProtobufEncoder();
  for (let round = 0; round < 2; round++) {
    const body = encoder.encode(spans).body;
    assert.deepEqual(body, stock(spans));
    assert.deepEqual(
      decodeTraces(protobufToJson("traces", body)).map((s) => s.attributes.k),
      values,
    );
  }
});

Deno.test("TraceRequestProtobufEncoder: values of every size and sign, long strings, doubles", () => {
  const long = "x".repeat(200) + "ü".repeat(100);
  const spans = spansWith([
    { a: 0, b: -1, c: 2 ** 53 + 2, d: -(2 ** 62), e: 127, f: 128, g: 16_384, h: 2 ** 32 },
    { nan: Number.NaN, inf: Infinity, minus: -Infinity, huge: 1e21, tiny: 5e-324 },
    { long, ascii: "a".repeat(127), longer: "a".repeat(128), big: "b".repeat(20_000) },
  ]);
  assertSameAsStock(spans);
  const decoded = decodeTraces(
    protobufToJson("traces", new TraceRequestProtobufEncoder().encode(spans).body),
  );
  assert.equal(decoded[0]!.attributes.b, -1);
  assert.equal(decoded[0]!.attributes.d, -(2 ** 62));
  assert.equal(decoded[1]!.attributes.nan, "NaN");
  assert.equal(decoded[2]!.attributes.long, long);
  assert.equal((decoded[2]!.attributes.big as string).length, 20_000);
});

Deno.test("TraceRequestProtobufEncoder: a scope or resource whose only span could not be read leaves no empty group", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer("kept").startSpan("good").end();
  provider.getTracer("lonely").startSpan("bad").end();
  const [good, bad] = memory.spans;
  const broken = Object.create(bad!, {
    attributes: {
      get() {
        throw new Error("a throwing getter");
      },
    },
  }) as ReadableSpan;
  const otherResource = Object.create(bad!, {
    resource: { value: { ...bad!.resource, attributes: { other: true } } },
    attributes: {
      get() {
        throw new Error("a throwing getter");
      },
    },
  }) as ReadableSpan;
  const encoded = new TraceRequestProtobufEncoder().encode([broken, good!, otherResource]);
  assert.deepEqual([encoded.spans, encoded.unencodable], [1, 2]);
  const body = encoded.body;
  assert.deepEqual(body, stock([good!]));
});

Deno.test("TraceRequestProtobufEncoder leaves out a span it cannot read, counts it, and keeps the rest", () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("t");
  for (const name of ["a", "b", "c", "d"]) {
    tracer.startSpan(name, { attributes: { n: name } }).end();
  }
  const [a, b, c, d] = memory.spans;
  const broken = Object.create(b!, {
    attributes: {
      get() {
        throw new Error("a throwing getter");
      },
    },
  }) as ReadableSpan;
  const badTime = Object.create(c!, { endTime: { value: [undefined, 0] } }) as ReadableSpan;
  const context = { ...d!.spanContext(), spanId: 'ab"\\\n' };
  const badId = Object.create(d!, { spanContext: { value: () => context } }) as ReadableSpan;
  const encoder = new TraceRequestProtobufEncoder();
  const encoded = encoder.encode([broken, a!, badTime, badId]);
  assert.equal(encoded.spans, 1);
  assert.equal(encoded.unencodable, 3);
  assert.deepEqual(encoded.body, stock([a!]), "nothing of a span left out stays in the body");
});

Deno.test("TraceRequestProtobufEncoder writes a later batch into a released body's buffer, and never into one still out", async () => {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("reuse");
  for (let i = 0; i < 6; i++) tracer.startSpan(`span-${i}`).end();
  await provider.shutdown();
  const [a, b, c] = [memory.spans.slice(0, 2), memory.spans.slice(2, 4), memory.spans.slice(4)];
  const encoder = new TraceRequestProtobufEncoder();
  const first = encoder.encode(a).body;
  const firstCopy = first.slice();
  const second = encoder.encode(b).body;
  assert.notEqual(second.buffer, first.buffer, "a body not released is not written over");
  assert.deepEqual(first, firstCopy);
  encoder.release(first);
  const third = encoder.encode(c).body;
  assert.equal(third.buffer, first.buffer, "the released buffer is reused");
  assert.deepEqual(third, stock(c));
  assert.deepEqual(second, stock(b));
});

Deno.test("ProtoWriter: times as exact fixed64 nanoseconds, lengths placed for any size", () => {
  const cases: Array<[number, number]> = [
    [1_700_000_000, 0],
    [1_700_000_000, 999_999_999],
    [1_764_626_400, 123_456_789],
    [4_294_967_296, 1],
    [18_000_000_000, 5],
    [0, 42],
  ];
  for (const [s, n] of cases) {
    const w = new ProtoWriter(4);
    w.hrTime(s, n);
    const got = new DataView(w.bytes.buffer).getBigUint64(0, true);
    assert.equal(got, BigInt(s) * 1_000_000_000n + BigInt(n), `${s}, ${n}`);
  }
  const negative = new ProtoWriter(8);
  negative.hrTime(-5, 0);
  assert.deepEqual(negative.bytes.subarray(0, 8), new Uint8Array(8), "a negative time is 0");
  assert.throws(() => new ProtoWriter().hrTime(undefined as unknown as number, 0));
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 2_097_152]) {
    for (const reserved of [1, 2, 3]) {
      const w = new ProtoWriter(2);
      w.byte(0xaa);
      const start = w.begin(reserved);
      for (let i = 0; i < size; i++) w.byte(i & 0x7f);
      w.end(start, reserved);
      w.byte(0xbb);
      const json = protobufToJsonLength(w.bytes.subarray(0, w.pos));
      assert.equal(json, size, `length ${size} reserved ${reserved}`);
    }
  }
});

/** Reads back [0xaa][varint n][n bytes][0xbb], checking the varint is minimal. */
function protobufToJsonLength(bytes: Uint8Array): number {
  assert.equal(bytes[0], 0xaa);
  let at = 1;
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      assert.ok(at === 2 || b !== 0, "minimal varint");
      break;
    }
  }
  for (let i = 0; i < value; i++) assert.equal(bytes[at + i], i & 0x7f);
  assert.equal(bytes[at + value], 0xbb);
  assert.equal(bytes.length, at + value + 1);
  return value;
}
