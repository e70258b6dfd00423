import assert from "node:assert/strict";
import { ExportResultCode } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { RetryingSpanExporter } from "../../../telemetry/otlp/retry.ts";
import { TraceRequestEncoder } from "../../../telemetry/otlp/span_json.ts";
import { OtlpHttpTransport } from "../../../telemetry/otlp/transport.ts";
import { startHostileEndpoint } from "../../support/hostile_http.ts";
import { startOtlpReceiver } from "../../support/otlp_receiver.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { until } from "../../support/faults.ts";

/** Makes `n` finished spans named `name-i`. */
async function makeSpans(n: number, name = "span"): Promise<ReadableSpan[]> {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("test");
  for (let i = 0; i < n; i++) tracer.startSpan(`${name}-${i}`).end();
  await provider.shutdown();
  return [...memory.spans];
}

function exportOnce(exporter: RetryingSpanExporter, spans: ReadableSpan[]) {
  return new Promise<ExportResultCode>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
}

function setup(
  options: { timeoutMs?: number; maxBufferedSpans?: number; maxBufferedBytes?: number } = {},
) {
  const receiver = startOtlpReceiver();
  const diagnostics: string[] = [];
  const exporter = new RetryingSpanExporter(
    new OtlpHttpTransport({ url: `${receiver.url}/v1/traces` }),
    {
      timeoutMs: options.timeoutMs ?? 1000,
      maxBufferedSpans: options.maxBufferedSpans ?? 100,
      ...(options.maxBufferedBytes ? { maxBufferedBytes: options.maxBufferedBytes } : {}),
      initialBackoffMs: 20,
      maxBackoffMs: 100,
      diagnostic: (m) => diagnostics.push(m),
    },
  );
  return {
    receiver,
    exporter,
    diagnostics,
    async close() {
      await exporter.shutdown();
      await receiver.close();
    },
  };
}

function identity(exporter: RetryingSpanExporter, queued: number): void {
  const c = exporter.counts;
  assert.equal(c.sent + c.dropped + c.rejected + c.failed + exporter.pending(), queued);
}

Deno.test("OtlpHttpTransport reads at most 64 KiB of a 200 body that never ends", async () => {
  const endpoint = startHostileEndpoint("flood");
  const transport = new OtlpHttpTransport({ url: `${endpoint.url}/v1/traces` });
  try {
    const rssBefore = Deno.memoryUsage().rss;
    for (let i = 0; i < 20; i++) {
      const response = await transport.send(new TextEncoder().encode("{}"), 5000);
      assert.equal(response.status, "success");
      assert.ok(response.status === "success" && (response.data?.byteLength ?? 0) <= 64 * 1024);
    }
    await until(() => endpoint.cancelled === 20); // every endless body cancelled, not drained
    const grown = Deno.memoryUsage().rss - rssBefore;
    assert.ok(grown < 100 * 1024 * 1024, `RSS grew ${grown} bytes`);
  } finally {
    transport.shutdown();
    await endpoint.close();
  }
});

Deno.test("OtlpHttpTransport cuts a body that trickles forever at the call's timeout", async () => {
  const endpoint = startHostileEndpoint("trickle");
  const transport = new OtlpHttpTransport({ url: `${endpoint.url}/v1/traces` });
  try {
    const response = await transport.send(new TextEncoder().encode("{}"), 200);
    assert.equal(response.status, "retryable");
    assert.match(String(response.status === "retryable" && response.error?.message), /timed out/);
    await until(() => endpoint.cancelled === 1);
  } finally {
    transport.shutdown();
    await endpoint.close();
  }
});

