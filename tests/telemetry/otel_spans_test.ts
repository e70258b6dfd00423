import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { buildApp } from "../support/harness.ts";
import { startUdpListener } from "../support/udp_listener.ts";

function childOf(child: ReadableSpan, parent: ReadableSpan): boolean {
  return child.parentSpanContext?.spanId === parent.spanContext().spanId &&
    child.spanContext().traceId === parent.spanContext().traceId;
}

Deno.test("GET /api/activities/home records a SERVER span and the seed's mock-data child", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("http://localhost:4567/api/activities/home", {
      headers: { "user-agent": "cruddur-test", "x-forwarded-for": "203.0.113.9, 10.0.0.1" },
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text);
    const server = h.exporter.byName("GET /api/activities/home");
    const child = h.exporter.byName("home-activities-mock-data");
    assert.equal(h.exporter.spans.length, 2);
    assert.equal(server.kind, SpanKind.SERVER);
    assert.equal(child.kind, SpanKind.INTERNAL);
    assert.ok(childOf(child, server));
    assert.equal(server.parentSpanContext, undefined);
    assert.deepEqual(server.attributes, {
      "http.request.method": "GET",
      "url.path": "/api/activities/home",
      "url.scheme": "http",
      "server.address": "localhost",
      "server.port": 4567,
      "client.address": "203.0.113.9",
      "aws.xray.x_forwarded_for": true,
      "user_agent.original": "cruddur-test",
      "http.route": "/api/activities/home",
      "http.response.status_code": 200,
      "http.response.body.size": new TextEncoder().encode(text).length,
    });
    assert.equal(server.status.code, SpanStatusCode.UNSET);
    assert.equal(child.attributes["app.result_length"], body.length);
    assert.equal(typeof child.attributes["app.now"], "string");
    assert.equal(server.resource.attributes["service.name"], "backend-deno");
    assert.equal(server.resource.attributes["deployment.environment.name"], "development");
    // No deprecated attribute beside its replacement.
    assert.equal(server.resource.attributes["deployment.environment"], undefined);
    // X-Ray is off here, so the id is random and says so (random-trace-id flag, 0x02).
    const traceresponse = res.headers.get("traceresponse");
    assert.deepEqual(
      traceresponse,
      `00-${server.spanContext().traceId}-${server.spanContext().spanId}-03`,
    );
  } finally {
    await h.close();
  }
});

Deno.test("GET /api/activities/@:handle names the span by template, never the raw path", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/activities/@andrewbrown");
    assert.equal(res.status, 200);
    const server = h.exporter.byName("GET /api/activities/@:handle");
    const service = h.exporter.byName("user-activities");
    const data = h.exporter.byName("mock-data");
    assert.equal(server.attributes["http.route"], "/api/activities/@:handle");
    assert.ok(childOf(service, server));
    assert.ok(childOf(data, service));
    assert.equal(service.attributes["aws.xray.name"], "user_activities");
    assert.equal(service.attributes["app.user_handle"], "andrewbrown");
    assert.equal(data.attributes["app.result_size"], 2);
  } finally {
    await h.close();
  }
});

Deno.test("every endpoint's service span is a child of its request span in one trace", async () => {
  const h = await buildApp();
  const json = { "content-type": "application/json" };
  const cases: Array<[string, RequestInit, string, string, number]> = [
    [
      "/api/activities/notifications",
      {},
      "GET /api/activities/notifications",
      "notification-mock-span",
      200,
    ],
    [
      "/api/activities/search?term=cloud",
      {},
      "GET /api/activities/search",
      "search-activities",
      200,
    ],
    [
      "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee",
      {},
      "GET /api/activities/:uuid",
      "show-activity",
      200,
    ],
    [
      "/api/activities",
      { method: "POST", headers: json, body: JSON.stringify({ message: "hi", ttl: "1-day" }) },
      "POST /api/activities",
      "create-activity",
      200,
    ],
    [
      "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply",
      { method: "POST", headers: json, body: JSON.stringify({ message: "hey" }) },
      "POST /api/activities/:uuid/reply",
      "create-reply",
      200,
    ],
    ["/api/message_groups", {}, "GET /api/message_groups", "message-groups", 200],
    ["/api/messages/@worf", {}, "GET /api/messages/@:handle", "messages", 200],
    [
      "/api/messages",
      {
        method: "POST",
        headers: json,
        body: JSON.stringify({ message: "yo", user_receiver_handle: "worf" }),
      },
      "POST /api/messages",
      "create-message",
      200,
    ],
  ];
  try {
    for (const [path, init, serverName, serviceName, status] of cases) {
      h.exporter.reset();
      const res = await h.app.request(path, init);
      assert.equal(res.status, status, path);
      await res.arrayBuffer();
      const server = h.exporter.byName(serverName);
      const service = h.exporter.byName(serviceName);
      assert.ok(childOf(service, server), `${serviceName} under ${serverName}`);
      assert.equal(server.attributes["http.response.status_code"], status);
    }
    h.exporter.reset();
    await h.app.request("/api/activities", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ message: "ttl", ttl: "3-hours" }),
    });
    assert.equal(h.exporter.byName("create-activity").attributes["app.ttl"], "3-hours");
  } finally {
    await h.close();
  }
});

