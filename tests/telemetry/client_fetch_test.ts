import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { buildApp } from "../support/harness.ts";

/** A loopback server that records the headers of each request it gets. */
function startEcho(status = 200) {
  const seen: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(req.headers);
    return new Response("ok", { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("telemetry.fetch() makes a CLIENT span under the current span and sends traceparent", async () => {
  const echo = startEcho();
  const h = await buildApp();
  try {
    await h.telemetry.traced("call-downstream", async () => {
      const res = await h.telemetry.fetch(`${echo.url}/things?token=SEKRET-VALUE`);
      assert.equal(await res.text(), "ok");
    });
    const parent = h.exporter.byName("call-downstream");
    const client = h.exporter.byName("GET");
    assert.equal(client.kind, SpanKind.CLIENT);
    assert.equal(client.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(client.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(client.attributes["http.response.status_code"], 200);
    assert.equal(client.attributes["server.address"], "127.0.0.1");
    assert.equal(client.attributes["url.full"], `${echo.url}/things?token=REDACTED`);
    const sent = echo.seen[0]?.get("traceparent");
    assert.equal(
      sent,
      `00-${client.spanContext().traceId}-${client.spanContext().spanId}-01`,
      "the downstream service continues from the CLIENT span",
    );
  } finally {
    await h.close();
    await echo.close();
  }
});

Deno.test("telemetry.fetch() marks a 5xx answer as an error on the CLIENT span", async () => {
  const echo = startEcho(503);
  const h = await buildApp();
  try {
    const res = await h.telemetry.fetch(echo.url);
    await res.arrayBuffer();
    assert.equal(res.status, 503);
    const client = h.exporter.byName("GET");
    assert.equal(client.status.code, SpanStatusCode.ERROR);
    assert.equal(client.attributes["error.type"], "503");
  } finally {
    await h.close();
    await echo.close();
  }
});
