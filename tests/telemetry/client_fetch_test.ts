import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { buildApp } from "../support/harness.ts";
import { startUdpListener } from "../support/udp_listener.ts";

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
      // X-Ray is off: the trace id we generated is random, and the random-trace-id flag says so.
      `00-${client.spanContext().traceId}-${client.spanContext().spanId}-03`,
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

Deno.test("a two-hop call is one X-Ray trace: X-Amzn-Trace-Id names the client subsegment", async () => {
  const daemon = await startUdpListener();
  const xrayEnv = { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` };
  const tuning = { xray: { flushIntervalMs: 5, random: () => 0 } };
  const callee = await buildApp({ ...xrayEnv, OTEL_SERVICE_NAME: "callee" }, tuning);
  let sent: string | null = null;
  const calleeListener = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    sent ??= req.headers.get("x-amzn-trace-id");
    return callee.app.fetch(req);
  });
  const calleeServer = {
    url: `http://127.0.0.1:${calleeListener.addr.port}`,
    close: () => calleeListener.shutdown(),
  };
  const caller = await buildApp({ ...xrayEnv, OTEL_SERVICE_NAME: "caller" }, tuning);
  try {
    caller.app.get("/hop", async (c) => {
      const res = await caller.telemetry.fetch(`${calleeServer.url}/api/activities/home?x=1`);
      await res.arrayBuffer();
      return c.text(String(res.status));
    });
    const res = await caller.app.request("/hop", { headers: { "user-agent": "u".repeat(400) } });
    assert.equal(await res.text(), "200");
    await caller.telemetry.forceFlush(Date.now() + 2000);
    await callee.telemetry.forceFlush(Date.now() + 2000);
    const sentCount = caller.telemetry.stats().xray!.sent + callee.telemetry.stats().xray!.sent;
    const docs = (await daemon.waitFor(sentCount)).map((d) => d.doc);
    assert.deepEqual(daemon.rejected, []);
    const callerSegment = docs.find((d) => d.name === "caller");
    const calleeSegment = docs.find((d) => d.name === "callee");
    const client = callerSegment.subsegments.find((s: { namespace?: string }) =>
      s.namespace === "remote"
    );
    // Named after the host called, with the http block, so the service map shows the callee.
    assert.equal(client.name, "127.0.0.1");
    assert.equal(client.http.request.method, "GET");
    assert.equal(client.http.request.url, `${calleeServer.url}/api/activities/home`);
    assert.equal(client.http.response.status, 200);
    assert.equal(typeof client.http.response.content_length, "number");
    assert.equal(sent, `Root=${callerSegment.trace_id};Parent=${client.id};Sampled=1`);
    assert.equal(calleeSegment.trace_id, callerSegment.trace_id);
    assert.equal(calleeSegment.parent_id, client.id);
    // The guide limits these strings to 250 characters.
    assert.equal(callerSegment.http.request.user_agent.length, 250);
    const clientSpan = caller.exporter.spans.find((s) => s.kind === SpanKind.CLIENT)!;
    assert.equal(client.id, clientSpan.spanContext().spanId);
  } finally {
    await caller.close();
    await calleeServer.close();
    await callee.close();
    await daemon.close();
  }
});

Deno.test("an unsampled X-Ray segment tells the callee Sampled=0", async () => {
  const daemon = await startUdpListener();
  const echo = startEcho();
  const h = await buildApp(
    { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}` },
    { xray: { flushIntervalMs: 5 } },
  );
  try {
    h.app.get("/hop", async (c) => {
      await (await h.telemetry.fetch(echo.url)).arrayBuffer();
      return c.text("ok");
    });
    const epoch = Math.floor(Date.now() / 1000).toString(16);
    const root = `1-${epoch}-a1b2c3d4e5f6a7b8c9d0e1f2`;
    await (await h.app.request("/hop", {
      headers: { "x-amzn-trace-id": `Root=${root};Parent=00f067aa0ba902b7;Sampled=0` },
    })).arrayBuffer();
    const header = echo.seen[0]?.get("x-amzn-trace-id") ?? "";
    assert.match(header, new RegExp(`^Root=${root};Parent=[0-9a-f]{16};Sampled=0$`));
  } finally {
    await h.close();
    await echo.close();
    await daemon.close();
  }
});