Deno.test("notification-mock-span carries the seed's attribute and an OK status", async () => {
  const h = await buildApp();
  try {
    await (await h.app.request("/api/activities/notifications")).arrayBuffer();
    const span = h.exporter.byName("notification-mock-span");
    assert.equal(span.attributes["notification"], true);
    assert.equal(span.status.code, SpanStatusCode.OK);
  } finally {
    await h.close();
  }
});

Deno.test("a validation failure is an event on the service span, not an error", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "", ttl: "forever" }),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), ["ttl_blank", "message_blank"]);
    const server = h.exporter.byName("POST /api/activities");
    const service = h.exporter.byName("create-activity");
    assert.equal(server.status.code, SpanStatusCode.UNSET);
    assert.equal(service.status.code, SpanStatusCode.UNSET);
    assert.equal(service.events[0]?.name, "validation_failed");
    assert.equal(service.events[0]?.attributes?.["app.errors"], "ttl_blank,message_blank");
    assert.equal(server.attributes["http.response.status_code"], 422);
  } finally {
    await h.close();
  }
});

Deno.test("an unmatched route gets a low-cardinality span name and no http.route", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/does-not-exist/12345");
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), ["route_not_found"]);
    const [span] = h.exporter.spans;
    assert.equal(span?.name, "GET");
    assert.equal(span?.attributes["http.route"], undefined);
  } finally {
    await h.close();
  }
});

Deno.test("the query string is redacted on the span and url.full is never recorded", async () => {
  const h = await buildApp();
  try {
    await (await h.app.request("/api/activities/search?term=cloud&access_token=SEKRET123"))
      .arrayBuffer();
    const span = h.exporter.byName("GET /api/activities/search");
    assert.equal(span.attributes["url.query"], "term=REDACTED&access_token=REDACTED");
    assert.equal(span.attributes["url.full"], undefined);
    assert.ok(!JSON.stringify(h.exporter.spans.map((s) => s.attributes)).includes("SEKRET123"));
  } finally {
    await h.close();
  }
});

Deno.test("an unknown method is _OTHER with the original kept, and the span is named HTTP", async () => {
  const h = await buildApp();
  try {
    const res = await h.app.request("/api/activities/home", { method: "FOO" });
    await res.arrayBuffer();
    const [span] = h.exporter.spans;
    assert.equal(span?.name, "HTTP");
    assert.equal(span?.attributes["http.request.method"], "_OTHER");
    assert.equal(span?.attributes["http.request.method_original"], "FOO");
    assert.ok(!h.exporter.spans.some((s) => s.name.includes("FOO")));
  } finally {
    await h.close();
  }
});

Deno.test("a CORS preflight is named by the route it asks about and marked as a preflight", async () => {
  const h = await buildApp({ FRONTEND_URL: "http://localhost:3000" });
  try {
    const cases: Array<[string, string, string]> = [
      ["/api/activities/@andrewbrown", "GET", "/api/activities/@:handle"],
      [
        "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply",
        "POST",
        "/api/activities/:uuid/reply",
      ],
      ["/api/messages", "POST", "/api/messages"],
    ];
    for (const [path, method, route] of cases) {
      h.exporter.reset();
      const res = await h.app.request(path, {
        method: "OPTIONS",
        headers: {
          origin: "http://localhost:3000",
          "access-control-request-method": method,
          "access-control-request-headers": "traceparent",
        },
      });
      assert.equal(res.status, 204);
      const [span] = h.exporter.spans;
      assert.equal(span?.name, `OPTIONS ${route}`);
      assert.equal(span?.attributes["http.route"], route);
      assert.equal(span?.attributes["http.request.cors_preflight"], true);
      assert.equal(span?.attributes["http.request.method"], "OPTIONS");
    }
    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
    h.exporter.reset();
    await (await h.app.request("/api/messages", { method: "OPTIONS" })).arrayBuffer();
    assert.equal(h.exporter.spans[0]?.attributes["http.request.cors_preflight"], undefined);
  } finally {
    await h.close();
  }
});