Deno.test("retry layer: 503 three times, then 200, delivers every span once and counts retries", async () => {
  const t = setup();
  try {
    t.receiver.answer({ kind: "status", status: 503 }, 3);
    const spans = await makeSpans(5);
    assert.equal(await exportOnce(t.exporter, spans), ExportResultCode.SUCCESS);
    const received = await t.receiver.waitForSpans(5);
    await until(() => t.exporter.pending() === 0);
    assert.deepEqual(received.map((s) => s.name).sort(), spans.map((s) => s.name).sort());
    assert.deepEqual(t.receiver.requests.map((r) => r.status), [503, 503, 503, 200]);
    assert.equal(t.exporter.counts.sent, 5);
    assert.equal(t.exporter.counts.retried, 3);
    assert.equal(t.exporter.counts.dropped, 0);
    identity(t.exporter, 5);
    assert.equal(t.diagnostics.filter((d) => d.includes("retrying")).length, 1);
    assert.ok(t.diagnostics.some((d) => d.includes("recovered")));
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: a batch kept for retry is resent as delivered, whatever the caller writes into its buffer afterwards", async () => {
  const t = setup();
  try {
    t.receiver.answer({ kind: "status", status: 503 }, 1);
    const body = new TraceRequestEncoder().encode(await makeSpans(3, "kept")).body;
    const sent = new TextDecoder().decode(body);
    await t.exporter.deliver(body, 3);
    // The batcher writes its next batch into the same buffer once deliver() has resolved.
    body.fill(0x20);
    const received = await t.receiver.waitForSpans(3);
    assert.deepEqual(received.map((s) => s.name).sort(), ["kept-0", "kept-1", "kept-2"]);
    assert.deepEqual(t.receiver.requests.map((r) => r.status), [503, 200]);
    assert.equal(t.receiver.requests[1]!.raw, sent, "the retry sends the bytes delivered");
    identity(t.exporter, 3);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: 429 with Retry-After in seconds waits that long before retrying", async () => {
  const t = setup();
  try {
    t.receiver.answer({ kind: "status", status: 429, retryAfter: "1" }, 1);
    const started = Date.now();
    await exportOnce(t.exporter, await makeSpans(2));
    await t.receiver.waitForSpans(2, 5000);
    const waited = Date.now() - started;
    assert.ok(waited >= 950, `retried after ${waited} ms, Retry-After said 1 s`);
    assert.equal(t.receiver.requests.length, 2);
    assert.equal(t.exporter.counts.retried, 1);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: 429 with Retry-After as an HTTP-date waits until that date", async () => {
  const t = setup();
  try {
    // HTTP-dates have one-second resolution: aim 2 s ahead so at least ~1 s remains.
    const at = new Date(Date.now() + 2000);
    t.receiver.answer({ kind: "status", status: 429, retryAfter: at.toUTCString() }, 1);
    const started = Date.now();
    await exportOnce(t.exporter, await makeSpans(1));
    await t.receiver.waitForSpans(1, 5000);
    const waited = Date.now() - started;
    assert.ok(waited >= 900, `retried after ${waited} ms`);
    assert.ok(Date.now() >= Math.floor(at.getTime() / 1000) * 1000 - 50);
    assert.equal(t.receiver.requests.length, 2);
  } finally {
    await t.close();
  }
});

// 413 is halved instead: tests/telemetry/otlp/split_test.ts.
for (const status of [400, 401, 403, 404]) {
  Deno.test(`retry layer: ${status} fails the batch at once with one request`, async () => {
    const t = setup();
    try {
      t.receiver.answer({ kind: "status", status }, 1);
      assert.equal(await exportOnce(t.exporter, await makeSpans(3)), ExportResultCode.FAILED);
      // Nothing is kept for a retry, so no later request can come.
      assert.equal(t.exporter.pending(), 0);
      assert.equal(t.receiver.requests.length, 1);
      assert.equal(t.exporter.counts.failed, 3);
      assert.equal(t.exporter.counts.retried, 0);
      assert.equal(t.exporter.counts.sent, 0);
      identity(t.exporter, 3);
      assert.ok(t.diagnostics.some((d) => d.includes(String(status))), t.diagnostics.join());
    } finally {
      await t.close();
    }
  });
}

Deno.test("retry layer: a 200 with partialSuccess counts the rejected spans and does not retry", async () => {
  const t = setup();
  try {
    t.receiver.answer({ kind: "partial", rejected: 2 }, 1);
    assert.equal(await exportOnce(t.exporter, await makeSpans(5)), ExportResultCode.SUCCESS);
    assert.equal(t.receiver.requests.length, 1);
    assert.equal(t.exporter.counts.rejected, 2);
    assert.equal(t.exporter.counts.sent, 3);
    assert.equal(t.exporter.counts.retried, 0);
    identity(t.exporter, 5);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: the buffer is bounded in bytes too: big spans are dropped past maxBufferedBytes, counted", async () => {
  const t = setup({ maxBufferedSpans: 1000, maxBufferedBytes: 100_000 });
  try {
    t.receiver.answer({ kind: "status", status: 503 });
    // 4 spans with a 20 KB attribute each: ~80 KB a batch, so one batch fits and the next not.
    const big = async (name: string) => {
      const spans = await makeSpans(4, name);
      return spans.map((s) =>
        Object.create(s, { attributes: { value: { path: "x".repeat(20_000) } } })
      );
    };
    await exportOnce(t.exporter, await big("b0")); // fails, buffered
    await exportOnce(t.exporter, await big("b1")); // over the byte bound: dropped
    assert.equal(t.exporter.pending(), 4);
    assert.equal(t.exporter.counts.dropped, 4);
    assert.equal(t.diagnostics.filter((d) => d.includes("retry buffer full")).length, 1);
    identity(t.exporter, 8);
    t.receiver.answer({ kind: "ok" });
    await t.receiver.waitForSpans(4);
    await until(() => t.exporter.pending() === 0);
    assert.ok(t.receiver.spans().every((s) => s.name.startsWith("b0")));
    identity(t.exporter, 8);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: past the buffer cap the newest batches are dropped, counted, reported once", async () => {
  const t = setup({ maxBufferedSpans: 10 });
  try {
    t.receiver.answer({ kind: "status", status: 503 });
    const batches = await Promise.all([0, 1, 2, 3].map((i) => makeSpans(4, `b${i}`)));
    await exportOnce(t.exporter, batches[0]!); // fails, buffered (4)
    for (const batch of batches.slice(1)) await exportOnce(t.exporter, batch); // 8, drop, drop
    assert.equal(t.exporter.pending(), 8);
    assert.equal(t.exporter.counts.dropped, 8);
    identity(t.exporter, 16);
    assert.equal(t.diagnostics.filter((d) => d.includes("retry buffer full")).length, 1);
    t.receiver.answer({ kind: "ok" });
    await t.receiver.waitForSpans(8);
    await until(() => t.exporter.pending() === 0);
    const names = t.receiver.spans().map((s) => s.name);
    assert.ok(names.every((n) => n.startsWith("b0") || n.startsWith("b1")), "oldest kept");
    assert.equal(t.exporter.counts.sent, 8);
    identity(t.exporter, 16);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: a black-holed collector ends each attempt at the timeout; shutdown counts the loss", async () => {
  const t = setup({ timeoutMs: 200 });
  try {
    t.receiver.answer({ kind: "blackhole" });
    const started = Date.now();
    assert.equal(await exportOnce(t.exporter, await makeSpans(3)), ExportResultCode.SUCCESS);
    const took = Date.now() - started;
    // The attempt ended at its timeout, not when the black hole would have answered (never).
    assert.ok(took >= 150 && took < 5000, `attempt took ${took} ms, timeout is 200`);
    assert.equal(t.exporter.pending(), 3);
    const flushStart = Date.now();
    await t.exporter.drain(Date.now() + 300);
    assert.ok(Date.now() - flushStart < 3000, "drain honours its deadline");
    assert.equal(t.exporter.abandon(), 3);
    assert.equal(t.exporter.counts.dropped, 3);
    assert.equal(t.exporter.counts.sent, 0);
    identity(t.exporter, 3);
  } finally {
    await t.close();
  }
});

Deno.test("retry layer: connection refused is retried until the collector comes back", async () => {
  const t = setup({ timeoutMs: 300 });
  const port = Number(new URL(t.receiver.url).port);
  await t.receiver.close();
  const exporter = new RetryingSpanExporter(
    new OtlpHttpTransport({ url: `http://127.0.0.1:${port}/v1/traces` }),
    { timeoutMs: 300, initialBackoffMs: 20, maxBackoffMs: 50 },
  );
  try {
    await exportOnce(exporter, await makeSpans(2));
    await until(() => exporter.counts.retried >= 2);
    assert.equal(exporter.pending(), 2);
    assert.equal(exporter.counts.failed, 0);
  } finally {
    await exporter.shutdown();
    await t.exporter.shutdown();
  }
});
