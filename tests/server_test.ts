import assert from "node:assert/strict";
import { buildApp, serve } from "./support/harness.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { type Backend, startBackend } from "./support/backend.ts";
import { startCloudWatchStandIn } from "./support/cloudwatch_standin.ts";
import { AWS_ENV } from "./support/faults.ts";
import { startRollbarStandIn } from "./support/rollbar_standin.ts";
import { startUdpListener } from "./support/udp_listener.ts";

const TRACE_ID = "5759e988bd862e3fe1be46a994272793";
const PARENT_ID = "53995c3f42cd8ad8";

Deno.test("a request through a real Deno.serve continues the caller's trace", async () => {
  const h = await buildApp();
  const server = serve(h.app);
  try {
    const res = await fetch(`${server.url}/api/activities/home`, {
      headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).length, 4);
    const span = h.exporter.byName("GET /api/activities/home");
    assert.equal(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, PARENT_ID);
    assert.equal(span.attributes["server.address"], "127.0.0.1");
    assert.equal(span.attributes["server.port"], Number(new URL(server.url).port));
    assert.equal(
      res.headers.get("traceresponse"),
      `00-${TRACE_ID}-${span.spanContext().spanId}-01`,
    );
  } finally {
    await server.close();
    await h.close();
  }
});

async function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  try {
    const conn = await Deno.connect({ hostname, port: Number(port) });
    conn.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test("main.ts serves, then on SIGTERM stops accepting, flushes the spans and exits 0 once", async () => {
  const receiver = startOtlpReceiver();
  // The flush answer is slow, so the second SIGTERM lands while the first is still shutting down.
  receiver.answer({ kind: "slow", ms: 500 }, 1);
  let backend: Backend | undefined;
  let exited = false;
  try {
    backend = await startBackend({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=test-key",
      // Nothing is exported on a timer during the test: only the shutdown flush sends.
      OTEL_BSP_SCHEDULE_DELAY: "60000",
    });
    const { child } = backend;
    assert.match(backend.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${backend.url}/api/health-check`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), {
      success: true,
      ver: 1,
      version: "0.1.0",
      database: { store: "memory", ready: true },
    });
    assert.equal(receiver.requests.length, 0, "spans wait in the batch processor");

    child.kill("SIGTERM");
    await backend.waitFor(/SIGTERM received/);
    assert.ok(await refused(backend.url), "no new connections once shutdown began");
    // A second signal while flushing is harmless: one shutdown, one exit.
    child.kill("SIGTERM");

    const status = await child.status;
    exited = true;
    assert.equal(status.code, 0);
    await backend.done;
    const lines = backend.lines();
    assert.equal(lines.filter((line) => /SIGTERM received/.test(String(line.message))).length, 1);
    const complete = lines.filter((line) => line.message === "Shutdown complete");
    assert.equal(complete.length, 1);

    // The flush delivered the request's span, with the Honeycomb header, before the exit.
    const spans = receiver.spans();
    const server = spans.find((span) => span.name === "GET /api/health-check");
    assert.ok(server, JSON.stringify(spans.map((span) => span.name)));
    assert.equal(receiver.requests[0]?.headers.get("x-honeycomb-team"), "test-key");
    const access = lines.find((line) => line.event === "access");
    assert.equal(access?.path, "/api/health-check");
    assert.equal(access?.status, 200);
    assert.equal(access?.trace_id, server.traceId, "log and span share the trace id");
    const telemetry = complete[0]?.telemetry as Record<string, Record<string, number>>;
    assert.equal(telemetry.traces?.sent, spans.length);
    assert.equal(telemetry.traces?.dropped, 0);
    assert.equal(telemetry.traces?.failed, 0);
    assert.equal((await backend.stderr).trim(), "");
  } finally {
    if (backend) {
      if (!exited) {
        try {
          backend.child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await backend.child.status;
      }
      await backend.done;
      await backend.stderr;
    }
    await receiver.close();
  }
});

// On Deno 2.9.x `server.shutdown()` makes in-flight request bodies unreadable
// (denoland/deno#36809); main.ts waits for in-flight requests before calling it.
Deno.test({
  name: "main.ts on SIGTERM finishes an upload that is still in flight",
  async fn() {
    const backend = await startBackend({ SHUTDOWN_TIMEOUT_MS: "10000" });
    const { child } = backend;
    let exited = false;
    const { hostname, port } = new URL(backend.url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    try {
      const encoder = new TextEncoder();
      const first = '{"ttl":"1-hour",';
      const rest = '"message":"written during shutdown"}';
      const length = encoder.encode(first + rest).byteLength;
      await conn.write(encoder.encode(
        `POST /api/activities HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${length}\r\n` +
          "Expect: 100-continue\r\nConnection: close\r\n\r\n",
      ));
      // The server says "100 Continue" once the handler reads the body: the request is in
      // flight inside the app, which is the state this test needs (no sleep can promise it).
      const reader = readText(conn);
      await reader.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      await conn.write(encoder.encode(first));
      child.kill("SIGTERM");
      await backend.waitFor(/SIGTERM received/);
      await conn.write(encoder.encode(rest));
      const response = await reader.until(/\r\n\r\n[\s\S]*"message":"[^"]*"/);
      assert.match(response, /HTTP\/1\.1 200 OK/, JSON.stringify(backend.lines()));
      assert.match(response, /"message":"written during shutdown"/);
      const status = await child.status;
      exited = true;
      assert.equal(status.code, 0);
    } finally {
      conn.close();
      if (!exited) {
        child.kill("SIGKILL");
        await child.status;
      }
      await backend.done;
      await backend.stderr;
    }
  },
});

/** Accumulates what a raw connection receives; `until` resolves once the text matches. */
function readText(conn: Deno.Conn) {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  let text = "";
  return {
    async until(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`No ${pattern} in ${JSON.stringify(text)}`);
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`Connection closed before ${pattern}: ${text}`);
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
      return text;
    },
  };
}

Deno.test("main.ts on SIGINT with nothing in flight exits 0 promptly", async () => {
  const backend = await startBackend();
  const started = Date.now();
  backend.child.kill("SIGINT");
  const status = await backend.child.status;
  await backend.done;
  await backend.stderr;
  assert.equal(status.code, 0);
  assert.ok(Date.now() - started < 5000, "did not wait out the drain deadline");
  assert.ok(backend.lines().some((line) => line.message === "Shutdown complete"));
});

Deno.test("main.ts answers before its heavy sinks load; a SIGTERM right after the first answer still delivers it to every sink", async () => {
  const otlp = startOtlpReceiver();
  const cloudwatch = startCloudWatchStandIn();
  const rollbar = startRollbarStandIn();
  const daemon = await startUdpListener();
  let backend: Backend | undefined;
  try {
    backend = await startBackend({
      ...AWS_ENV,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: "60000",
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.port}`,
      CLOUDWATCH_LOG_GROUP: "cruddur",
      CLOUDWATCH_LOG_STREAM: "first",
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
      CLOUDWATCH_FLUSH_INTERVAL_MS: "60000",
      ROLLBAR_ACCESS_TOKEN: "rollbar-token",
      ROLLBAR_ENDPOINT: rollbar.endpoint,
      SHUTDOWN_TIMEOUT_MS: "8000",
    });
    // The sinks load once this first answer is out: the signal lands before or while they do.
    const res = await fetch(`${backend.url}/rollbar/test`);
    assert.equal(await res.text(), "Hello World!");
    backend.child.kill("SIGTERM");
    assert.equal((await backend.child.status).code, 0);
    await backend.done;
    assert.equal((await backend.stderr).trim(), "");

    // The banner: every line once, in order, whenever the sinks came up.
    const messages = backend.lines().map((l) => String(l.message));
    const banner = [
      /^Cruddur backend listening on /,
      /^Data: in memory/,
      /^X-Ray: UDP to daemon/,
      /^Traces: SDK pipeline to OTLP/,
      /^Log records: SDK pipeline to OTLP/,
      /^Logs: console \+ CloudWatch Logs group "cruddur"/,
      /^Errors: Rollbar/,
      /^Metrics: SDK pipeline to OTLP/,
      /^CORS: /,
    ];
    const at = banner.map((line) => {
      const found = messages.filter((m) => line.test(m));
      assert.equal(found.length, 1, `${line} once in ${JSON.stringify(messages)}`);
      return messages.findIndex((m) => line.test(m));
    });
    assert.deepEqual(at, [...at].sort((a, b) => a - b), "in banner order");

    // The first request, in every sink, under one trace id.
    const server = otlp.spans().find((s) => s.name === "GET /rollbar/test");
    assert.ok(server, "its SERVER span reached the collector");
    const events = cloudwatch.events("cruddur", "first").map((e) => JSON.parse(e.message));
    const access = events.find((e) => e.event === "access" && e.path === "/rollbar/test");
    assert.equal(access?.trace_id, server.traceId, "its access line reached CloudWatch");
    assert.equal(rollbar.items.length, 1, "its warning reached Rollbar");
    const warning = rollbar.items[0]!.data as { custom?: { trace_id?: string } };
    assert.equal(warning.custom?.trace_id, server.traceId);
    assert.ok(
      otlp.logRecords().some((r) =>
        r.traceId === server.traceId && r.attributes.event === "access"
      ),
      "its access log record reached the collector",
    );
    const summary = backend.lines().find((l) => l.message === "Shutdown complete");
    const stats = summary?.telemetry as Record<string, Record<string, number>>;
    for (const name of ["xray", "traces", "logs", "cloudwatch", "rollbar", "metrics"]) {
      const s = stats[name];
      assert.ok(s && (s.queued ?? 0) > 0, `${name} has an account: ${JSON.stringify(stats)}`);
      assert.equal(s.dropped, 0, `${name}: ${JSON.stringify(s)}`);
      assert.equal(s.queued, s.sent, `${name}: everything sent: ${JSON.stringify(s)}`);
    }
  } finally {
    if (backend) {
      try {
        backend.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await backend.child.status;
      await backend.done;
      await backend.stderr;
    }
    await otlp.close();
    await cloudwatch.close();
    await rollbar.close();
    await daemon.close();
  }
});

Deno.test("main.ts loads no heavy sink client before it listens: those are the late sinks' own imports", async () => {
  const { npmPackages, staticGraph } = await import("./support/import_graph.ts");
  const before = npmPackages(await staticGraph("main.ts"));
  for (
    const late of [
      "@aws-sdk/client-cloudwatch-logs",
      "rollbar",
      "@opentelemetry/otlp-transformer",
      "@opentelemetry/sdk-metrics",
    ]
  ) {
    assert.ok(!before.has(late), `${late} waits for the late install: ${[...before].join(", ")}`);
  }
  // The span recording path is there from the first request, with our own provider
  // (telemetry/tracing.ts) and API values (telemetry/otel_api.ts): neither the OpenTelemetry
  // API (CommonJS: it starts Deno's CommonJS loader) nor the SDK's tracer, resources and
  // context manager are loaded.
  assert.ok(before.has("hono"), "hono is loaded before listening");
  for (
    const sdk of [
      "@opentelemetry/api",
      "@opentelemetry/sdk-trace-base",
      "@opentelemetry/sdk-trace",
      "@opentelemetry/resources",
      "@opentelemetry/context-async-hooks",
      "@opentelemetry/core",
    ]
  ) {
    assert.ok(!before.has(sdk), `${sdk} is not needed to record spans: ${[...before].join(", ")}`);
  }
});
