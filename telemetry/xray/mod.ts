/**
 * The AWS X-Ray sink, fed by finished OpenTelemetry spans: the SERVER span becomes a segment,
 * its descendants subsegments, sent as UDP datagrams to the X-Ray daemon in timed batches.
 * aws-xray-sdk-core is deliberately not used on the request path (cls-hooked loses context in
 * Deno and a segment costs ~38 µs); see the task notes in the final report.
 */
import type { Span } from "@opentelemetry/api";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";
import {
  type Diagnostic,
  emptyStats,
  type Sink,
  type SinkPlugin,
  type SinkStats,
} from "../types.ts";
import { type DocumentCounters, emptyDocumentCounters, sanitizeName } from "./document.ts";
import { encodeSpanTree } from "./segment_json.ts";
import {
  createSegmentTracker,
  type QueueItem,
  segmentState,
  type TrackerCounters,
} from "./processor.ts";
import {
  compileWildcard,
  createSampler,
  type SamplingRuleDocument,
  validateSamplingRule,
} from "./sampling.ts";
import { parseDaemonAddress, parseDaemonTcpAddress } from "./address.ts";
import { type CentralizedSamplerOptions, createCentralizedSampler } from "./centralized.ts";
import { createUdpSender, type DaemonAddress, type Lookup } from "./sender.ts";
import { availableTransport, type DatagramTransport } from "./socket.ts";
import {
  formatAmznTraceId,
  isPlausibleXRayTime,
  newXRayTraceId,
  otelToXRayTraceId,
  parseAmznTraceId,
  xrayToOtelTraceId,
} from "./trace_header.ts";

export type { SamplingRule, SamplingRuleDocument } from "./sampling.ts";
export type { DaemonAddress } from "./sender.ts";
export { DEFAULT_DAEMON_ADDRESS, parseDaemonAddress, parseDaemonTcpAddress } from "./address.ts";
export {
  type AmznTraceHeader,
  formatAmznTraceId,
  isPlausibleXRayTime,
  otelToXRayTraceId,
  parseAmznTraceId,
  xrayToOtelTraceId,
} from "./trace_header.ts";

/**
 * The sender's turn comes 1 ms after the first queued segment: soon enough that a request's
 * spans are encoded and released before a young-generation collection would copy (and then
 * promote) them, late enough that under load one turn serves many requests. At 100 ms the
 * spans of a few hundred requests outlived each scavenge (in process: ~7% more CPU a request).
 */
const DEFAULT_FLUSH_INTERVAL_MS = 1;
const DEFAULT_MAX_QUEUE = 2048;
/** Deadline used when the tracer provider flushes or shuts the processor down itself. */
const PROVIDER_DEADLINE_MS = 5_000;

/** Options for {@link createXRay}. */
export interface XRayOptions {
  /** From AWS_XRAY_DAEMON_ADDRESS (see {@link parseDaemonAddress}). */
  daemonAddress: DaemonAddress;
  /** Default segment name. */
  serviceName: string;
  /** AWS_XRAY_TRACING_NAME: a fixed name that overrides serviceName. */
  tracingName?: string;
  /** AWS_XRAY_URL: when the Host matches this wildcard, the segment is named after the host. */
  dynamicNamingPattern?: string;
  /** The parsed aws/json/xray.json. */
  samplingRule: SamplingRuleDocument;
  /**
   * AWS_XRAY_SAMPLING=centralized: the daemon's proxy to poll for rules and targets (the
   * rule file decides until they arrive).
   */
  centralizedSampling?: Pick<
    CentralizedSamplerOptions,
    "endpoint" | "clientId" | "rulesIntervalMs" | "targetsIntervalMs"
  >;
  /** Epoch ms. */
  now?: () => number;
  /** In [0, 1), for the fixed-rate part of sampling. */
  random?: () => number;
  diagnostic?: Diagnostic;
  /** Documents are serialised and sent this long after the first one is queued. */
  flushIntervalMs?: number;
  /** Bound on queued documents and on buffered child spans. */
  maxQueue?: number;
  /** Resolver for a daemon host name; node:dns lookup by default (tests: one that hangs). */
  lookup?: Lookup;
  /** The UDP socket: Deno.DatagramConn when the runtime has it, else node:dgram (tests: both). */
  transport?: DatagramTransport;
}

