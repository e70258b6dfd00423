import assert from "node:assert/strict";
import {
  DEFAULT_OTLP_PROTOCOL,
  loadConfig,
  type LogsConfig,
  type OtlpProtocol,
} from "../../../config.ts";
import { createLogsPipeline, type LogsPipeline } from "../../../telemetry/otlp_logs/pipeline.ts";
import { MAX_RECORD_BYTES, MAX_REQUEST_BYTES } from "../../../telemetry/otlp_logs/encode.ts";
import { CONTENT_TYPE } from "../../../telemetry/otlp/encoding.ts";
import { TRUNCATION_MARKER } from "../../../telemetry/util/text.ts";
import { OTLP_SIGNAL_MAX_BODY_BYTES, startOtlpReceiver } from "../../support/otlp_receiver.ts";
import { decodeLogs, type ReceivedLogRecord } from "../../support/otlp_signals.ts";
import { partialSuccessResponse, protobufToJson } from "../../support/otlp_protobuf.ts";

const TRACE = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" };

/** A loopback /v1/logs collector that decodes strictly and answers as scripted. */
function startCollector() {
  const bodies: Uint8Array[] = [];
  const batches: ReceivedLogRecord[][] = [];
  /** Scripted answers, each given whether the request was protobuf (a promise: held back). */
  const answers: Array<(protobuf: boolean) => Response | Promise<Response>> = [];
  const types: string[] = [];
  const waiters: Array<() => void> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const raw = new Uint8Array(await req.arrayBuffer());
    bodies.push(raw);
    const protobuf = req.headers.get("content-type") === "application/x-protobuf";
    types.push(req.headers.get("content-type") ?? "");
    let response: Response | Promise<Response>;
    try {
      batches.push(decodeLogs(
        protobuf
          ? protobufToJson("logs", raw)
          : JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw)),
      ));
      response = answers.shift()?.(protobuf) ?? Response.json({});
    } catch (error) {
      response = new Response(String(error), { status: 400 });
    }
    for (const wake of waiters.splice(0)) wake();
    return await response;
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/logs`,
    bodies,
    types,
    batches,
    answers,
    records: () => batches.flat(),
    async waitFor(test: () => boolean, what: string) {
      const deadline = Date.now() + 10_000;
      while (!test()) {
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    close: () => server.shutdown(),
  };
}

function config(
  url: string,
  exporters: LogsConfig["exporters"] = ["otlp"],
  protocol: OtlpProtocol = DEFAULT_OTLP_PROTOCOL,
): LogsConfig {
  return {
    exporters,
    endpoint: url,
    protocol,
    headers: {},
    timeoutMs: 5_000,
    batch: loadConfig({}).logs.batch,
  };
}

function pipeline(
  url: string,
  batch: {
    maxQueueSize?: number;
    maxExportBatchSize?: number;
    scheduledDelayMillis?: number;
    exportTimeoutMillis?: number;
    maxConcurrentExports?: number;
  },
  diagnostics: string[] = [],
  protocol: OtlpProtocol = DEFAULT_OTLP_PROTOCOL,
): LogsPipeline {
  return createLogsPipeline({
    config: config(url, ["otlp"], protocol),
    resource: { "service.name": "backend-deno" },
    serviceVersion: "0.1.0",
    diagnostic: (d) => diagnostics.push(d),
    batch: { scheduledDelayMillis: 60_000, ...batch },
  })!;
}

function settled(p: LogsPipeline): boolean {
  const s = p.sink.stats();
  return s.queued === s.sent + s.dropped + s.rejected + s.failed;
}

Deno.test("log records: emit only buffers the event; it is read and encoded in the sink's turn", async () => {
  const collector = startCollector();
  const p = pipeline(collector.url, {});
  try {
    let reads = 0;
    const event = {
      message: "GET /api/activities/home 200",
      get status() {
        reads++;
        return 200;
      },
    };
    p.records.emit("info", event, { timeMs: Date.now(), trace: TRACE });
    assert.equal(reads, 0, "the request path does not touch the event's fields");
    const broken = {
      message: "a field that throws",
      get boom(): never {
        throw new Error("getter failed");
      },
    };
    p.records.emit("warn", broken, { timeMs: Date.now(), trace: undefined });
    assert.deepEqual(collector.bodies, [], "nothing is sent before the sink's turn");

    await p.sink.forceFlush(Date.now() + 10_000);
    assert.ok(reads >= 1);
    const records = collector.records();
    assert.equal(records.length, 1, "the record that could not be encoded is left out");
    assert.equal(records[0]!.attributes.status, 200);
    assert.equal(records[0]!.traceId, TRACE.traceId);
    assert.deepEqual(p.sink.stats(), {
      queued: 2,
      sent: 1,
      retried: 0,
      dropped: 0,
      rejected: 0,
      failed: 1,
    });
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await collector.close();
  }
});

Deno.test("log records: a full buffer turns records away (counted dropped); a full batch leaves without waiting for the delay", async () => {
  const collector = startCollector();
  const p = pipeline(collector.url, { maxQueueSize: 10, maxExportBatchSize: 4 });
  try {
    // Twelve in one turn: ten fit, two are dropped. The first full batch goes at once.
    for (let i = 0; i < 12; i++) {
      p.records.emit("info", { message: `line ${i}`, i }, { timeMs: 1_000 + i, trace: TRACE });
    }
    assert.equal(p.sink.stats().dropped, 2);
    await collector.waitFor(() => collector.batches.length >= 1, "the first full batch");
    assert.deepEqual(collector.batches[0]!.map((r) => r.attributes.i), [0, 1, 2, 3]);
    await collector.waitFor(() => collector.batches.length >= 2, "the next full batch");

    await p.sink.forceFlush(Date.now() + 10_000);
    assert.deepEqual(collector.batches.map((b) => b.length), [4, 4, 2]);
    assert.deepEqual(collector.records().map((r) => r.attributes.i), [
      0,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      9,
    ]);
    assert.deepEqual(p.sink.stats(), {
      queued: 12,
      sent: 10,
      retried: 0,
      dropped: 2,
      rejected: 0,
      failed: 0,
    });
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await collector.close();
  }
});

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`log records (${protocol}): a 503 is retried after Retry-After with the same body; a partial success counts rejected`, async () => {
    const collector = startCollector();
    const diagnostics: string[] = [];
    const p = pipeline(collector.url, {}, diagnostics, protocol);
    try {
      collector.answers.push(
        () => new Response("busy", { status: 503, headers: { "retry-after": "0" } }),
        (protobuf) =>
          protobuf
            ? new Response(partialSuccessResponse(1, "too old"), {
              headers: { "content-type": "application/x-protobuf" },
            })
            : Response.json({ partialSuccess: { rejectedLogRecords: 1, errorMessage: "too old" } }),
      );
      for (let i = 0; i < 3; i++) {
        p.records.emit("info", { message: `line ${i}` }, { timeMs: Date.now(), trace: TRACE });
      }
      await p.sink.forceFlush(Date.now() + 10_000);
      assert.equal(collector.bodies.length, 2);
      assert.deepEqual(collector.bodies[1], collector.bodies[0], "the retry sends the same batch");
      assert.deepEqual(collector.types, [CONTENT_TYPE[protocol], CONTENT_TYPE[protocol]]);
      assert.deepEqual(p.sink.stats(), {
        queued: 3,
        sent: 2,
        retried: 1,
        dropped: 0,
        rejected: 1,
        failed: 0,
      });
      assert.deepEqual(diagnostics, []);
    } finally {
      await p.sink.shutdown(Date.now() + 5_000);
      await collector.close();
    }
  });
}

Deno.test("log records: records are encoded a few at a time before their batch leaves; a retried body is the one first sent while the next batch is written", async () => {
  const collector = startCollector();
  const p = pipeline(collector.url, { maxExportBatchSize: 64 });
  try {
    let reads = 0;
    const event = (i: number) => ({
      message: `line ${i}`,
      get i() {
        reads++;
        return i;
      },
    });
    for (let i = 0; i < 40; i++) {
      p.records.emit("info", event(i), { timeMs: 1_000 + i, trace: TRACE });
    }
    const deadline = Date.now() + 10_000;
    while (reads < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(reads, 40, "the sink's turn encoded the records (the events are released)");
    assert.deepEqual(collector.bodies, [], "the batch is not full: nothing sent yet");

    // The next batch is refused once and retried after 1 s; records that arrive meanwhile are
    // written into the encoder's other buffer, never into the body waiting for its retry.
    collector.answers.push(() =>
      new Response("busy", { status: 503, headers: { "retry-after": "1" } })
    );
    for (let i = 40; i < 64; i++) {
      p.records.emit("info", event(i), { timeMs: 1_000 + i, trace: TRACE });
    }
    await collector.waitFor(() => collector.bodies.length >= 1, "the first attempt");
    for (let i = 64; i < 200; i++) {
      p.records.emit("info", event(i), { timeMs: 1_000 + i, trace: TRACE });
    }
    await p.sink.forceFlush(Date.now() + 10_000);
    assert.deepEqual(collector.bodies[1], collector.bodies[0], "the retry sends the same bytes");
    // The first body was refused: the records are those of the accepted ones, in order.
    assert.deepEqual(
      collector.batches.slice(1).flat().map((r) => r.attributes.i),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.ok(settled(p));
    assert.equal(p.sink.stats().sent, 200);
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await collector.close();
  }
});

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`log records (${protocol}): up to OTLP_MAX_CONCURRENT_EXPORTS batches are out at once; a slot frees only when every older batch settled`, async () => {
    const collector = startCollector();
    const p = pipeline(
      collector.url,
      { maxExportBatchSize: 4, maxConcurrentExports: 2 },
      [],
      protocol,
    );
    const gates = Array.from({ length: 4 }, () => Promise.withResolvers<void>());
    const emit = (from: number) => {
      for (let i = from; i < from + 4; i++) {
        p.records.emit("info", { message: `line ${i}`, i }, { timeMs: 1_000 + i, trace: TRACE });
      }
    };
    try {
      // The collector is slow (a far one): it holds each answer until the test opens its gate.
      collector.answers.push(
        ...gates.map((gate) => async () => (await gate.promise, Response.json({}))),
      );
      emit(0);
      await collector.waitFor(() => collector.bodies.length >= 1, "the first batch");
      emit(4);
      await collector.waitFor(
        () => collector.bodies.length >= 2,
        "the second, while the first is out",
      );
      emit(8);
      emit(12);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(collector.bodies.length, 2, "two batches out: the third waits");
      gates[1]!.resolve();
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(collector.bodies.length, 2, "the second settled, the first is still out");
      gates[0]!.resolve();
      // Both places free at once: the backlog fills both, not one after the other.
      await collector.waitFor(() => collector.bodies.length >= 4, "the third and fourth at once");
      gates[2]!.resolve();
      gates[3]!.resolve();
      await p.sink.forceFlush(Date.now() + 10_000);
      // Each body was read intact by the strict decoder, each record once, in order.
      assert.deepEqual(collector.batches.map((b) => b.map((r) => r.attributes.i)), [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
      ]);
      assert.deepEqual(p.sink.stats(), {
        queued: 16,
        sent: 16,
        retried: 0,
        dropped: 0,
        rejected: 0,
        failed: 0,
      });
    } finally {
      for (const gate of gates) gate.resolve();
      await p.sink.shutdown(Date.now() + 5_000);
      await collector.close();
    }
  });
}

Deno.test("log records: shutdown past its deadline sends nothing new and counts what is buffered as dropped", async () => {
  const collector = startCollector();
  const diagnostics: string[] = [];
  const p = pipeline(collector.url, {}, diagnostics);
  try {
    for (let i = 0; i < 5; i++) {
      p.records.emit("info", { message: `line ${i}` }, { timeMs: Date.now(), trace: TRACE });
    }
    await p.sink.shutdown(Date.now() - 1);
    assert.deepEqual(collector.bodies, []);
    assert.deepEqual(p.sink.stats(), {
      queued: 5,
      sent: 0,
      retried: 0,
      dropped: 5,
      rejected: 0,
      failed: 0,
    });
    assert.ok(settled(p));
    assert.deepEqual(diagnostics, ["logs: shutdown deadline passed, 5 queued records abandoned"]);
    await p.sink.shutdown(Date.now() + 1_000); // a second call is harmless
  } finally {
    await collector.close();
  }
});

Deno.test("log records: shutdown within its deadline delivers what is buffered", async () => {
  const collector = startCollector();
  const p = pipeline(collector.url, { maxExportBatchSize: 2 });
  try {
    for (let i = 0; i < 5; i++) {
      p.records.emit("info", { message: `line ${i}` }, { timeMs: Date.now(), trace: TRACE });
    }
    await p.sink.shutdown(Date.now() + 10_000);
    assert.equal(collector.records().length, 5);
    assert.equal(p.sink.stats().sent, 5);
    assert.ok(settled(p));
  } finally {
    await collector.close();
  }
});

Deno.test("log records: OTEL_LOGS_EXPORTER=console prints each record in the SDK console exporter's shape", async () => {
  const printed: Record<string, unknown>[] = [];
  const p = createLogsPipeline({
    config: config("http://127.0.0.1:9/v1/logs", ["console"]),
    resource: { "service.name": "backend-deno" },
    serviceVersion: "0.1.0",
    print: (record) => printed.push(record),
  })!;
  assert.equal(p.destination, "console");
  p.records.emit("error", {
    timestamp: "2026-12-01T22:00:00.000Z",
    level: "error",
    message: "Unhandled error: boom",
    service: "backend-deno",
    route: "/api/activities",
  }, { timeMs: 1_764_626_400_000, trace: { ...TRACE, traceFlags: 1 } });
  assert.deepEqual(printed, [], "printed in the sink's turn, not the request's");
  await p.sink.forceFlush(Date.now() + 5_000);
  assert.deepEqual(printed, [{
    resource: { attributes: { "service.name": "backend-deno" } },
    instrumentationScope: { name: "cruddur-backend", version: "0.1.0" },
    timestamp: 1_764_626_400_000_000,
    traceId: TRACE.traceId,
    spanId: TRACE.spanId,
    traceFlags: 1,
    severityText: "ERROR",
    severityNumber: 17,
    body: "Unhandled error: boom",
    attributes: { route: "/api/activities" },
  }]);
  assert.equal(p.sink.stats().sent, 1);
  await p.sink.shutdown(Date.now() + 1_000);
});

Deno.test("log records: the batches follow config.logs.batch (OTEL_BLRP_*)", async () => {
  const collector = startCollector();
  const batch = loadConfig({
    OTEL_BLRP_MAX_QUEUE_SIZE: "6",
    OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: "3",
    OTEL_BLRP_SCHEDULE_DELAY: "3600000",
  }).logs.batch;
  const p = createLogsPipeline({
    config: { ...config(collector.url), batch },
    resource: { "service.name": "backend-deno" },
    serviceVersion: "0.1.0",
  })!;
  try {
    for (let i = 0; i < 8; i++) {
      p.records.emit("info", { message: `line ${i}`, i }, { timeMs: 1_000 + i, trace: TRACE });
    }
    assert.equal(p.sink.stats().dropped, 2, "the queue holds OTEL_BLRP_MAX_QUEUE_SIZE records");
    // Two full batches leave at once; nothing waits for the hour-long delay.
    await collector.waitFor(() => collector.batches.length >= 2, "two full batches");
    assert.deepEqual(collector.batches.map((b) => b.map((r) => r.attributes.i)), [
      [0, 1, 2],
      [3, 4, 5],
    ]);
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await collector.close();
  }
});

Deno.test("log records: a retry that would end past OTEL_BLRP_EXPORT_TIMEOUT is not waited for; the batch is dropped and counted", async () => {
  const collector = startCollector();
  const diagnostics: string[] = [];
  const p = pipeline(collector.url, { exportTimeoutMillis: 500 }, diagnostics);
  try {
    collector.answers.push(() =>
      new Response("busy", { status: 503, headers: { "retry-after": "3" } })
    );
    for (let i = 0; i < 3; i++) {
      p.records.emit("info", { message: `line ${i}` }, { timeMs: Date.now(), trace: TRACE });
    }
    await p.sink.forceFlush(Date.now() + 10_000);
    assert.equal(collector.bodies.length, 1, "one attempt: the 3 s wait would pass the 500 ms");
    assert.deepEqual(p.sink.stats(), {
      queued: 3,
      sent: 0,
      retried: 0,
      dropped: 3,
      rejected: 0,
      failed: 0,
    });
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!, /3 records lost: OTEL_BLRP_EXPORT_TIMEOUT \(500 ms\) passed/);
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await collector.close();
  }
});

Deno.test("log records: a burst of big records reaches a receiver that refuses bodies over 5 MB (413) complete, in order, each once", async () => {
  const receiver = startOtlpReceiver();
  const diagnostics: string[] = [];
  const p = pipeline(`${receiver.url}/v1/logs`, {}, diagnostics);
  try {
    // The stand-in enforces its limit: one body over it is refused before it is decoded.
    const over = await fetch(`${receiver.url}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: " ".repeat(OTLP_SIGNAL_MAX_BODY_BYTES + 1),
    });
    await over.body?.cancel();
    assert.equal(over.status, 413);
    receiver.logRequests.length = 0;

    // 60 records of ~300 KB (ASCII and two-byte text): ~18 MB, far over one body.
    const count = 60;
    for (let i = 0; i < count; i++) {
      const detail = i % 2 ? "é".repeat(150_000) : "a".repeat(300_000);
      p.records.emit("info", { message: `big ${i}`, i, detail }, {
        timeMs: 1_000 + i,
        trace: TRACE,
      });
    }
    // And one record over the 512 KiB record cap: shortened, not lost.
    p.records.emit("warn", { message: "huge", i: count, detail: "z".repeat(2_000_000) }, {
      timeMs: 2_000,
      trace: TRACE,
    });
    await p.sink.forceFlush(Date.now() + 60_000);

    assert.deepEqual(receiver.logRequests.map((r) => r.status).filter((s) => s !== 200), []);
    assert.ok(receiver.logRequests.length >= 5, `${receiver.logRequests.length} requests`);
    for (const request of receiver.logRequests) {
      assert.ok(new TextEncoder().encode(request.raw).byteLength <= MAX_REQUEST_BYTES);
    }
    const records = receiver.logRecords();
    assert.deepEqual(records.map((r) => r.attributes.i), [...Array(count + 1).keys()]);
    for (const r of records.slice(0, count)) {
      assert.equal(
        String(r.attributes.detail).length,
        r.attributes.i as number % 2 ? 150_000 : 300_000,
      );
    }
    const huge = String(records[count]!.attributes.detail);
    assert.ok(huge.endsWith(TRUNCATION_MARKER) && huge.length < MAX_RECORD_BYTES, `${huge.length}`);
    assert.equal(records[count]!.body, "huge");
    assert.deepEqual(p.sink.stats(), {
      queued: count + 1,
      sent: count + 1,
      retried: 0,
      dropped: 0,
      rejected: 0,
      failed: 0,
      truncated: 1,
    });
    assert.deepEqual(diagnostics, [
      `logs: 1 records over ${MAX_RECORD_BYTES} bytes shortened to fit`,
    ]);
  } finally {
    await p.sink.shutdown(Date.now() + 5_000);
    await receiver.close();
  }
});

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`log records (${protocol}): a batch a receiver refuses as too large (413) is sent again in halves, complete, in order, each once`, async () => {
    const limit = 6_000;
    const receiver = startOtlpReceiver({ maxSignalBodyBytes: limit });
    const diagnostics: string[] = [];
    const p = pipeline(`${receiver.url}/v1/logs`, {}, diagnostics, protocol);
    try {
      // 40 records of ~500 bytes: one ~20 KB body, over the receiver's limit, each record under.
      for (let i = 0; i < 40; i++) {
        p.records.emit("info", { message: `line ${i}`, i, pad: "x".repeat(450) }, {
          timeMs: Date.now(),
          trace: TRACE,
        });
      }
      await p.sink.forceFlush(Date.now() + 10_000);
      // And a record too large for the receiver on its own: refused as it is, counted failed.
      p.records.emit("info", { message: "alone too large", pad: "y".repeat(limit) }, {
        timeMs: Date.now(),
        trace: TRACE,
      });
      await p.sink.forceFlush(Date.now() + 10_000);
      const refused = receiver.logRequests.filter((r) => r.status === 413);
      assert.ok(refused.length >= 2, `${refused.length} refused`);
      const accepted = receiver.logRequests.filter((r) => r.status === 200);
      assert.ok(accepted.length >= 4, `${accepted.length} accepted`);
      for (const r of accepted) assert.equal(r.protocol, protocol);
      assert.deepEqual(
        receiver.logRecords().map((r) => r.attributes.i),
        [...Array(40).keys()],
        "every record once, in order",
      );
      assert.deepEqual(p.sink.stats(), {
        queued: 41,
        sent: 40,
        retried: 0,
        dropped: 0,
        rejected: 0,
        failed: 1,
      });
      assert.equal(diagnostics.length, 2, diagnostics.join("\n"));
      assert.match(diagnostics[0]!, /refused \d+ bytes as too large \(413\), sending halves/);
      assert.match(diagnostics[1]!, /1 records lost: HTTP 413/, "the one that cannot fit");
    } finally {
      await p.sink.shutdown(Date.now() + 5_000);
      await receiver.close();
    }
  });
}
