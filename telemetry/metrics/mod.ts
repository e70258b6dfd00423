/**
 * The metrics sink as the telemetry contract sees it: a request recorder whose series the SDK
 * pipeline (telemetry/metrics/pipeline.ts: sdk-metrics and the OTLP transformer) exports.
 * Loaded only when an exporter is configured, after the server listens: the samples of the
 * first requests wait for it in the sink set's bounded buffer.
 */
import type { MetricsConfig } from "../../config.ts";
import type { SinkPlugin } from "../types.ts";

export type { RequestRecorder, RequestSample } from "./http_server.ts";

/** Whether `config` names an exporter the pipeline builds (createMetricsPipeline's rule). */
function hasExporter(config: MetricsConfig): boolean {
  return (config.exporters.includes("otlp") && Boolean(config.endpoint)) ||
    config.exporters.includes("console");
}

/** Installs the metrics sink from `config.metrics` (SDK mode only; Deno exports natively). */
export const metricsSink: SinkPlugin = {
  name: "metrics",
  deferrable: (config) =>
    config.otel.mode === "sdk" && hasExporter(config.metrics) ? ["requestRecorder"] : undefined,
  async install({ config, diagnostic, resource, stats }) {
    if (config.otel.mode !== "sdk") {
      return {
        startup: "Metrics: not from the SDK pipeline (OTEL_DENO/OTEL_SDK_DISABLED is set)",
      };
    }
    const off = {
      startup: "Metrics: off (set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_METRICS_EXPORTER)",
    };
    if (!hasExporter(config.metrics)) return off;
    const { createMetricsPipeline } = await import("./pipeline.ts");
    const pipeline = createMetricsPipeline({
      config: config.metrics,
      resource: { ...resource },
      serviceVersion: config.serviceVersion,
      stats,
      diagnostic,
    });
    if (!pipeline) return off;
    return {
      startup:
        `Metrics: SDK pipeline to ${pipeline.destination} every ${config.metrics.intervalMs} ms`,
      sink: pipeline.sink,
      requestRecorder: pipeline.recorder,
    };
  },
};