/** The request facts begin() needs. */
export interface XRayRequest {
  method: string;
  host: string | undefined;
  path: string;
  amznTraceId: string | null;
  /** The caller's span id when the trace was continued over W3C `traceparent`. */
  parentId?: string | undefined;
}

/** The X-Ray sink plus the hooks the request middleware calls. */
export interface XRay extends Sink {
  /** Add to the BasicTracerProvider's spanProcessors. */
  readonly processor: SpanProcessor;
  /**
   * Called by the request middleware right after it starts the SERVER span. Decides sampling,
   * remembers the segment's trace id/parent/name for that span id, and returns the value for
   * the response's X-Amzn-Trace-Id header. Never throws.
   */
  begin(span: Span, request: XRayRequest): string;
  /**
   * `X-Amzn-Trace-Id` for an outgoing call made inside a segment: `Root=…;Parent=<the CLIENT
   * span's id, which becomes its subsegment id>;Sampled=1|0`. Undefined outside a segment.
   */
  outgoingHeader(span: Span): string | undefined;
  /**
   * The X-Ray trace id of the segment for an OpenTelemetry trace id: the segment's own when
   * the two differ (a caller's X-Ray Root, or a browser's random id), else the converted id.
   */
  xrayTraceId(otelTraceId: string): string | undefined;
  /** Extra counters: annotations renamed/dropped, documents trimmed, documents split, unsampled requests. */
  details(): Record<string, number>;
}

/** Bound on remembered OpenTelemetry → X-Ray id pairs that differ (oldest forgotten first). */
const MAX_ALIASES = 4096;

