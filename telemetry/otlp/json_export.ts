/**
 * One OTLP/HTTP JSON export attempt for the metrics and logs sinks: the stock serializer, the
 * traces sink's fetch transport (telemetry/otlp/transport.ts) and its classification of the
 * answer, so every OTLP signal speaks to the collector the same way. Partial success is read
 * from the signal's own response field.
 */
import { context } from "@opentelemetry/api";
import { suppressTracing } from "@opentelemetry/core";
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { type AttemptOutcome, classifyResponse } from "./retry.ts";

/** What a signal's serializer offers (JsonMetricsSerializer, JsonLogsSerializer). */
export interface SignalSerializer<T> {
  serializeRequest(request: T): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

/** Sends `request` once; `rejectedField` names the partial-success count of the signal. */
export async function exportOnce<T>(
  transport: IExporterTransport,
  serializer: SignalSerializer<T>,
  request: T,
  options: { timeoutMs: number; rejectedField: string },
): Promise<AttemptOutcome> {
  const data = serializer.serializeRequest(request);
  if (!data) return { kind: "fail", reason: "the request could not be serialised" };
  // The exporter's own HTTP call must never become a span, whatever is instrumented.
  const response = await context.with(
    suppressTracing(context.active()),
    () => transport.send(data, options.timeoutMs),
  );
  const outcome = classifyResponse(response);
  if (outcome.kind !== "sent" || response.status !== "success" || !response.data?.byteLength) {
    return outcome;
  }
  try {
    const body = serializer.deserializeResponse(response.data) as
      | { partialSuccess?: Record<string, unknown> }
      | undefined;
    const rejected = Number(body?.partialSuccess?.[options.rejectedField] ?? 0);
    return { kind: "sent", rejected: Number.isFinite(rejected) && rejected > 0 ? rejected : 0 };
  } catch {
    return { kind: "sent", rejected: 0 };
  }
}
