/**
 * A traces batch the receiver refuses as too large (413) is sent again in halves: every span
 * arrives once, in order, under its own resource and scope, whichever encoding; what cannot
 * fit even alone fails and is counted.
 */
import assert from "node:assert/strict";
import { ExportResultCode } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { SpanBatchEncoder } from "../../../telemetry/otlp/encoding.ts";
import { MAX_SPLIT_DEPTH, RetryingSpanExporter } from "../../../telemetry/otlp/retry.ts";
import { TraceRequestEncoder } from "../../../telemetry/otlp/span_json.ts";
import { TraceRequestProtobufEncoder } from "../../../telemetry/otlp/span_protobuf.ts";
import { halveTraceRequest } from "../../../telemetry/otlp/split.ts";
import { OtlpHttpTransport } from "../../../telemetry/otlp/transport.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";
import { protobufToJson } from "../../support/otlp_protobuf.ts";
import { decodeTraces, type ReceivedSpan } from "../../support/otlp_signals.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { until } from "../../support/faults.ts";

const ENCODERS: Record<string, () => SpanBatchEncoder> = {
  "http/json": () => new TraceRequestEncoder(),
  "http/protobuf": () => new TraceRequestProtobufEncoder(),
};

/** `n` finished spans from two scopes (alternating), each with a `pad`-character attribute. */
async function makeSpans(n: number, pad = 10): Promise<ReadableSpan[]> {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracers = [provider.getTracer("scope-a"), provider.getTracer("scope-b", "2.0")];
  for (let i = 0; i < n; i++) {
    const span = tracers[i % 2]!.startSpan(`span-${i}`, {
      attributes: { "test.index": i, "test.pad": "x".repeat(pad), "test.ratio": i / 3 },
    });
    span.addEvent("tick", { "event.index": i });
    span.end();
  }
  await provider.shutdown();
  return [...memory.spans];
}

function decode(protocol: string, body: Uint8Array): ReceivedSpan[] {
  return decodeTraces(
    protocol === "http/protobuf"
      ? protobufToJson("traces", body)
      : JSON.parse(new TextDecoder().decode(body)),
  );
}

/** What a span carries that a split must not change. */
function facts(span: ReceivedSpan) {
  return {
    name: span.name,
    spanId: span.spanId,
    scope: span.scope,
    attributes: span.attributes,
    events: span.events,
    start: span.startTimeUnixNano,
    resource: span.resource,
  };
}

for (const [protocol, encoder] of Object.entries(ENCODERS)) {
  Deno.test(`halveTraceRequest (${protocol}): two requests, the spans in order, each under its own resource and scope`, async () => {
    const spans = await makeSpans(7);
    const encoded = encoder().encode(spans);
    const whole = decode(protocol, encoded.body);
    const halves = halveTraceRequest(protocol as "http/json", encoded.body);
    assert.ok(halves);
    assert.deepEqual(halves.map((h) => h.spans), [3, 4]);
    const first = decode(protocol, halves[0].body);
    const second = decode(protocol, halves[1].body);
    assert.deepEqual([first.length, second.length], [3, 4]);
    assert.deepEqual([...first, ...second].map(facts), whole.map(facts));
    // The body groups spans by scope (4 of scope-a, then 3 of scope-b): the cut falls inside
    // scope-a, so the second request carries both scopes, each with its own spans.
    assert.deepEqual(first.map((s) => s.scope), ["scope-a", "scope-a", "scope-a"]);
    assert.deepEqual(second.map((s) => s.scope), ["scope-a", "scope-b", "scope-b", "scope-b"]);
    // Halving a half goes on down to single spans; a single span cannot be halved.
    const quarter = halveTraceRequest(protocol as "http/json", halves[0].body);
    assert.deepEqual(quarter?.map((h) => h.spans), [1, 2]);
    assert.equal(halveTraceRequest(protocol as "http/json", quarter![0].body), undefined);
  });
}

Deno.test("halveTraceRequest: a body it cannot read is not halved", () => {
  const text = new TextEncoder();
  assert.equal(halveTraceRequest("http/json", text.encode("not json")), undefined);
  assert.equal(halveTraceRequest("http/json", text.encode('{"resourceSpans":7}')), undefined);
  assert.equal(halveTraceRequest("http/protobuf", new Uint8Array([0x0a, 0x7f, 1])), undefined);
  assert.equal(halveTraceRequest("http/protobuf", new Uint8Array(0)), undefined);
});

function exportOnce(exporter: RetryingSpanExporter, spans: ReadableSpan[]) {
  return new Promise<ExportResultCode>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
}