/** Epoch nanoseconds of an HrTime, exactly. */
function ns([seconds, nanos]: [number, number]): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

/** Checks that each subsegment lies within its parent's [start_time, end_time]; returns count. */
// deno-lint-ignore no-explicit-any
function assertNested(doc: any, path: string): number {
  let count = 0;
  for (const sub of doc.subsegments ?? []) {
    const where = `${path} > ${sub.name}`;
    assert.ok(sub.start_time >= doc.start_time, `${where} starts before its parent`);
    assert.ok(sub.end_time <= doc.end_time, `${where} ends after its parent`);
    assert.ok(sub.end_time >= sub.start_time, `${where} ends before it starts`);
    count += 1 + assertNested(sub, where);
  }
  return count;
}

Deno.test("every span and X-Ray subsegment of every endpoint nests inside its parent in time", async () => {
  const daemon = await startUdpListener();
  const echo = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}`, ROLLBAR_ACCESS_TOKEN: "" },
    { xray: { flushIntervalMs: 5, random: () => 0 } },
  );
  h.app.get("/hop", async (c) => {
    await h.telemetry.traced("call-downstream", async () => {
      await (await h.telemetry.fetch(`http://127.0.0.1:${echo.addr.port}/`)).arrayBuffer();
    });
    return c.text("ok");
  });
  const json = { "content-type": "application/json" };
  const uuid = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
  const requests: Array<[string, RequestInit]> = [
    ["/api/activities/home", {}],
    ["/api/activities/notifications", {}],
    ["/api/activities/@andrewbrown", {}],
    ["/api/activities/search?term=cloud", {}],
    [`/api/activities/${uuid}`, {}],
    ["/api/activities", { method: "POST", headers: json, body: '{"message":"hi","ttl":"1-day"}' }],
    [`/api/activities/${uuid}/reply`, { method: "POST", headers: json, body: '{"message":"yo"}' }],
    ["/api/message_groups", {}],
    ["/api/messages/@worf", {}],
    [
      "/api/messages",
      { method: "POST", headers: json, body: '{"message":"m","user_receiver_handle":"worf"}' },
    ],
    ["/api/health-check", {}],
    ["/hop", {}],
  ];
  try {
    // Several rounds: a millisecond-truncated start shows up within a few requests.
    for (let round = 0; round < 3; round++) {
      for (const [path, init] of requests) {
        const res = await h.app.request(path, init);
        assert.ok(res.status < 400, `${path}: ${res.status}`);
        await res.arrayBuffer();
      }
    }
    const spans = h.exporter.spans;
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    let children = 0;
    for (const span of spans) {
      const parent = span.parentSpanContext && byId.get(span.parentSpanContext.spanId);
      if (!parent) continue;
      children++;
      const where = `${span.name} in ${parent.name}`;
      assert.ok(ns(span.startTime) >= ns(parent.startTime), `${where} starts before its parent`);
      assert.ok(ns(span.endTime) <= ns(parent.endTime), `${where} ends after its parent`);
    }
    assert.ok(children >= requests.length * 3, `only ${children} child spans`);
    // Microsecond resolution or better: starts are not cut to whole milliseconds.
    assert.ok(spans.some((s) => s.startTime[1] % 1_000_000 !== 0), "every start is a whole ms");

    await h.telemetry.forceFlush(Date.now() + 2000);
    const docs = (await daemon.waitFor(h.telemetry.stats().xray!.sent)).map((d) => d.doc);
    assert.deepEqual(daemon.rejected, []);
    let subsegments = 0;
    for (const doc of docs) subsegments += assertNested(doc, doc.name);
    assert.equal(subsegments, children);
  } finally {
    await h.close();
    await echo.shutdown();
    await daemon.close();
  }
});
