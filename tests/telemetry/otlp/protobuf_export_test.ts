import assert from "node:assert/strict";
import { rejectedCount } from "../../../telemetry/otlp/encoding.ts";
import { RetryingSpanExporter } from "../../../telemetry/otlp/retry.ts";
import { TraceRequestProtobufEncoder } from "../../../telemetry/otlp/span_protobuf.ts";
import { OtlpHttpTransport } from "../../../telemetry/otlp/transport.ts";
import { buildApp } from "../../support/harness.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { partialSuccessResponse } from "../../support/otlp_protobuf.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

async function waitFor(test: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf: the request's spans and log records arrive as protobuf, decoded strictly, joined by the trace id", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=test-key-123",
    OTEL_SERVICE_NAME: "backend-deno",
    OTEL_BSP_SCHEDULE_DELAY: "20",
    OTEL_BLRP_SCHEDULE_DELAY: "20",
  });
  try {
    const res = await h.app.request("/api/activities/home", {
      headers: { traceparent: `00-${TRACE}-${PARENT}-01`, authorization: "Bearer canary-secret" },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const spans = await receiver.waitForSpans(2);
    await receiver.waitFor(() => receiver.logRecords().length >= 2, "two log records");
    const server = spans.find((s) => s.name === "GET /api/activities/home");
    const child = spans.find((s) => s.name === "home-activities-mock-data");
    assert.ok(server && child);
    assert.equal(server.traceId, TRACE);
    assert.equal(server.parentSpanId, PARENT);
    assert.equal(server.kind, 2, "SPAN_KIND_SERVER");
    assert.equal(child.parentSpanId, server.spanId);
    assert.equal(child.attributes["app.result_length"], 4);
    assert.equal(server.attributes["http.route"], "/api/activities/home");
    assert.equal(server.attributes["http.response.status_code"], 200);
    assert.equal(server.resource["service.name"], "backend-deno");
    for (const request of [...receiver.requests, ...receiver.logRequests]) {
      assert.equal(request.protocol, "http/protobuf");
      assert.equal(request.headers.get("content-type"), "application/x-protobuf");
      assert.equal(request.headers.get("x-honeycomb-team"), "test-key-123");
      assert.ok(!request.raw.includes("test-key-123"), "the key is a header, not data");
      assert.ok(!request.raw.includes("canary-secret"), "the secret is scrubbed");
    }
    const access = receiver.logRecords().find((r) => r.attributes.event === "access");
    assert.ok(access, "the access log record");
    assert.equal(access.traceId, TRACE, "the record's trace id is the request's");
    assert.equal(access.spanId, server.spanId);
    assert.equal(access.severityText, "INFO");
    await waitFor(
      () =>
        (h.telemetry.stats().traces?.sent ?? 0) >= 2 && (h.telemetry.stats().logs?.sent ?? 0) >= 2,
      "the answers counted",
    );
    assert.equal(h.telemetry.stats().traces?.failed, 0);
    assert.equal(h.telemetry.stats().logs?.failed, 0);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("http/protobuf: a collector's protobuf partial success counts the rejected spans", async () => {
  const receiver = startOtlpReceiver();
  const exporter = new RetryingSpanExporter(
    new OtlpHttpTransport({ url: `${receiver.url}/v1/traces`, protocol: "http/protobuf" }),
    { encoder: new TraceRequestProtobufEncoder(), timeoutMs: 5_000 },
  );
  try {
    const memory = new SyncMemoryExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    for (let i = 0; i < 5; i++) provider.getTracer("t").startSpan(`s${i}`).end();
    receiver.answer({ kind: "partial", rejected: 2 }, 1);
    const result = await new Promise((resolve) => exporter.export(memory.spans, resolve));
    assert.deepEqual(result, { code: 0 });
    assert.equal(exporter.counts.rejected, 2);
    assert.equal(exporter.counts.sent, 3);
    assert.equal(receiver.requests[0]!.protocol, "http/protobuf");
    assert.deepEqual(receiver.spans().map((s) => s.name), ["s0", "s1", "s2", "s3", "s4"]);
  } finally {
    await exporter.shutdown();
    await receiver.close();
  }
});

Deno.test("the OTLP stand-in refuses a malformed protobuf body with 400, and a body of an unknown type", async () => {
  const receiver = startOtlpReceiver();
  try {
    const post = (path: string, type: string, body: Uint8Array) =>
      fetch(`${receiver.url}${path}`, {
        method: "POST",
        headers: { "content-type": type },
        body: body as Uint8Array<ArrayBuffer>,
      }).then(async (r) => (await r.arrayBuffer(), r.status));
    const protobuf = "application/x-protobuf";
    // resource_spans with a length past the end; a span id of 3 bytes; an unknown field.
    assert.equal(await post("/v1/traces", protobuf, new Uint8Array([0x0a, 0x05, 0x0a])), 400);
    const shortId = [0x12, 0x03, 0x01, 0x02, 0x03];
    const traceId = [0x0a, 0x10, ...Array(16).fill(7)];
    const span = [
      ...traceId,
      ...shortId,
      0x2a,
      0x01,
      0x73,
      0x39,
      ...Array(8).fill(0),
      0x41,
      ...Array(8).fill(0),
    ];
    const scopeSpans = [0x12, span.length, ...span];
    const resourceSpans = [0x12, scopeSpans.length, ...scopeSpans];
    assert.equal(
      await post(
        "/v1/traces",
        protobuf,
        new Uint8Array([0x0a, resourceSpans.length, ...resourceSpans]),
      ),
      400,
    );
    assert.equal(await post("/v1/logs", protobuf, new Uint8Array([0x7a, 0x00])), 400);
    assert.equal(await post("/v1/logs", "text/plain", new Uint8Array([0x7b, 0x7d])), 400);
    assert.equal(await post("/v1/logs", protobuf, new Uint8Array(0)), 200, "an empty request");
  } finally {
    await receiver.close();
  }
});

Deno.test("rejectedCount reads a partial success in the answer's encoding, 0 for what it cannot read", () => {
  const protobuf = partialSuccessResponse(3, "too old");
  assert.equal(rejectedCount("http/protobuf", protobuf, "rejectedLogRecords"), 3);
  assert.equal(rejectedCount("http/protobuf", protobuf, "rejectedSpans"), 3);
  assert.equal(rejectedCount("http/protobuf", new Uint8Array(0), "rejectedSpans"), 0);
  assert.equal(rejectedCount("http/protobuf", new TextEncoder().encode("{}"), "rejectedSpans"), 0);
  assert.equal(
    rejectedCount("http/protobuf", new Uint8Array([0x0a, 0x09, 0x08]), "rejectedSpans"),
    0,
  );
  const json = new TextEncoder().encode('{"partialSuccess":{"rejectedLogRecords":"4"}}');
  assert.equal(rejectedCount("http/json", json, "rejectedLogRecords"), 4);
  assert.equal(rejectedCount("http/json", protobuf, "rejectedLogRecords"), 0);
});
