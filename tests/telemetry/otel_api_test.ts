import assert from "node:assert/strict";
import * as api from "@opentelemetry/api";
import {
  baggageEntryMetadataFromString,
  createContextKey,
  diag,
  globalContext,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from "../../telemetry/otel_api.ts";
import { REQUEST_ROOT_CONTEXT } from "../../telemetry/context.ts";

Deno.test("the API values the request path uses equal @opentelemetry/api's", () => {
  assert.deepEqual(
    { ...SpanKind },
    Object.fromEntries(
      Object.entries(api.SpanKind).filter(([k]) => isNaN(Number(k))),
    ),
  );
  assert.deepEqual(
    { ...SpanStatusCode },
    Object.fromEntries(
      Object.entries(api.SpanStatusCode).filter(([k]) => isNaN(Number(k))),
    ),
  );
  assert.deepEqual(
    { ...TraceFlags },
    Object.fromEntries(
      Object.entries(api.TraceFlags).filter(([k]) => isNaN(Number(k))),
    ),
  );
  assert.deepEqual(INVALID_SPAN_CONTEXT, api.INVALID_SPAN_CONTEXT);
  assert.equal(createContextKey("x"), api.createContextKey("x"));
  const ids = [
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "4BF92F3577B34DA6A3CE929D0E0E4736",
    "0".repeat(32),
    "4bf92f3577b34da6a3ce929d0e0e473",
    "4bf92f3577b34da6a3ce929d0e0e4736a",
    "4bf92f3577b34da6a3ce929d0e0e473g",
    "00f067aa0ba902b7",
    "0".repeat(16),
    "00f067aa0ba902bz",
    "",
    "\u00e9".repeat(16),
  ];
  for (const id of ids) {
    assert.equal(isValidTraceId(id), api.isValidTraceId(id), id);
    assert.equal(isValidSpanId(id), api.isValidSpanId(id), id);
    for (const other of ids) {
      const sc = { traceId: id, spanId: other, traceFlags: 1 };
      assert.equal(isSpanContextValid(sc), api.isSpanContextValid(sc));
    }
  }
});

Deno.test("spans and baggage set here are read by @opentelemetry/api, and the other way round", () => {
  const sc = {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    traceFlags: 1,
  };
  for (const root of [REQUEST_ROOT_CONTEXT, api.ROOT_CONTEXT]) {
    const ours = trace.setSpanContext(root, sc);
    assert.deepEqual(api.trace.getSpanContext(ours), sc);
    assert.equal(api.trace.getSpan(ours)?.isRecording(), false);
    const theirs = api.trace.setSpanContext(root, sc);
    assert.deepEqual(trace.getSpanContext(theirs), sc);
    assert.equal(trace.getSpan(trace.deleteSpan(theirs)), undefined);
    assert.equal(api.trace.getSpan(trace.deleteSpan(ours)), undefined);
    const span = trace.wrapSpanContext(sc);
    assert.equal(api.trace.getSpan(trace.setSpan(root, span)), span);
    assert.equal(span.setAttribute("k", 1).addEvent("e").setStatus({ code: 2 }), span);
    span.end();
    assert.equal(span.isRecording(), false);

    const baggage = propagation.createBaggage({
      a: { value: "1" },
      b: { value: "2", metadata: baggageEntryMetadataFromString("p=1") },
    });
    const withBaggage = propagation.setBaggage(root, baggage);
    const read = api.propagation.getBaggage(withBaggage)!;
    assert.deepEqual(read.getEntry("a"), { value: "1" });
    assert.equal(read.getEntry("b")?.metadata?.toString(), "p=1");
    assert.deepEqual(read.setEntry("c", { value: "3" }).getAllEntries().map(([k]) => k), [
      "a",
      "b",
      "c",
    ]);
    assert.deepEqual(read.removeEntries("a", "b").getAllEntries(), []);
    assert.deepEqual(read.getAllEntries().length, 2, "baggage is immutable");
    const apiBaggage = api.propagation.setBaggage(
      root,
      api.propagation.createBaggage({ z: { value: "9" } }),
    );
    assert.deepEqual(propagation.getBaggage(apiBaggage)?.getEntry("z"), { value: "9" });
  }
});

Deno.test("diag and the global context manager are the ones registered with @opentelemetry/api", () => {
  const seen: string[] = [];
  const logger = {
    error: (m: string) => seen.push(`error ${m}`),
    warn: (m: string) => seen.push(`warn ${m}`),
    info: () => {},
    debug: (m: string) => seen.push(`debug ${m}`),
    verbose: () => {},
  };
  diag.warn("before any logger"); // silent
  api.diag.setLogger(logger, api.DiagLogLevel.ALL);
  const key = api.createContextKey("test");
  const manager: api.ContextManager = {
    active: () => api.ROOT_CONTEXT.setValue(key, "active"),
    with: (_ctx, fn, thisArg, ...args) => fn.call(thisArg, ...args),
    bind: (_ctx, target) => target,
    enable() {
      return this;
    },
    disable() {
      return this;
    },
  };
  try {
    diag.warn("w");
    diag.error("e");
    diag.debug("d");
    assert.deepEqual(seen.filter((s) => !s.includes("@opentelemetry/api")), [
      "warn w",
      "error e",
      "debug d",
    ]);
    assert.equal(globalContext.active(REQUEST_ROOT_CONTEXT), REQUEST_ROOT_CONTEXT, "no manager");
    api.context.setGlobalContextManager(manager);
    assert.equal(globalContext.active(REQUEST_ROOT_CONTEXT).getValue(key), "active");
    assert.equal(globalContext.with(REQUEST_ROOT_CONTEXT, (a: number) => a + 1, undefined, 1), 2);
  } finally {
    api.diag.disable();
    api.context.disable();
  }
  assert.equal(globalContext.active(REQUEST_ROOT_CONTEXT), REQUEST_ROOT_CONTEXT);
  diag.warn("after"); // silent again
  assert.equal(seen.some((s) => s.includes("after")), false);
});
