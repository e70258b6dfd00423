/**
 * The two OTLP/HTTP encodings (OTEL_EXPORTER_OTLP_PROTOCOL): what a batch encoder offers the
 * traces batcher and retry layer whichever it writes, the content type each is sent as, and
 * how the collector's answer is read for its partial-success count.
 */
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { OtlpProtocol } from "../../config.ts";
import { protobufRejected } from "./protobuf.ts";

export type { OtlpProtocol } from "../../config.ts";

/** The Content-Type of each encoding (the OTLP/HTTP specification's). */
export const CONTENT_TYPE: Readonly<Record<OtlpProtocol, string>> = {
  "http/json": "application/json",
  "http/protobuf": "application/x-protobuf",
};

/** One encoded batch of spans. */
export interface EncodedSpans {
  /** The request body. */
  body: Uint8Array;
  /** Spans in the body. */
  spans: number;
  /** Spans left out because their fields could not be read. */
  unencodable: number;
}

/**
 * Writes ExportTraceServiceRequest bodies: `add` spans to the open batch, `write` at the end
 * of a turn, `finish` for the body, `release` it once its delivery is done with it.
 */
export interface SpanBatchEncoder {
  /** The encoding written. */
  readonly protocol: OtlpProtocol;
  /** Spans in the open batch. */
  readonly count: number;
  /** Appends one span; false (nothing added) when its fields cannot be read. */
  add(span: ReadableSpan): boolean;
  /** Ends a turn: whatever the batch holds as text becomes bytes. */
  write(): void;
  /** The open batch's body; the next batch starts empty. */
  finish(): Uint8Array;
  /** Gives a finished body back for reuse once nothing reads it. */
  release(body: Uint8Array): void;
  /** One whole batch: the open batch must be empty. */
  encode(spans: readonly ReadableSpan[]): EncodedSpans;
}

const text = new TextDecoder();

/**
 * The rejected count of a collector's success answer in `protocol`: a JSON
 * `partialSuccess[field]`, or the protobuf response's partial_success field 1. 0 when absent
 * or unreadable (the batch counts as sent).
 */
export function rejectedCount(
  protocol: OtlpProtocol,
  data: Uint8Array | undefined,
  field: "rejectedSpans" | "rejectedLogRecords",
): number {
  if (!data || data.byteLength === 0) return 0;
  if (protocol === "http/protobuf") return protobufRejected(data);
  try {
    const body = JSON.parse(text.decode(data)) as
      | { partialSuccess?: Record<string, unknown> }
      | undefined;
    const rejected = Number(body?.partialSuccess?.[field] ?? 0);
    return Number.isFinite(rejected) && rejected > 0 ? rejected : 0;
  } catch {
    return 0;
  }
}
