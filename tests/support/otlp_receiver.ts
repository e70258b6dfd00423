/**
 * An OTLP/HTTP receiver on 127.0.0.1 that decodes ExportTraceServiceRequest bodies, JSON or
 * protobuf as their Content-Type says (protobuf strictly: tests/support/otlp_protobuf.ts), and
 * answers as a collector would, in the request's encoding: 200, or on command 429 with
 * Retry-After, 503, 400, a partial success, a slow answer or none at all (a black hole). It
 * also takes /v1/metrics and /v1/logs. Every body is decoded strictly
 * (tests/support/otlp_signals.ts): a malformed one gets 400 and is kept for the test to see; a
 * body over its signal's size limit gets 413 before it is decoded, as the Collector's receiver
 * answers past `max_request_body_size`.
 * Logs bodies may be JSON or protobuf too; metrics are JSON. The commanded answers apply to
 * traces only.
 */
import {
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  type ReceivedLogRecord,
  type ReceivedMetric,
  type ReceivedSpan,
} from "./otlp_signals.ts";
import {
  partialSuccessResponse,
  type ProtobufRequestKind,
  protobufToJson,
} from "./otlp_protobuf.ts";

export type { ReceivedLogRecord, ReceivedMetric, ReceivedSpan } from "./otlp_signals.ts";

/** How a body was encoded (its Content-Type). */
export type ReceivedProtocol = "http/json" | "http/protobuf";

/** A received metrics or logs export. */
export interface SignalRequest<T> {
  headers: Headers;
  items: T[];
  /** The body as text (a protobuf body's strings are readable in it too). */
  raw: string;
  /** The body's encoding; undefined for a body refused before it was read. */
  protocol?: ReceivedProtocol;
  status: number;
  /** Why a body was refused (400). */
  error?: string;
}

/** A received export request. */
export interface ReceivedRequest {
  headers: Headers;
  spans: ReceivedSpan[];
  /** The body as text (a protobuf body's strings are readable in it too). */
  raw: string;
  protocol?: ReceivedProtocol;
  /** The body in the OTLP JSON object form (a protobuf body decoded), when it decoded. */
  json?: unknown;
  status: number;
}

type Mode =
  | { kind: "ok" }
  | { kind: "status"; status: number; retryAfter?: string }
  | { kind: "partial"; rejected: number }
  | { kind: "slow"; ms: number }
  | { kind: "blackhole" };

