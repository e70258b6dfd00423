import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import { until } from "../support/faults.ts";
import { buildApp, type Harness } from "../support/harness.ts";
import { bodyOf, sendAndVanish, statusOf } from "../support/raw_http.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";

const HEAD =
  "POST /api/activities HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";

async function withServedApp(
  run: (h: Harness, port: number, arrived: () => Promise<void>) => Promise<void>,
) {
  const rollbar = startRollbarStandIn();
  const h = await buildApp({
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  });
  // Resolves when a request reaches the app, so a test can send the rest of it afterwards.
  let arrival = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req, info) => {
    arrival.resolve();
    return h.app.fetch(req, info);
  });
  const arrived = async () => {
    await arrival.promise;
    arrival = Promise.withResolvers<void>();
  };
  try {
    await run(h, server.addr.port, arrived);
    await h.telemetry.forceFlush(Date.now() + 3000);
    assert.equal(rollbar.bodies.length, 0, "a client fault is not reported to Rollbar");
    assert.ok(!h.lines.some((l) => l.includes("Unhandled error")), "no error log");
    const errors = h.exporter.spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
    assert.deepEqual(errors.map((s) => s.name), [], "no span has ERROR status");
  } finally {
    await server.shutdown();
    await h.close();
    await rollbar.close();
  }
}

/** The request's SERVER span (named by method only when the body limit failed it). */
function serverSpan(h: Harness) {
  const span = h.exporter.spans.find((s) => s.attributes["url.path"] === "/api/activities");
  assert.ok(span, "the request has a span");
  return span;
}

function accessEvents(h: Harness) {
  return h.events().filter((e) => e.event === "access");
}

Deno.test("a client that resets mid-body (Content-Length): 499 client_closed_request in span and access log", async () => {
  await withServedApp(async (h, port) => {
    await sendAndVanish(port, `${HEAD}Content-Length: 100\r\n\r\n{"message":"hal`);
    await until(() => accessEvents(h).length === 1, 5000, "the access log entry");
    const [event] = accessEvents(h);
    assert.equal(event?.status, 499);
    assert.equal(event?.error_type, "client_aborted");
    const span = serverSpan(h);
    assert.equal(span.attributes["http.response.status_code"], 499);
    assert.equal(span.attributes["error.type"], "client_aborted");
    assert.equal(span.status.code, SpanStatusCode.UNSET);
  });
});

Deno.test("a client that resets mid-body (chunked, read by the body limit): 499 client_closed_request", async () => {
  await withServedApp(async (h, port) => {
    await sendAndVanish(port, `${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\n`);
    await until(() => accessEvents(h).length === 1, 5000, "the access log entry");
    assert.equal(accessEvents(h)[0]?.status, 499);
    assert.equal(accessEvents(h)[0]?.error_type, "client_aborted");
  });
});

Deno.test("an invalid chunk size: 400 malformed_body, not a server fault", async () => {
  await withServedApp(async (h, port, arrived) => {
    // The headers first, so the app is reading the body when the broken chunk arrives
    // (sent together, Deno refuses the request before any handler runs).
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(`${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\n`),
    );
    await arrived();
    await conn.write(new TextEncoder().encode("ZZ\r\nabc\r\n0\r\n\r\n"));
    const answer = await new Response(conn.readable).text();
    await until(() => accessEvents(h).length === 1, 5000, "the access log entry");
    assert.equal(statusOf(answer), 400, answer.slice(0, 80));
    assert.deepEqual(JSON.parse(bodyOf(answer)), ["malformed_body"]);
    const [event] = accessEvents(h);
    assert.equal(event?.status, 400);
    assert.equal(event?.error_type, "malformed_body");
    assert.equal(
      serverSpan(h).attributes["error.type"],
      "malformed_body",
    );
  });
});
