import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { buildApp } from "../support/harness.ts";

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