/** The running receiver. */
export interface OtlpReceiver {
  /** Base URL; traces go to `${url}/v1/traces`. */
  url: string;
  requests: ReceivedRequest[];
  /** Every span accepted (200 answers only), in arrival order. */
  spans(): ReceivedSpan[];
  /** The next `times` requests get this answer (Infinity: until changed). */
  answer(mode: Mode, times?: number): void;
  /** Metrics exports, in arrival order (accepted and refused). */
  metricRequests: SignalRequest<ReceivedMetric>[];
  /** Logs exports, in arrival order (accepted and refused). */
  logRequests: SignalRequest<ReceivedLogRecord>[];
  /** Every log record accepted. */
  logRecords(): ReceivedLogRecord[];
  /** Resolves once `test` holds for what has arrived, or rejects after `timeoutMs`. */
  waitFor(test: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves once `n` spans have been accepted, or rejects after `timeoutMs`. */
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/**
 * The traces body limit by default: 20 MiB, the OpenTelemetry Collector's otlphttp receiver's
 * (confighttp `max_request_body_size`), past which it answers 413.
 */
export const OTLP_TRACES_MAX_BODY_BYTES = 20 * 1024 * 1024;

/**
 * The metrics and logs body limit by default: 5,000,000 bytes uncompressed, the strictest one
 * documented among the receivers we target (CloudWatch's OTLP endpoint, "5 MB"; the
 * OpenTelemetry Collector's otlphttp receiver takes 20 MiB by default).
 */
export const OTLP_SIGNAL_MAX_BODY_BYTES = 5_000_000;

/** The body's encoding from its Content-Type; undefined for another type. */
function protocolOf(req: Request, protobuf: boolean): ReceivedProtocol | undefined {
  const type = req.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/json") return "http/json";
  if (protobuf && type === "application/x-protobuf") return "http/protobuf";
  return undefined;
}

/** A collector's protobuf answer. */
function protobufAnswer(body: Uint8Array): Response {
  return new Response(body as Uint8Array<ArrayBuffer>, {
    headers: { "content-type": "application/x-protobuf" },
  });
}

/** Options of {@linkcode startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /** Largest metrics or logs body accepted, in bytes; a larger one gets 413. */
  maxSignalBodyBytes?: number;
  /** Largest traces body accepted, in bytes; a larger one gets 413 (and is kept, unread). */
  maxTraceBodyBytes?: number;
  /** The loopback port to listen on; default any free one. */
  port?: number;
}

/** Starts the receiver on an ephemeral loopback port. */
export function startOtlpReceiver(options: OtlpReceiverOptions = {}): OtlpReceiver {
  const maxSignalBytes = options.maxSignalBodyBytes ?? OTLP_SIGNAL_MAX_BODY_BYTES;
  const maxTraceBytes = options.maxTraceBodyBytes ?? OTLP_TRACES_MAX_BODY_BYTES;
  const requests: ReceivedRequest[] = [];
  const waiters: Array<() => void> = [];
  const pending = new Set<() => void>();
  let mode: Mode = { kind: "ok" };
  let remaining = Infinity;
  const accepted = () => requests.filter((r) => r.status === 200).flatMap((r) => r.spans);
  const metricRequests: SignalRequest<ReceivedMetric>[] = [];
  const logRequests: SignalRequest<ReceivedLogRecord>[] = [];

  async function signal<T>(
    req: Request,
    into: SignalRequest<T>[],
    decode: (body: unknown) => T[],
    protobuf?: ProtobufRequestKind,
  ): Promise<Response> {
    // The declared length first (no read), then the bytes that actually arrived.
    const declared = Number(req.headers.get("content-length") ?? 0);
    const bytes = declared > maxSignalBytes ? undefined : new Uint8Array(await req.arrayBuffer());
    if (bytes === undefined || bytes.byteLength > maxSignalBytes) {
      if (bytes === undefined) await req.body?.cancel(); // never read
      const size = bytes?.byteLength ?? declared;
      into.push({
        headers: req.headers,
        items: [],
        raw: "",
        status: 413,
        error: `body of ${size} bytes over ${maxSignalBytes}`,
      });
      for (const wake of waiters.splice(0)) wake();
      return new Response("request body too large", { status: 413 });
    }
    const raw = new TextDecoder().decode(bytes);
    const protocol = protocolOf(req, protobuf !== undefined);
    try {
      if (protocol === undefined) {
        throw new Error(`content-type ${req.headers.get("content-type")}`);
      }
      const body = protocol === "http/json" ? JSON.parse(raw) : protobufToJson(protobuf!, bytes);
      into.push({ headers: req.headers, items: decode(body), raw, protocol, status: 200 });
    } catch (error) {
      into.push({
        headers: req.headers,
        items: [],
        raw,
        ...(protocol ? { protocol } : {}),
        status: 400,
        error: String(error),
      });
      return new Response("bad request", { status: 400 });
    }
    for (const wake of waiters.splice(0)) wake();
    return protocol === "http/protobuf" ? protobufAnswer(new Uint8Array(0)) : Response.json({});
  }

  const port = options.port ?? 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "POST" && path === "/v1/metrics") {
      return await signal(req, metricRequests, decodeMetrics);
    }
    if (req.method === "POST" && path === "/v1/logs") {
      return await signal(req, logRequests, decodeLogs, "logs");
    }
    if (path !== "/v1/traces" || req.method !== "POST") {
      return new Response("not found", { status: 404 });
    }
    const length = Number(req.headers.get("content-length") ?? 0);
    const bytes = length > maxTraceBytes ? undefined : new Uint8Array(await req.arrayBuffer());
    if (bytes === undefined || bytes.byteLength > maxTraceBytes) {
      if (bytes === undefined) await req.body?.cancel(); // never read
      requests.push({ headers: req.headers, spans: [], raw: "", status: 413 });
      for (const wake of waiters.splice(0)) wake();
      return new Response("request body too large", { status: 413 });
    }
    const raw = new TextDecoder().decode(bytes);
    const protocol = protocolOf(req, true);
    const current = mode;
    if (--remaining <= 0) {
      mode = { kind: "ok" };
      remaining = Infinity;
    }
    if (current.kind === "blackhole" || current.kind === "slow") {
      await new Promise<void>((resolve) => {
        const release = () => {
          pending.delete(release);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(release, current.kind === "slow" ? current.ms : 3_600_000);
        pending.add(release);
      });
      if (current.kind === "blackhole") return new Response(null, { status: 504 });
    }
    let spans: ReceivedSpan[];
    let json: unknown;
    try {
      if (protocol === undefined) throw new Error("neither JSON nor protobuf");
      json = protocol === "http/json" ? JSON.parse(raw) : protobufToJson("traces", bytes);
      spans = decodeTraces(json);
    } catch {
      requests.push({
        headers: req.headers,
        spans: [],
        raw,
        ...(protocol ? { protocol } : {}),
        status: 400,
      });
      return new Response("bad request", { status: 400 });
    }
    if (current.kind === "status") {
      requests.push({ headers: req.headers, spans, raw, protocol, json, status: current.status });
      const headers = current.retryAfter ? { "retry-after": current.retryAfter } : undefined;
      return new Response("unavailable", { status: current.status, headers });
    }
    requests.push({ headers: req.headers, spans, raw, protocol, json, status: 200 });
    for (const wake of waiters.splice(0)) wake();
    if (protocol === "http/protobuf") {
      return protobufAnswer(
        current.kind === "partial"
          ? partialSuccessResponse(current.rejected, "rejected")
          : new Uint8Array(0),
      );
    }
    const body = current.kind === "partial"
      ? { partialSuccess: { rejectedSpans: current.rejected, errorMessage: "rejected" } }
      : {};
    return Response.json(body);
  });

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    spans: accepted,
    metricRequests,
    logRequests,
    logRecords: () => logRequests.filter((r) => r.status === 200).flatMap((r) => r.items),
    async waitFor(test, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!test()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`Timed out waiting for ${what}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          timer = setTimeout(resolve, Math.min(left, 50));
        });
        clearTimeout(timer);
      }
    },
    answer(next, times = Infinity) {
      mode = next;
      remaining = times;
    },
    async waitForSpans(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (accepted().length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`Timed out with ${accepted().length}/${n} spans`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          timer = setTimeout(resolve, Math.min(left, 50));
        });
        clearTimeout(timer);
      }
      return accepted();
    },
    async close() {
      for (const release of [...pending]) release();
      waiters.splice(0).forEach((wake) => wake());
      await server.shutdown();
    },
  };
}
