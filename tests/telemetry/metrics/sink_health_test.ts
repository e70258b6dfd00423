import assert from "node:assert/strict";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { registerSinkHealthMetrics } from "../../../telemetry/metrics/sink_health.ts";
import { emptyStats, type SinkStats } from "../../../telemetry/types.ts";

/** A reader collected by hand: no timer, nothing exported. */
class ManualReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("sink health: cruddur.telemetry.truncated counts the records a sink shortened, only for sinks that shorten", async () => {
  const reader = new ManualReader();
  const provider = new MeterProvider({ readers: [reader] });
  const logs: SinkStats = { ...emptyStats(), queued: 3, sent: 3, truncated: 2 };
  registerSinkHealthMetrics(provider.getMeter("test"), () => ({ logs, traces: emptyStats() }));
  try {
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics[0]!.metrics.find((m) =>
      m.descriptor.name === "cruddur.telemetry.truncated"
    );
    assert.equal(metric?.descriptor.unit, "{item}");
    assert.deepEqual(
      metric?.dataPoints.map((p) => [p.attributes["otel.component.name"], p.value]),
      [["logs", 2]],
    );
  } finally {
    await provider.shutdown();
  }
});
