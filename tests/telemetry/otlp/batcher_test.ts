import assert from "node:assert/strict";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { SpanBatcher, type SpanBatchSettings } from "../../../telemetry/otlp/batcher.ts";
import { TraceRequestEncoder } from "../../../telemetry/otlp/span_json.ts";
import { emptyStats } from "../../../telemetry/types.ts";
import { SyncMemoryExporter } from "../../support/memory_exporter.ts";
import { decodeTraces } from "../../support/otlp_signals.ts";

/** Finished spans named `name-i`. */
function makeSpans(n: number, name = "span"): ReadableSpan[] {
  const memory = new SyncMemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer("test");
  for (let i = 0; i < n; i++) tracer.startSpan(`${name}-${i}`).end();
  return [...memory.spans];
}

/** A delivery that records each batch and settles it when the test says so. */
function recordingDelivery(autoSettle = true) {
  const batches: Array<{ names: string[]; spans: number; body: Uint8Array; settle: () => void }> =
    [];
  return {
    batches,
    deliver(body: Uint8Array, spans: number): Promise<void> {
      const names = decodeTraces(JSON.parse(new TextDecoder().decode(body))).map((s) => s.name);
      assert.equal(names.length, spans, "the count is the body's");
      return new Promise<void>((resolve) => {
        batches.push({ names, spans, body, settle: resolve });
        if (autoSettle) resolve();
      });
    },
  };
}

function setup(settings: Partial<SpanBatchSettings>, autoSettle = true) {
  const delivery = recordingDelivery(autoSettle);
  const counts = emptyStats();
  const diagnostics: string[] = [];
  const batcher = new SpanBatcher({
    maxQueueSize: 8,
    maxExportBatchSize: 2,
    scheduledDelayMillis: 60_000,
    exportTimeoutMillis: 30_000,
    ...settings,
    encoder: new TraceRequestEncoder(),
    delivery,
    counts,
    diagnostic: (m) => diagnostics.push(m),
  });
  return { batcher, delivery, counts, diagnostics };
}