/** Builds the X-Ray sink; nothing opens until the first document is sent. */
export function createXRay(options: XRayOptions): XRay {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  // deno-lint-ignore no-console
  const diagnostic = options.diagnostic ?? ((message: string) => console.warn(message));
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const stats = emptyStats();
  const documentCounters: DocumentCounters = emptyDocumentCounters();
  const trackerCounters: TrackerCounters = {
    unsampled_spans_discarded: 0,
    buffered_spans_dropped: 0,
    spans_evicted: 0,
    segments_evicted: 0,
  };
  const requestCounters = { unsampled_requests: 0, sampled_requests: 0, begin_failed: 0 };
  const localSample = createSampler({ rule: options.samplingRule.SamplingRule, now, random });
  const centralized = options.centralizedSampling === undefined
    ? undefined
    : createCentralizedSampler({
      ...options.centralizedSampling,
      fallback: localSample,
      diagnostic,
      now,
      random,
    });
  const sample = centralized?.sample ?? localSample;
  void centralized?.start();
  const hostMatches = options.dynamicNamingPattern === undefined
    ? undefined
    : compileWildcard(options.dynamicNamingPattern);
  const fixedName = options.tracingName ?? undefined;

  const sender = createUdpSender<QueueItem>({
    address: options.daemonAddress,
    // In the sender's turn: JSON text straight from the spans, one datagram per request.
    encode: (item) => encodeSpanTree(item.kind, item.info, item.node, documentCounters),
    stats,
    now,
    diagnostic,
    flushIntervalMs: options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
    maxQueue,
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.transport ? { transport: options.transport } : {}),
  });

  const tracker = createSegmentTracker({
    enqueue: sender.enqueue,
    counters: trackerCounters,
    maxBuffered: maxQueue,
    maxTracked: maxQueue * 4,
    forceFlush: () => sender.flush(now() + PROVIDER_DEADLINE_MS),
    shutdown: () => sender.shutdown(now() + PROVIDER_DEADLINE_MS),
  });

  /** OpenTelemetry trace id → X-Ray trace id, for traces where the two differ. */
  const aliases = new Map<string, string>();
  function remember(otelTraceId: string, xrayTraceId: string): void {
    aliases.delete(otelTraceId);
    aliases.set(otelTraceId, xrayTraceId);
    if (aliases.size > MAX_ALIASES) aliases.delete(aliases.keys().next().value as string);
  }
  /**
   * The last request's pair, as xrayTraceId() would compute it: a request's log lines ask for
   * their own trace right after begin(), so most look-ups need no parsing or new string.
   */
  let lastOtelTraceId = "";
  let lastXRayTraceId = "";

  // Without a fixed name or a host pattern every segment has the same name: sanitised once.
  const serviceSegmentName = sanitizeName(options.serviceName);
  const constantName = fixedName !== undefined && fixedName.length > 0
    ? sanitizeName(fixedName)
    : hostMatches === undefined
    ? serviceSegmentName
    : undefined;
  function segmentName(host: string | undefined): string {
    if (constantName !== undefined) return constantName;
    if (host !== undefined && hostMatches!(host)) return sanitizeName(host);
    return serviceSegmentName;
  }

  return {
    name: "xray",
    processor: tracker.processor,
    begin(span: Span, request: XRayRequest): string {
      try {
        const context = span.spanContext();
        const otelTraceId = context.traceId;
        const header = parseAmznTraceId(request.amznTraceId);
        const nowMs = now();
        let traceId: string;
        let parentId: string | undefined;
        let annotateOtel = false;
        let convertible: boolean;
        if (header?.root !== undefined) {
          // The caller's X-Ray trace wins; the OTel id is kept findable when it differs.
          traceId = header.root;
          parentId = header.parent;
          annotateOtel = xrayToOtelTraceId(header.root) !== otelTraceId;
          convertible = annotateOtel || isPlausibleXRayTime(otelTraceId, nowMs);
        } else if (isPlausibleXRayTime(otelTraceId, nowMs)) {
          traceId = otelToXRayTraceId(otelTraceId);
          // Continued over traceparent: the caller's span is the parent, as with X-Amzn-Trace-Id.
          parentId = request.parentId;
          convertible = true;
        } else {
          // A random (browser) trace id: every request of that trace shares one X-Ray trace.
          traceId = aliases.get(otelTraceId) ?? newXRayTraceId(nowMs);
          annotateOtel = true;
          convertible = true;
        }
        if (annotateOtel) remember(otelTraceId, traceId);
        if (convertible) {
          lastOtelTraceId = otelTraceId;
          lastXRayTraceId = traceId;
        } else if (lastOtelTraceId === otelTraceId) {
          lastOtelTraceId = "";
        }
        const name = segmentName(request.host);
        // Decided here, as the SERVER span starts: an unsampled request only gets a marker
        // that its spans look up (for Sampled=0 downstream), nothing buffered, nothing built.
        const sampled = header?.sampled === "1" ? true : header?.sampled === "0" ? false : sample({
          serviceName: name,
          host: request.host,
          method: request.method,
          path: request.path,
        });
        if (sampled) requestCounters.sampled_requests++;
        else requestCounters.unsampled_requests++;
        // A span the OTel sampler dropped never reaches onEnd: do not wait for it.
        if (span.isRecording()) {
          const info = {
            traceId,
            parentId,
            name,
            otelTraceId: annotateOtel ? otelTraceId : undefined,
          };
          tracker.register(context, segmentState(context.spanId, info, sampled));
        }
        const asked = header?.sampled === "?";
        return asked ? `Root=${traceId};Sampled=${sampled ? "1" : "0"}` : `Root=${traceId}`;
      } catch (error) {
        requestCounters.begin_failed++;
        diagnostic(`X-Ray segment could not be started: ${String(error)}`);
        return "";
      }
    },
    outgoingHeader(span: Span): string | undefined {
      const context = span.spanContext();
      const state = tracker.stateOf(context);
      if (state === undefined) return undefined;
      return formatAmznTraceId({
        root: state.info.traceId,
        parent: context.spanId,
        sampled: state.status === "open" || state.status === "sent" ? "1" : "0",
      });
    },
    xrayTraceId(otelTraceId: string): string | undefined {
      if (otelTraceId === lastOtelTraceId) return lastXRayTraceId;
      const alias = aliases.get(otelTraceId);
      if (alias !== undefined) return alias;
      return isPlausibleXRayTime(otelTraceId, now()) ? otelToXRayTraceId(otelTraceId) : undefined;
    },
    forceFlush(deadlineMs: number): Promise<void> {
      return sender.flush(deadlineMs).catch(() => {});
    },
    shutdown(deadlineMs: number): Promise<void> {
      centralized?.stop();
      return sender.shutdown(deadlineMs).catch(() => {});
    },
    stats(): SinkStats {
      return { ...stats };
    },
    details(): Record<string, number> {
      return {
        ...documentCounters,
        ...trackerCounters,
        ...requestCounters,
        sampling_rules: centralized?.ruleCount() ?? 0,
      };
    },
  };
}

