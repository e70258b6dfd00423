import assert from "node:assert/strict";
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { LogLevel, LogTraceContext } from "../../../telemetry/logger.ts";
import { ATTRIBUTE_COUNT_LIMIT } from "../../../telemetry/otlp_logs/encode.ts";
import { LogsRequestProtobufEncoder } from "../../../telemetry/otlp_logs/encode_protobuf.ts";
import { TRUNCATION_MARKER } from "../../../telemetry/util/text.ts";
import { protobufToJson } from "../../support/otlp_protobuf.ts";
import { decodeLogs } from "../../support/otlp_signals.ts";

const TRACE: LogTraceContext = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  traceFlags: 1,
};
const RESOURCE = { "service.name": "backend-deno", "host.name": "ip-10-0-0-1" };
const SCOPE = { name: "cruddur-backend", version: "1.2.3" };
const SEVERITY: Record<LogLevel, number> = { debug: 5, info: 9, warn: 13, error: 17 };
const OWN_FIELDS = ["timestamp", "level", "message", "service", "trace_id", "span_id"];

function encoder(options: { maxRequestBytes?: number; maxRecordBytes?: number } = {}) {
  return new LogsRequestProtobufEncoder({ resource: RESOURCE, scope: SCOPE, ...options });
}

const decode = (body: Uint8Array) => decodeLogs(protobufToJson("logs", body));

/** The stock serializer's body for the same records (one resource and scope, as the SDK has). */
function stock(
  events: Array<[LogLevel, Record<string, unknown>, LogTraceContext | undefined]>,
  time: number,
): Uint8Array {
  const resource = resourceFromAttributes(RESOURCE);
  return ProtobufLogsSerializer.serializeRequest(events.map(([level, event, trace]) => {
    const attributes: Record<string, unknown> = {};
    for (const key in event) if (!OWN_FIELDS.includes(key)) attributes[key] = event[key];
    return {
      hrTime: [Math.floor(time / 1000), (time % 1000) * 1e6],
      hrTimeObserved: [Math.floor(time / 1000), (time % 1000) * 1e6],
      severityNumber: SEVERITY[level],
      severityText: level.toUpperCase(),
      body: event.message,
      attributes,
      droppedAttributesCount: 0,
      ...(trace ? { spanContext: { ...trace, traceFlags: trace.traceFlags ?? 0 } } : {}),
      resource,
      instrumentationScope: SCOPE,
    };
    // deno-lint-ignore no-explicit-any
  }) as any)!;
}

/** The byte size of each LogRecord message in a body (ResourceLogs 1 > ScopeLogs 2 > records 2). */
function recordSizes(body: Uint8Array): number[] {
  let at = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = body[at++]!;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return value;
    }
  };
  const sizes: number[] = [];
  assert.equal(varint(), 0x0a);
  varint();
  const skip = () => {
    const length = varint(); // read first: `at += varint()` would add to the old position
    at += length;
  };
  assert.equal(varint(), 0x0a); // resource
  skip();
  assert.equal(varint(), 0x12); // scope_logs
  varint();
  assert.equal(varint(), 0x0a); // scope
  skip();
  while (at < body.length) {
    assert.equal(varint(), 0x12);
    const size = varint();
    sizes.push(size);
    at += size;
  }
  return sizes;
}

