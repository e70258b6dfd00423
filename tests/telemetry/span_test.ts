import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { hrTimeToMicroseconds } from "@opentelemetry/core";
import { type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { loadConfig } from "../../config.ts";
import { REQUEST_ROOT_CONTEXT } from "../../telemetry/context.ts";
import { createTraceIds } from "../../telemetry/ids.ts";
import { RecordedSpan } from "../../telemetry/span.ts";
import { createTracerProvider } from "../../telemetry/tracing.ts";
import { SyncMemoryExporter } from "../support/memory_exporter.ts";

function setup(env: Record<string, string> = {}, style: "random" | "xray" = "random") {
  const exporter = new SyncMemoryExporter();
  const provider = createTracerProvider({
    config: loadConfig({ OTEL_TRACES_SAMPLER: "always_on", ...env }).otel,
    resource: { "service.name": "backend-deno" },
    ids: createTraceIds(style),
    processors: [new SimpleSpanProcessor(exporter)],
    recordUnsampled: false,
  });
  return { exporter, tracer: provider.getTracer("cruddur-backend", "9.9.9"), provider };
}

Deno.test("a recorded span is the ReadableSpan the SDK's processors export, with its scope and resource", () => {
  const { exporter, tracer } = setup();
  const span = tracer.startSpan("GET", {
    kind: SpanKind.SERVER,
    attributes: { "http.request.method": "GET", "server.port": 8080, skipped: undefined },
  }, REQUEST_ROOT_CONTEXT);
  assert.ok(span instanceof RecordedSpan);
  span.setAttribute("http.route", "/api/activities/home");
  span.updateName("GET /api/activities/home");
  span.end();
  const [done] = exporter.spans as [ReadableSpan];
  assert.equal(done.name, "GET /api/activities/home");
  assert.equal(done.kind, SpanKind.SERVER);
  assert.deepEqual(done.attributes, {
    "http.request.method": "GET",
    "server.port": 8080,
    "http.route": "/api/activities/home",
  });
  assert.equal(done.ended, true);
  assert.equal(span.isRecording(), false);
  assert.deepEqual(done.instrumentationScope, { name: "cruddur-backend", version: "9.9.9" });
  assert.equal(done.resource.attributes["service.name"], "backend-deno");
  assert.match(done.spanContext().traceId, /^[0-9a-f]{32}$/);
  assert.match(done.spanContext().spanId, /^[0-9a-f]{16}$/);
  assert.equal(done.spanContext().traceFlags, 1);
  assert.equal(done.parentSpanContext, undefined);
});

Deno.test("a child carries its parent's trace, a remote parent's trace state, and nests in time to the µs", () => {
  const { exporter, tracer } = setup();
  const remote = trace.setSpanContext(REQUEST_ROOT_CONTEXT, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    traceFlags: 1,
    isRemote: true,
  });
  const server = tracer.startSpan("server", { kind: SpanKind.SERVER }, remote);
  const child = tracer.startSpan("child", undefined, trace.setSpan(remote, server));
  child.end();
  server.end();
  const [c, s] = exporter.spans as [ReadableSpan, ReadableSpan];
  assert.equal(s.spanContext().traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(s.parentSpanContext?.spanId, "00f067aa0ba902b7");
  assert.equal(s.parentSpanContext?.isRemote, true);
  assert.equal(c.spanContext().traceId, s.spanContext().traceId);
  assert.equal(c.parentSpanContext?.spanId, s.spanContext().spanId);
  const us = (t: ReadableSpan["startTime"]) => hrTimeToMicroseconds(t);
  assert.ok(us(c.startTime) >= us(s.startTime), "child starts inside its parent");
  assert.ok(us(c.endTime) <= us(s.endTime), "child ends inside its parent");
  assert.ok(us(s.duration) >= us(c.duration));
  // The clock is epoch time (not the process's uptime), within a minute of Date.now().
  assert.ok(Math.abs(us(s.startTime) / 1000 - Date.now()) < 60_000);
});

Deno.test("limits: values capped to OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, 128 attributes then counted dropped", () => {
  const { exporter, tracer } = setup({ OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: "10" });
  const span = tracer.startSpan("limits", undefined, REQUEST_ROOT_CONTEXT);
  span.setAttribute("long", "x".repeat(60_000));
  span.setAttribute("list", ["y".repeat(20), "short"]);
  span.setAttribute("mixed", ["a", 3 as unknown as string]);
  for (let i = 0; i < 200; i++) span.setAttribute(`k${i}`, i);
  span.setAttribute("long", "replaced, and still capped");
  span.setAttribute("bad", { nested: true } as unknown as string);
  span.end();
  const [done] = exporter.spans as [ReadableSpan];
  assert.equal(done.attributes.long, "replaced, ");
  assert.deepEqual(done.attributes.list, ["yyyyyyyyyy", "short"]);
  assert.equal(done.attributes.mixed, undefined, "an array of mixed types is not a value");
  assert.equal(Object.keys(done.attributes).length, 128);
  assert.equal(done.droppedAttributesCount, 200 - 126);
  assert.equal(done.attributes.bad, undefined, "an object is not an attribute value");
});

Deno.test("status: UNSET never overrides, OK is final, ERROR keeps its message; nothing changes after end", () => {
  const { exporter, tracer } = setup();
  const a = tracer.startSpan("a", undefined, REQUEST_ROOT_CONTEXT);
  a.setStatus({ code: SpanStatusCode.ERROR, message: "broke" });
  a.setStatus({ code: SpanStatusCode.UNSET });
  a.end();
  a.setStatus({ code: SpanStatusCode.OK });
  a.setAttribute("late", 1);
  a.updateName("renamed late");
  a.end(); // a second end is ignored, not exported twice
  const b = tracer.startSpan("b", undefined, REQUEST_ROOT_CONTEXT);
  b.setStatus({ code: SpanStatusCode.OK });
  b.setStatus({ code: SpanStatusCode.ERROR, message: "too late" });
  b.end();
  assert.equal(exporter.spans.length, 2);
  const [doneA, doneB] = exporter.spans as [ReadableSpan, ReadableSpan];
  assert.deepEqual(doneA.status, { code: SpanStatusCode.ERROR, message: "broke" });
  assert.equal(doneA.name, "a");
  assert.equal(doneA.attributes.late, undefined);
  assert.deepEqual(doneB.status, { code: SpanStatusCode.OK });
});

Deno.test("recordException is an exception event with type, message and stack; events keep their time", () => {
  const { exporter, tracer } = setup();
  const span = tracer.startSpan("e", undefined, REQUEST_ROOT_CONTEXT);
  span.addEvent("checkpoint", { step: 2 });
  span.addEvent("at a time", [1_700_000_000, 5]);
  span.recordException(new TypeError("boom"));
  span.end();
  const [done] = exporter.spans as [ReadableSpan];
  assert.deepEqual(done.events.map((e) => e.name), ["checkpoint", "at a time", "exception"]);
  assert.deepEqual(done.events[0]!.attributes, { step: 2 });
  assert.deepEqual(done.events[1]!.time, [1_700_000_000, 5]);
  const exception = done.events[2]!.attributes!;
  assert.equal(exception["exception.type"], "TypeError");
  assert.equal(exception["exception.message"], "boom");
  assert.match(String(exception["exception.stacktrace"]), /TypeError: boom/);
});

Deno.test("an unsampled root is not recorded; a suppressed context gets an invalid span", async () => {
  const { exporter, tracer } = setup({ OTEL_TRACES_SAMPLER: "always_off" });
  const span = tracer.startSpan("dropped", undefined, REQUEST_ROOT_CONTEXT);
  assert.equal(span.isRecording(), false);
  assert.equal(span.spanContext().traceFlags, 0);
  assert.match(span.spanContext().traceId, /^[0-9a-f]{32}$/);
  span.end();
  assert.equal(exporter.spans.length, 0);
  const { suppressTracing } = await import("@opentelemetry/core");
  const on = setup();
  const quiet = on.tracer.startSpan("quiet", undefined, suppressTracing(REQUEST_ROOT_CONTEXT));
  assert.equal(trace.isSpanContextValid(quiet.spanContext()), false);
});

Deno.test("X-Ray-style trace ids start with the epoch seconds; span ids are 16 hex digits", () => {
  const { exporter, tracer } = setup({}, "xray");
  const before = Math.floor(Date.now() / 1000);
  tracer.startSpan("x", undefined, REQUEST_ROOT_CONTEXT).end();
  const after = Math.floor(Date.now() / 1000);
  const { traceId, spanId } = (exporter.spans[0] as ReadableSpan).spanContext();
  const seconds = parseInt(traceId.slice(0, 8), 16);
  assert.ok(seconds >= before && seconds <= after);
  assert.match(traceId, /^[0-9a-f]{32}$/);
  assert.match(spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(spanId, "0000000000000000");
});

Deno.test("duration: [-1, -1] until the end, then end minus start; an end before the start is a zero duration", () => {
  const { exporter, tracer } = setup();
  const span = tracer.startSpan(
    "timed",
    { startTime: [1_700_000_000, 900_000_000] },
    REQUEST_ROOT_CONTEXT,
  );
  assert.deepEqual((span as RecordedSpan).duration, [-1, -1]);
  span.end([1_700_000_002, 100_000_000]);
  const back = tracer.startSpan(
    "backwards",
    { startTime: [1_700_000_005, 0] },
    REQUEST_ROOT_CONTEXT,
  );
  back.end([1_700_000_004, 999_999_999]);
  const [timed, backwards] = exporter.spans as [ReadableSpan, ReadableSpan];
  assert.deepEqual(timed.duration, [1, 200_000_000]);
  assert.deepEqual(timed.endTime, [1_700_000_002, 100_000_000]);
  assert.deepEqual(backwards.duration, [0, 0]);
  assert.deepEqual(backwards.endTime, [1_700_000_005, 0]);
});