// Not tests/support/faults.ts's until: these tests assert what has NOT left yet right after a
// batch did, so they poll every 1 ms rather than every 5.
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("Timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

Deno.test("SpanBatcher: end() only stores the span; full batches leave in the sink's own turn", async () => {
  const t = setup({});
  try {
    for (const span of makeSpans(5)) t.batcher.onEnd(span);
    // Nothing was encoded or sent inside the spans' end(): that is the sink's timer turn.
    assert.equal(t.delivery.batches.length, 0);
    assert.equal(t.batcher.queued(), 5);
    assert.equal(t.counts.queued, 5);
    await until(() => t.delivery.batches.length === 2);
    assert.deepEqual(t.delivery.batches.map((b) => b.names), [
      ["span-0", "span-1"],
      ["span-2", "span-3"],
    ]);
    assert.equal(t.batcher.queued(), 1, "the open batch waits for the delay or a flush");
    await t.batcher.forceFlush();
    assert.deepEqual(t.delivery.batches[2]?.names, ["span-4"]);
    assert.equal(t.batcher.queued(), 0);
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: a partial batch leaves after the scheduled delay", async () => {
  const t = setup({ scheduledDelayMillis: 20 });
  try {
    for (const span of makeSpans(1)) t.batcher.onEnd(span);
    await until(() => t.delivery.batches.length === 1);
    assert.deepEqual(t.delivery.batches[0]?.names, ["span-0"]);
    assert.equal(t.batcher.queued(), 0);
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: one hand-over at a time; past maxQueueSize spans are dropped and counted", async () => {
  const t = setup({ maxQueueSize: 4 }, false);
  try {
    for (const span of makeSpans(6)) t.batcher.onEnd(span);
    assert.equal(t.counts.queued, 6);
    assert.equal(t.counts.dropped, 2, "the ring holds 4");
    await until(() => t.delivery.batches.length === 1);
    // The second batch is sealed but waits for the first hand-over; it is still held here.
    assert.equal(t.batcher.queued(), 2);
    for (const span of makeSpans(3, "late")) t.batcher.onEnd(span);
    assert.equal(t.counts.dropped, 3, "2 held + 2 new fill the cap again");
    t.delivery.batches[0]!.settle();
    await until(() => t.delivery.batches.length === 2);
    assert.deepEqual(t.delivery.batches[1]?.names, ["span-2", "span-3"]);
    t.delivery.batches[1]!.settle();
    await until(() => t.delivery.batches.length === 3);
    assert.deepEqual(t.delivery.batches[2]?.names, ["late-0", "late-1"]);
    t.delivery.batches[2]!.settle();
    // queued = dropped + handed over + held
    const handed = t.delivery.batches.reduce((n, b) => n + b.spans, 0);
    assert.equal(t.counts.queued, t.counts.dropped + handed + t.batcher.queued());
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: up to maxConcurrentExports batches are out at once, each in its own buffer; any settled one frees a place", async () => {
  const t = setup({ maxQueueSize: 8, maxConcurrentExports: 3 }, false);
  const bodyNames = (body: Uint8Array) =>
    decodeTraces(JSON.parse(new TextDecoder().decode(body))).map((s) => s.name);
  try {
    for (const span of makeSpans(8)) t.batcher.onEnd(span);
    await until(() => t.delivery.batches.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(t.delivery.batches.length, 3, "three out; the fourth waits");
    assert.equal(t.batcher.queued(), 2);
    const [first, second, third] = t.delivery.batches;
    assert.equal(new Set([first!.body.buffer, second!.body.buffer, third!.body.buffer]).size, 3);
    second!.settle();
    await until(() => t.delivery.batches.length === 4);
    assert.deepEqual(t.delivery.batches.map((b) => bodyNames(b.body)), [
      ["span-0", "span-1"],
      ["span-2", "span-3"],
      ["span-4", "span-5"],
      ["span-6", "span-7"],
    ]);
    for (const batch of t.delivery.batches) batch.settle();
    await t.batcher.forceFlush();
    assert.equal(t.batcher.queued(), 0);
    const handed = t.delivery.batches.reduce((n, b) => n + b.spans, 0);
    assert.equal(t.counts.queued, t.counts.dropped + handed);
    assert.equal(handed, 8);
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: a batch's body stays intact until its delivery settles; then its buffer is reused", async () => {
  const t = setup({ maxQueueSize: 8 }, false);
  const bodyNames = (body: Uint8Array) =>
    decodeTraces(JSON.parse(new TextDecoder().decode(body))).map((s) => s.name);
  try {
    for (const span of makeSpans(6)) t.batcher.onEnd(span);
    await until(() => t.delivery.batches.length === 1);
    // Two more batches were written while the first is out: none into its buffer.
    assert.deepEqual(bodyNames(t.delivery.batches[0]!.body), ["span-0", "span-1"]);
    t.delivery.batches[0]!.settle();
    await until(() => t.delivery.batches.length === 2);
    t.delivery.batches[1]!.settle();
    await until(() => t.delivery.batches.length === 3);
    t.delivery.batches[2]!.settle();
    for (const span of makeSpans(2, "late")) t.batcher.onEnd(span);
    await until(() => t.delivery.batches.length === 4);
    const late = t.delivery.batches[3]!;
    assert.deepEqual(bodyNames(late.body), ["late-0", "late-1"]);
    assert.ok(
      t.delivery.batches.slice(0, 3).some((b) => b.body.buffer === late.body.buffer),
      "a settled batch's buffer carries a later batch",
    );
    late.settle();
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: an unencodable span is counted failed, reported once, the rest go", async () => {
  const t = setup({});
  try {
    const [a, b, c] = makeSpans(3);
    const broken = Object.create(b!, {
      attributes: {
        get() {
          throw new Error("throwing getter");
        },
      },
    }) as ReadableSpan;
    for (const span of [a!, broken, c!, broken]) t.batcher.onEnd(span);
    await until(() => t.delivery.batches.length === 1);
    assert.deepEqual(t.delivery.batches[0]?.names, ["span-0", "span-2"]);
    assert.equal(t.counts.failed, 2);
    assert.equal(t.batcher.queued(), 0);
    assert.equal(t.diagnostics.filter((d) => d.includes("could not be encoded")).length, 1);
  } finally {
    await t.batcher.shutdown();
  }
});

Deno.test("SpanBatcher: unsampled spans are not counted; after shutdown spans are dropped", async () => {
  const t = setup({});
  const [span] = makeSpans(1);
  const unsampled = Object.create(span!, {
    spanContext: { value: () => ({ ...span!.spanContext(), traceFlags: 0 }) },
  }) as ReadableSpan;
  t.batcher.onEnd(unsampled);
  assert.equal(t.counts.queued, 0);
  await t.batcher.shutdown();
  t.batcher.onEnd(span!);
  assert.equal(t.counts.queued, 1);
  assert.equal(t.counts.dropped, 1);
  await t.batcher.forceFlush();
  assert.equal(t.delivery.batches.length, 0);
});
