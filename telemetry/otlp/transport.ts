/**
 * OTLP/HTTP as an `IExporterTransport` (the public seam of otlp-exporter-base): one POST per
 * call on `fetch`, ended by `AbortSignal.timeout` (body included), reading at most a small,
 * fixed amount of the answer. Each call answers with what the collector said (status class,
 * Retry-After, body), so the retry layer above decides without reading private fields.
 */
import type { ExportResponse, IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { readBounded } from "../util/body.ts";
import { callSignal } from "../util/deadline.ts";
import { errorText } from "../util/errors.ts";
import { CONTENT_TYPE, type OtlpProtocol } from "./encoding.ts";

/** A partial-success answer is a few hundred bytes; nothing a collector says needs more. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** Statuses worth a retry (the OTLP/HTTP spec's list). */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Options of {@linkcode OtlpHttpTransport}. */
export interface OtlpHttpTransportOptions {
  /** The full traces URL (…/v1/traces). */
  url: string;
  /** Extra headers (OTEL_EXPORTER_OTLP_HEADERS), e.g. x-honeycomb-team. */
  headers?: Record<string, string>;
  /** What the bodies are (Content-Type). Default OTLP JSON. */
  protocol?: OtlpProtocol;
  /** Bytes of a response kept at most. Default {@linkcode MAX_RESPONSE_BYTES}. */
  maxResponseBytes?: number;
}

/** A failed OTLP/HTTP call; `status` is absent for network errors and timeouts. */
export class OtlpHttpError extends Error {
  override name = "OtlpHttpError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** Sends serialised OTLP requests; see the module comment. */
export class OtlpHttpTransport implements IExporterTransport {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #maxResponseBytes: number;
  /** Aborted by shutdown(): ends every call still out. */
  readonly #closed = new AbortController();

  constructor(options: OtlpHttpTransportOptions) {
    this.#url = options.url;
    this.#headers = {
      ...options.headers,
      "content-type": CONTENT_TYPE[options.protocol ?? "http/json"],
    };
    this.#maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const signal = callSignal(timeoutMillis, this.#closed.signal);
    try {
      const response = await fetch(this.#url, {
        method: "POST",
        headers: this.#headers,
        body: data as Uint8Array<ArrayBuffer>,
        signal,
      });
      const body = await readBounded(response, this.#maxResponseBytes, signal);
      if (signal.aborted) return timedOut(timeoutMillis);
      return answer(response, body.bytes);
    } catch (error) {
      if (signal.aborted) return timedOut(timeoutMillis);
      return {
        status: "retryable",
        error: new OtlpHttpError(`network error: ${errorText(error)}`),
      };
    }
  }

  shutdown(): void {
    this.#closed.abort();
  }
}

function timedOut(timeoutMillis: number): ExportResponse {
  return { status: "retryable", error: new OtlpHttpError(`timed out after ${timeoutMillis} ms`) };
}

function answer(response: Response, data: Uint8Array): ExportResponse {
  const status = response.status;
  if (status >= 200 && status < 300) return { status: "success", data };
  const error = new OtlpHttpError(`HTTP ${status}`, status);
  if (!RETRYABLE_STATUS.has(status)) return { status: "failure", error };
  const retryInMillis = retryAfterMs(response.headers.get("retry-after"));
  return retryInMillis === undefined
    ? { status: "retryable", error }
    : { status: "retryable", error, retryInMillis };
}

/** Retry-After as delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