function setup(protocol: string, maxTraceBodyBytes: number) {
  const receiver = startOtlpReceiver({ maxTraceBodyBytes });
  const diagnostics: string[] = [];
  const exporter = new RetryingSpanExporter(
    new OtlpHttpTransport({
      url: `${receiver.url}/v1/traces`,
      ...(protocol === "http/protobuf" ? { protocol: "http/protobuf" as const } : {}),
    }),
    {
      timeoutMs: 2000,
      maxBufferedSpans: 1000,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
      encoder: ENCODERS[protocol]!(),
      diagnostic: (m) => diagnostics.push(m),
    },
  );
  return { receiver, exporter, diagnostics };
}

for (const protocol of Object.keys(ENCODERS)) {
  Deno.test(`retry layer (${protocol}): a batch over the receiver's body limit arrives in halves, every span once, in order`, async () => {
    const spans = await makeSpans(64, 2000);
    const whole = encodedSize(protocol, spans);
    // About a third of the batch fits: the halves are halved once more.
    const { receiver, exporter, diagnostics } = setup(protocol, Math.ceil(whole / 3));
    try {
      assert.equal(await exportOnce(exporter, spans), ExportResultCode.SUCCESS);
      const refused = receiver.requests.filter((r) => r.status === 413);
      const accepted = receiver.requests.filter((r) => r.status === 200);
      assert.deepEqual([refused.length, accepted.length], [3, 4]); // 64 -> 2 x 32 -> 4 x 16
      assert.deepEqual(
        receiver.spans().map(facts),
        decode(protocol, encoded(protocol, spans)).map(facts),
      );
      const c = exporter.counts;
      assert.deepEqual([c.sent, c.failed, c.dropped, exporter.pending()], [64, 0, 0, 0]);
      assert.equal(diagnostics.filter((d) => d.includes("413")).length, 1, diagnostics.join("\n"));
    } finally {
      await exporter.shutdown();
      await receiver.close();
    }
  });
}

Deno.test("retry layer: a batch still too large after 4 halvings fails, counted", async () => {
  const spans = await makeSpans(32, 4000);
  const { receiver, exporter, diagnostics } = setup("http/json", 1000);
  try {
    assert.equal(await exportOnce(exporter, spans), ExportResultCode.FAILED);
    const c = exporter.counts;
    assert.deepEqual([c.sent, c.failed, c.dropped, exporter.pending()], [0, 32, 0, 0]);
    // 1 + 2 + 4 + 8 + 16 requests: the 16 parts of 2 spans are not halved again.
    assert.equal(MAX_SPLIT_DEPTH, 4);
    assert.equal(receiver.requests.length, 31);
    assert.ok(receiver.requests.every((r) => r.status === 413));
    assert.ok(diagnostics.some((d) => d.includes("failed, not retryable")), diagnostics.join("\n"));
  } finally {
    await exporter.shutdown();
    await receiver.close();
  }
});

Deno.test("retry layer: a batch held through an outage and refused as too large when the receiver is back goes in halves", async () => {
  const spans = await makeSpans(16, 2000);
  const whole = encodedSize("http/json", spans);
  // A port with nothing on it first: the batch waits in the retry buffer.
  const probe = startOtlpReceiver();
  const port = Number(new URL(probe.url).port);
  await probe.close();
  const exporter = new RetryingSpanExporter(
    new OtlpHttpTransport({ url: `http://127.0.0.1:${port}/v1/traces` }),
    { timeoutMs: 500, initialBackoffMs: 20, maxBackoffMs: 50, maxBufferedSpans: 100 },
  );
  let receiver: ReturnType<typeof startOtlpReceiver> | undefined;
  try {
    await exportOnce(exporter, spans);
    await until(() => exporter.counts.retried >= 1, 20_000);
    assert.equal(exporter.pending(), 16);
    receiver = startOnPort(port, Math.ceil(whole * 0.6));
    await until(() => exporter.pending() === 0, 20_000);
    assert.deepEqual(
      receiver.spans().map(facts),
      decode("http/json", encoded("http/json", spans)).map(facts),
    );
    assert.deepEqual(receiver.requests.map((r) => r.status), [413, 200, 200]);
    const c = exporter.counts;
    assert.deepEqual([c.sent, c.failed, c.dropped], [16, 0, 0]);
  } finally {
    await exporter.shutdown();
    await receiver?.close();
  }
});

function startOnPort(port: number, maxTraceBodyBytes: number) {
  return startOtlpReceiver({ maxTraceBodyBytes, port });
}

function encoded(protocol: string, spans: ReadableSpan[]): Uint8Array {
  return ENCODERS[protocol]!().encode(spans).body;
}

function encodedSize(protocol: string, spans: ReadableSpan[]): number {
  return encoded(protocol, spans).byteLength;
}
