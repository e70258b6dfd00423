/**
 * The log-records sink as the telemetry contract sees it: the logger's events as OTLP log
 * records (telemetry/otlp_logs/pipeline.ts). Its delivery shares the OTLP transformer-based
 * export path, so it is loaded after the server listens: the records of the first requests
 * wait for it in the sink set's bounded buffer.
 */
import type { LogsConfig } from "../../config.ts";
import type { SinkPlugin } from "../types.ts";
import type { LogsPipelineOptions } from "./pipeline.ts";

/** Whether `config` names an exporter the pipeline builds (createLogsPipeline's rule). */
function hasExporter(config: LogsConfig): boolean {
  return (config.exporters.includes("otlp") && Boolean(config.endpoint)) ||
    config.exporters.includes("console");
}

/** Installs the log-records sink from `config.logs` (SDK mode only; Deno exports natively). */
export const otlpLogsSink: SinkPlugin<LogsPipelineOptions["batch"]> = {
  name: "logs",
  deferrable: (config) =>
    config.otel.mode === "sdk" && hasExporter(config.logs) ? ["logRecords"] : undefined,
  async install({ config, diagnostic, resource, tuning }) {
    if (config.otel.mode !== "sdk") {
      return {
        startup: "Log records: not from the SDK pipeline (OTEL_DENO/OTEL_SDK_DISABLED is set)",
      };
    }
    const off = {
      startup: "Log records: off (set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_LOGS_EXPORTER)",
    };
    if (!hasExporter(config.logs)) return off;
    const { createLogsPipeline } = await import("./pipeline.ts");
    const pipeline = createLogsPipeline({
      config: config.logs,
      resource: { ...resource },
      serviceVersion: config.serviceVersion,
      diagnostic,
      ...(tuning ? { batch: tuning } : {}),
    });
    if (!pipeline) return off;
    return {
      startup: `Log records: SDK pipeline to ${pipeline.destination}`,
      sink: pipeline.sink,
      logRecords: pipeline.records,
    };
  },
};