/** Reads and validates the sampling rule file (aws/json/xray.json). */
export async function loadSamplingRule(path: string | URL): Promise<SamplingRuleDocument> {
  const text = await Deno.readTextFile(path);
  return validateSamplingRule(JSON.parse(text));
}

/** Installs the X-Ray sink from `config.xray`: a span processor plus the segment opener. */
export const xraySink: SinkPlugin<XRayOptions> = {
  name: "xray",
  async install({ config, diagnostic, tuning }) {
    const section = config.xray;
    if (!section.enabled) {
      return { startup: "X-Ray: off (set AWS_XRAY_DAEMON_ADDRESS or AWS_XRAY_ENABLED=true)" };
    }
    if (config.otel.mode !== "sdk") {
      return { startup: "X-Ray: off (needs the SDK pipeline; OTEL_DENO/OTEL_SDK_DISABLED is set)" };
    }
    const tcp = parseDaemonTcpAddress(section.daemonAddress);
    const endpoint = `http://${tcp.host.includes(":") ? `[${tcp.host}]` : tcp.host}:${tcp.port}`;
    const xray = createXRay({
      daemonAddress: parseDaemonAddress(section.daemonAddress),
      serviceName: config.serviceName,
      ...(section.tracingName ? { tracingName: section.tracingName } : {}),
      ...(section.dynamicNamingPattern
        ? { dynamicNamingPattern: section.dynamicNamingPattern }
        : {}),
      samplingRule: await loadSamplingRule(section.samplingRulesPath),
      ...(section.sampling === "centralized" ? { centralizedSampling: { endpoint } } : {}),
      diagnostic,
      ...tuning,
    });
    // Deno's socket needs --unstable-net (deno.json's "unstable": ["net"] gives it to deno run).
    const socket = (tuning?.transport ?? availableTransport()) === "deno"
      ? "Deno.DatagramConn"
      : "node:dgram; --unstable-net would use the cheaper Deno.DatagramConn";
    return {
      startup: `X-Ray: UDP to daemon at ${section.daemonAddress} (${socket})${
        section.sampling === "centralized"
          ? `; sampling rules from X-Ray via ${endpoint} (${section.samplingRulesPath} until they arrive)`
          : ""
      }`,
      sink: xray,
      spanProcessors: [xray.processor],
      recordsUnsampled: true,
      requestHook: xray,
      logIds: (traceId) => {
        // The segment's own id, which differs from the converted one in some propagation cases.
        const xrayTraceId = xray.xrayTraceId(traceId);
        return xrayTraceId ? { xrayTraceId } : undefined;
      },
      details: () => xray.details(),
    };
  },
};