Deno.test("LogsRequestProtobufEncoder writes the stock ProtobufLogsSerializer's bytes for the same records", () => {
  const events: Array<[LogLevel, Record<string, unknown>, LogTraceContext | undefined]> = [
    ["info", {
      timestamp: "2026-12-01T22:00:00.123Z",
      level: "info",
      message: "GET /api/activities/home 200",
      service: "backend-deno",
      trace_id: TRACE.traceId,
      span_id: TRACE.spanId,
      xray_trace_id: "1-5759e988-bd862e3fe1be46a994272793",
      event: "access",
      status: 200,
      duration_ms: 1.234,
      negative: -42,
      ok: true,
      nothing: null,
    }, TRACE],
    ["error", {
      message: 'Unhandled error: "quoted" \\ back\nslash\ttab \u0001 é ✓ 😀',
      error: { type: "TypeError", message: "x is not a function", nested: { deep: [1, "two"] } },
      list: [1, 2.5, "three", false, null, [4], { five: 5 }],
      empty: {},
      none: [],
      huge: 2 ** 60,
    }, { ...TRACE, traceFlags: 0 }],
    ["debug", { message: "no span", count: 0 }, undefined],
    ["warn", { message: "warned", "dotted.key": "v", "ключ": "значение" }, TRACE],
    // Repeated and changing values under the same keys, and bodies cycling through three:
    // what the encoder remembers from one record must never leak into the next.
    ["info", { message: "HomeActivities", event: "service", user_agent: "a" }, TRACE],
    ["info", { message: "GET /api/activities/home 200", event: "access", user_agent: "a" }, {
      ...TRACE,
      spanId: "1111111111111111",
    }],
    ["info", { message: "third", event: "access", user_agent: "a", status: "200" }, {
      traceId: "5759e988bd862e3fe1be46a994272793",
      spanId: "2222222222222222",
    }],
    ["info", { message: "HomeActivities", event: 7, user_agent: "a" }, TRACE],
    ["info", { message: "GET /api/activities/home 200", event: "access", user_agent: "b" }, TRACE],
    ["info", { message: "GET /api/activities/home 200", event: "access", user_agent: "b" }, TRACE],
    ["info", { message: "GET /api/activities/home 200", event: "access", user_agent: "c" }, TRACE],
  ];
  const ours = encoder();
  const time = 1_764_626_400_123;
  for (const [level, event, trace] of events) ours.add(level, event, time, trace);
  const [request] = ours.finish();
  const expected = stock(events, time);
  assert.deepEqual(protobufToJson("logs", request!.body), protobufToJson("logs", expected));
  assert.deepEqual(request!.body, expected, "byte for byte");
  // Again on the same encoder: what it remembers gives the same bytes.
  for (const [level, event, trace] of events) ours.add(level, event, time, trace);
  assert.deepEqual(ours.finish()[0]!.body, expected);
});

Deno.test("LogsRequestProtobufEncoder output passes the strict decoder: severity, body, ids, time, resource", () => {
  const ours = encoder();
  ours.add("info", { message: "first", status: 200 }, 1_764_626_400_123, TRACE);
  ours.add("error", { message: "second" }, 1_764_626_400_123.5, undefined);
  ours.add("warn", { message: "bad ids" }, 1_764_626_400_124, {
    traceId: "4BF92F3577B34DA6A3CE929D0E0E4736",
    spanId: "short",
  });
  ours.add("debug", { message: "zero ids" }, 1_764_626_400_125, {
    traceId: "0".repeat(32),
    spanId: "0".repeat(16),
  });
  assert.equal(ours.count, 4);
  const records = decode(ours.finish()[0]!.body);
  assert.equal(ours.count, 0, "the next request starts empty");
  assert.deepEqual(records.map((r) => [r.severityNumber, r.severityText, r.body]), [
    [9, "INFO", "first"],
    [17, "ERROR", "second"],
    [13, "WARN", "bad ids"],
    [5, "DEBUG", "zero ids"],
  ]);
  assert.equal(records[0]!.timeUnixNano, 1_764_626_400_123_000_000n, "exact nanoseconds");
  assert.equal(records[1]!.timeUnixNano, 1_764_626_400_123_500_000n);
  assert.equal(records[0]!.traceId, TRACE.traceId);
  assert.equal(records[0]!.spanId, TRACE.spanId);
  assert.equal(records[0]!.flags, 1);
  assert.equal(records[0]!.attributes.status, 200);
  for (const r of records.slice(1)) {
    assert.equal(r.traceId, "", "ids a collector would refuse are left out, the record kept");
    assert.equal(r.spanId, "");
  }
  assert.deepEqual(records[0]!.resource, RESOURCE);
});

Deno.test("LogsRequestProtobufEncoder keeps a batch valid whatever the values: empty keys, non-finite numbers, lone surrogates, too many attributes, a throwing event", () => {
  const ours = encoder();
  const many: Record<string, unknown> = { message: "many" };
  for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT + 5; i++) many[`k${i}`] = i;
  ours.add("info", many, 1, TRACE);
  const throwing = Object.defineProperty({ message: "throws", a: 1 }, "b", {
    enumerable: true,
    get() {
      throw new Error("a throwing getter");
    },
  });
  assert.throws(() => ours.add("info", throwing, 2, TRACE));
  ours.add(
    "info",
    {
      message: "odd \ud800 surrogate",
      "": "empty key",
      nested: { "": "empty nested key", kept: 1 },
      nan: Number.NaN,
      inf: -Infinity,
      huge: 2 ** 60,
      big: 12n,
      fn: () => {},
    },
    2,
    TRACE,
  );
  const requests = ours.finish();
  assert.deepEqual(requests.map((r) => r.records), [2], "the throwing record left no bytes");
  const json = protobufToJson("logs", requests[0]!.body);
  const [first, second] = decodeLogs(json);
  assert.equal(Object.keys(first!.attributes).length, ATTRIBUTE_COUNT_LIMIT);
  assert.equal(json.resourceLogs[0].scopeLogs[0].logRecords[0].droppedAttributesCount, 5);
  assert.equal(second!.body, "odd \ufffd surrogate", "valid UTF-8: the lone surrogate replaced");
  assert.equal("" in second!.attributes, false);
  assert.deepEqual(second!.attributes.nested, { kept: 1 });
  assert.equal(second!.attributes.nan, "NaN");
  assert.equal(second!.attributes.inf, "-Infinity");
  assert.equal(second!.attributes.huge, 2 ** 60);
  assert.equal(second!.attributes.big, "12");
  assert.equal(second!.attributes.fn, null, "no OTLP form: the empty value");
});

