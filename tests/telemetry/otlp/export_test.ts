import assert from "node:assert/strict";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";
import { buildApp } from "../../support/harness.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

Deno.test("the OTLP/HTTP exporter delivers the request's spans with the Honeycomb header", async () => {
  const receiver = startOtlpReceiver();
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=test-key-123",
    OTEL_SERVICE_NAME: "backend-deno",
    OTEL_BSP_SCHEDULE_DELAY: "20",
  });
  try {
    const res = await h.app.request("/api/activities/home", {
      headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const spans = await receiver.waitForSpans(2);
    const server = spans.find((s) => s.name === "GET /api/activities/home");
    const child = spans.find((s) => s.name === "home-activities-mock-data");
    assert.ok(server && child);
    assert.equal(server.traceId, TRACE);
    assert.equal(server.parentSpanId, PARENT);
    assert.equal(server.kind, 2, "SPAN_KIND_SERVER");
    assert.equal(child.traceId, TRACE);
    assert.equal(child.parentSpanId, server.spanId);
    assert.equal(child.attributes["app.result_length"], 4);
    assert.equal(server.attributes["http.route"], "/api/activities/home");
    assert.equal(server.resource["service.name"], "backend-deno");
    for (const request of receiver.requests) {
      assert.equal(request.headers.get("x-honeycomb-team"), "test-key-123");
      assert.ok(!request.raw.includes("test-key-123"), "the key is a header, not data");
    }
    // The receiver has the spans; the exporter counts them when the answer reaches it.
    const until = Date.now() + 15_000;
    while ((h.telemetry.stats().traces?.sent ?? 0) < 2 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const stats = h.telemetry.stats().traces;
    assert.equal(stats?.sent, 2);
    assert.equal(stats?.failed, 0);
    assert.equal(stats?.queued, 2);
  } finally {
    await h.close();
    await receiver.close();
  }
});

Deno.test("the app keeps answering while the OTLP receiver is down, and counts the loss", async () => {
  const receiver = startOtlpReceiver();
  const url = receiver.url;
  await receiver.close(); // nothing listens on this port now
  const h = await buildApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_BSP_SCHEDULE_DELAY: "10",
    OTEL_EXPORTER_OTLP_TIMEOUT: "300",
  });
  try {
    for (let i = 0; i < 20; i++) {
      const res = await h.app.request("/api/activities/home");
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    // The retry layer holds the spans through the outage; shutdown counts them as lost.
    await h.telemetry.forceFlush(Date.now() + 500);
    assert.equal(h.telemetry.stats().traces?.sent, 0);
    await h.telemetry.shutdown(Date.now() + 500);
    const stats = h.telemetry.stats().traces;
    assert.equal(stats?.queued, 40);
    assert.equal(stats?.sent, 0);
    assert.equal((stats?.failed ?? 0) + (stats?.dropped ?? 0), 40);
    assert.ok((stats?.retried ?? 0) > 0, "connection refused is retried");
  } finally {
    await h.close();
  }
});

Deno.test("OTEL_TRACES_EXPORTER=console prints spans; with nothing configured the startup line says so", async () => {
  const quiet = await buildApp();
  try {
    assert.ok(
      quiet.telemetry.describe().includes("Traces: SDK pipeline to nowhere (no exporter set)"),
    );
  } finally {
    await quiet.close();
  }
  const h = await buildApp({ OTEL_TRACES_EXPORTER: "console" });
  const printed: string[] = [];
  // deno-lint-ignore no-console
  const original = console.dir;
  // The SDK's ConsoleSpanExporter prints with console.dir.
  // deno-lint-ignore no-console
  console.dir = (value: unknown) => printed.push(JSON.stringify(value));
  try {
    assert.ok(h.telemetry.describe().includes("Traces: SDK pipeline to console"));
    await (await h.app.request("/api/activities/home")).arrayBuffer();
    assert.ok(printed.some((p) => p.includes("home-activities-mock-data")));
    assert.ok(printed.some((p) => p.includes("GET /api/activities/home")));
  } finally {
    // deno-lint-ignore no-console
    console.dir = original;
    await h.close();
  }
});

Deno.test("native mode (OTEL_DENO=true) enriches Deno's SERVER span instead of adding one", async () => {
  const receiver = startOtlpReceiver();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("../../..", import.meta.url),
    env: {
      OTEL_DENO: "true",
      DATABASE_URL: "memory:",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=native-key",
      OTEL_DENO_CONSOLE: "ignore",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_FORMAT: "json",
    },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let port = "";
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`main.ts exited early: ${buffered}`);
      buffered += value;
      port = /listening on http:\/\/[^:]+:(\d+)/.exec(buffered)?.[1] ?? "";
    }
    const drain = (async () => {
      while (!(await reader.read()).done) { /* keep the pipe flowing */ }
    })();
    const base = `http://127.0.0.1:${port}`;
    for (const path of ["/api/activities/@andrewbrown", "/api/activities/home"]) {
      const res = await fetch(`${base}${path}`, {
        headers: { traceparent: `00-${TRACE}-${PARENT}-01` },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await drain;
    const spans = await receiver.waitForSpans(5, 10_000);
    const servers = spans.filter((s) => s.kind === 2);
    assert.deepEqual(servers.map((s) => s.name).sort(), [
      "GET /api/activities/@:handle",
      "GET /api/activities/home",
    ]);
    const user = servers.find((s) => s.name === "GET /api/activities/@:handle")!;
    assert.equal(user.attributes["http.route"], "/api/activities/@:handle");
    assert.equal(user.traceId, TRACE);
    assert.equal(user.parentSpanId, PARENT);
    const service = spans.find((s) => s.name === "user-activities");
    assert.equal(service?.parentSpanId, user.spanId);
    assert.equal(spans.find((s) => s.name === "mock-data")?.parentSpanId, service?.spanId);
    assert.ok(receiver.requests.every((r) => r.headers.get("x-honeycomb-team") === "native-key"));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await receiver.close();
  }
});
