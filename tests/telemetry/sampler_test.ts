import assert from "node:assert/strict";
import {
  type Context,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import { createAlwaysRecordSampler } from "@opentelemetry/sdk-trace";
import {
  AlwaysOffSampler as SdkAlwaysOff,
  AlwaysOnSampler as SdkAlwaysOn,
  ParentBasedSampler as SdkParentBased,
  type Sampler,
  SamplingDecision,
  TraceIdRatioBasedSampler as SdkRatio,
} from "@opentelemetry/sdk-trace-base";
import { createTraceIds } from "../../telemetry/ids.ts";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  alwaysRecord,
  createSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from "../../telemetry/sampler.ts";

function decide(sampler: Sampler, context: Context, traceId: string) {
  return sampler.shouldSample(context, traceId, "s", SpanKind.SERVER, {}, []).decision;
}

const ids = createTraceIds("random");
const xrayIds = createTraceIds("xray");
const TRACE_IDS = [
  ...Array.from({ length: 2000 }, () => ids.generateTraceId()),
  ...Array.from({ length: 500 }, () => xrayIds.generateTraceId()),
  "00000000000000000000000000000000", // invalid: never sampled
  "ffffffffffffffffffffffffffffffff",
  "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".toLowerCase(),
  "0af7651916cd43dd8448eb211c80319c",
];

Deno.test("traceidratio decides as the SDK's TraceIdRatioBasedSampler for every trace id and ratio", () => {
  for (const ratio of [0, 0.0001, 0.05, 0.25, 0.5, 0.999, 1, -1, 2, NaN]) {
    const ours = new TraceIdRatioBasedSampler(ratio);
    const sdk = new SdkRatio(ratio);
    assert.equal(ours.toString(), sdk.toString());
    let sampled = 0;
    for (const traceId of TRACE_IDS) {
      const decision = decide(ours, ROOT_CONTEXT, traceId);
      assert.equal(decision, decide(sdk, ROOT_CONTEXT, traceId), `${ratio} ${traceId}`);
      if (decision === SamplingDecision.RECORD_AND_SAMPLED) sampled++;
    }
    if (ratio === 0.5) assert.ok(sampled > 1000 && sampled < 1500, `about half: ${sampled}`);
  }
});

/** Contexts with every kind of parent (and none). */
function parents(): Array<[string, Context]> {
  const span = (traceFlags: number, isRemote: boolean): SpanContext => ({
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    traceFlags,
    isRemote,
  });
  return [
    ["root", ROOT_CONTEXT],
    [
      "invalid parent",
      trace.setSpanContext(
        ROOT_CONTEXT,
        trace.wrapSpanContext({
          traceId: "0".repeat(32),
          spanId: "0".repeat(16),
          traceFlags: 1,
        }).spanContext(),
      ),
    ],
    ["remote sampled", trace.setSpanContext(ROOT_CONTEXT, span(TraceFlags.SAMPLED, true))],
    ["remote unsampled", trace.setSpanContext(ROOT_CONTEXT, span(TraceFlags.NONE, true))],
    ["local sampled", trace.setSpanContext(ROOT_CONTEXT, span(TraceFlags.SAMPLED, false))],
    ["local unsampled", trace.setSpanContext(ROOT_CONTEXT, span(TraceFlags.NONE, false))],
    ["remote random+sampled", trace.setSpanContext(ROOT_CONTEXT, span(3, true))],
  ];
}

Deno.test("parentbased follows each of its five delegates as the SDK's ParentBasedSampler does", () => {
  const on = [new AlwaysOnSampler(), new SdkAlwaysOn()] as const;
  const off = [new AlwaysOffSampler(), new SdkAlwaysOff()] as const;
  const ratio = [new TraceIdRatioBasedSampler(0.5), new SdkRatio(0.5)] as const;
  const choices = [on, off, ratio];
  let checked = 0;
  for (const root of choices) {
    for (const delegate of choices) {
      for (
        const slot of [
          "remoteParentSampled",
          "remoteParentNotSampled",
          "localParentSampled",
          "localParentNotSampled",
        ] as const
      ) {
        const ours = new ParentBasedSampler({ root: root[0], [slot]: delegate[0] });
        const sdk = new SdkParentBased({ root: root[1], [slot]: delegate[1] });
        assert.equal(ours.toString(), sdk.toString());
        for (const [what, context] of parents()) {
          for (const traceId of TRACE_IDS.slice(0, 50)) {
            assert.equal(
              decide(ours, context, traceId),
              decide(sdk, context, traceId),
              `${ours} ${what} ${traceId}`,
            );
            checked++;
          }
        }
      }
    }
  }
  assert.ok(checked > 10_000);
});

Deno.test("OTEL_TRACES_SAMPLER names the SDK's samplers; always-record keeps what they drop as RECORD", () => {
  const sdk: Record<string, Sampler> = {
    always_on: new SdkAlwaysOn(),
    always_off: new SdkAlwaysOff(),
    traceidratio: new SdkRatio(0.3),
    parentbased_always_on: new SdkParentBased({ root: new SdkAlwaysOn() }),
    parentbased_always_off: new SdkParentBased({ root: new SdkAlwaysOff() }),
    parentbased_traceidratio: new SdkParentBased({ root: new SdkRatio(0.3) }),
  };
  for (const [name, theirs] of Object.entries(sdk)) {
    const ours = createSampler(name, 0.3);
    assert.equal(ours.toString(), theirs.toString(), name);
    const recordAll = alwaysRecord(ours);
    const sdkRecordAll = createAlwaysRecordSampler(theirs);
    assert.equal(recordAll.toString(), sdkRecordAll.toString());
    for (const [what, context] of parents()) {
      for (const traceId of TRACE_IDS.slice(0, 200)) {
        assert.equal(decide(ours, context, traceId), decide(theirs, context, traceId), name);
        const decision = decide(recordAll, context, traceId);
        assert.equal(decision, decide(sdkRecordAll, context, traceId), `${name} ${what}`);
        assert.notEqual(decision, SamplingDecision.NOT_RECORD);
      }
    }
  }
  assert.equal(createSampler("traceidratio", undefined).toString(), "TraceIdRatioBased{1}");
});