Deno.test("LogsRequestProtobufEncoder splits a batch over the body cap into requests in order, each under the cap", () => {
  const cap = 2_000;
  const ours = encoder({ maxRequestBytes: cap });
  for (let i = 0; i < 30; i++) {
    ours.add(
      "info",
      { message: `line ${i}`, i, text: i % 2 ? "é".repeat(90) : "🙂".repeat(45) },
      1,
      TRACE,
    );
  }
  assert.equal(ours.count, 30);
  const requests = ours.finish();
  assert.ok(requests.length > 2, `${requests.length} requests`);
  for (const request of requests) {
    assert.ok(request.body.byteLength <= cap, `${request.body.byteLength} bytes`);
  }
  for (let r = 0; r + 1 < requests.length; r++) {
    // Not split more than needed: the next request's first record would not have fitted.
    const next = recordSizes(requests[r + 1]!.body)[0]!;
    assert.ok(requests[r]!.body.byteLength + next + 2 > cap, "split only when full");
  }
  const records = requests.flatMap((r) => decode(r.body));
  assert.deepEqual(records.map((r) => r.attributes.i), [...Array(30).keys()]);
  assert.deepEqual(requests.map((r) => r.records), requests.map((r) => decode(r.body).length));
  assert.equal(ours.truncated, 0);
  assert.equal(ours.count, 0);
  // The next batch (the other buffer) does not touch these bodies.
  const copies = requests.map((r) => r.body.slice());
  ours.add("info", { message: "later" }, 1, TRACE);
  ours.finish();
  assert.deepEqual(requests.map((r) => r.body), copies);
});

Deno.test("LogsRequestProtobufEncoder shortens a record over the record cap with the truncation marker instead of losing it", () => {
  const cap = 1_000;
  const ours = encoder({ maxRecordBytes: cap });
  ours.add(
    "error",
    {
      message: `boom ${"m".repeat(3_000)}`,
      route: "/api/activities",
      detail: "é".repeat(5_000),
      nested: { stack: "s".repeat(4_000), line: 12 },
    },
    1,
    TRACE,
  );
  ours.add("info", { message: "next", i: 1 }, 2, TRACE);
  assert.equal(ours.truncated, 1);
  const [request] = ours.finish();
  const [big, next] = decode(request!.body);
  assert.ok(recordSizes(request!.body)[0]! <= cap, "the record fits its cap");
  assert.ok(recordSizes(request!.body)[0]! > cap * 0.9, "and is not cut more than needed");
  assert.ok(
    String(big!.body).startsWith("boom mmm") && String(big!.body).endsWith(TRUNCATION_MARKER),
  );
  assert.equal(big!.attributes.route, "/api/activities", "short values are kept whole");
  assert.ok(String(big!.attributes.detail).endsWith(TRUNCATION_MARKER));
  const nested = big!.attributes.nested as { stack: string; line: number };
  assert.ok(nested.stack.endsWith(TRUNCATION_MARKER));
  assert.equal(nested.line, 12);
  assert.equal(big!.traceId, TRACE.traceId);
  assert.deepEqual([next!.body, next!.attributes.i], ["next", 1]);
});

Deno.test("LogsRequestProtobufEncoder keeps the body of a record whose attributes alone pass the cap, counting them dropped", () => {
  const cap = 400;
  const ours = encoder({ maxRecordBytes: cap });
  const wide: Record<string, unknown> = { message: "wide record" };
  for (let i = 0; i < 100; i++) wide[`attribute_${i}`] = i;
  ours.add("warn", wide, 1, TRACE);
  assert.equal(ours.truncated, 1);
  const [request] = ours.finish();
  const json = protobufToJson("logs", request!.body);
  const [record] = decodeLogs(json);
  assert.equal(record!.body, "wide record");
  assert.deepEqual(record!.attributes, {});
  assert.equal(json.resourceLogs[0].scopeLogs[0].logRecords[0].droppedAttributesCount, 100);
  assert.ok(recordSizes(request!.body)[0]! <= cap);
});
