// deno-lint-ignore-file no-explicit-any
/**
 * Strict decoders for OTLP/HTTP JSON metrics and logs bodies (ExportMetricsServiceRequest,
 * ExportLogsServiceRequest), used by the OTLP stand-in. A body a collector would refuse
 * (wrong shape, bucket counts that do not add up, ids that are not hex of the right length,
 * severities out of range) throws, and the stand-in answers 400.
 */

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
};
type KeyValue = { key: string; value: AnyValue };

/** Decodes one OTLP AnyValue (ints as numbers, kvlists as objects). */
export function anyValue(v: AnyValue | undefined): unknown {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object") throw new Error(`AnyValue is not an object: ${JSON.stringify(v)}`);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    if (!Number.isInteger(n)) throw new Error(`intValue ${v.intValue} is not an integer`);
    return n;
  }
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

/** Decodes an attribute list; a key twice or a missing key is invalid. */
export function attributes(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (list === undefined) return out;
  if (!Array.isArray(list)) throw new Error("attributes is not an array");
  for (const a of list) {
    if (typeof a?.key !== "string" || a.key === "") throw new Error("attribute without a key");
    if (a.key in out) throw new Error(`attribute ${a.key} twice`);
    out[a.key] = anyValue(a.value);
  }
  return out;
}

function nanos(value: unknown, what: string): bigint {
  if ((typeof value !== "string" && typeof value !== "number") || !/^\d+$/.test(String(value))) {
    throw new Error(`${what} is not a uint64: ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

function count(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} is not a count: ${value}`);
  return n;
}

function list<T>(value: unknown, what: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${what} is not an array`);
  return value as T[];
}

/** One histogram data point, checked. */
export interface HistogramPoint {
  attributes: Record<string, unknown>;
  /** The interval the point covers (a delta's since the previous export). */
  startTimeUnixNano?: bigint;
  timeUnixNano: bigint;
  bounds: number[];
  counts: number[];
  count: number;
  sum?: number;
  min?: number;
  max?: number;
}

/** One number data point (sum or gauge). */
export interface NumberPoint {
  attributes: Record<string, unknown>;
  value: number;
}

/** One decoded metric. */
export interface ReceivedMetric {
  name: string;
  unit: string;
  description: string;
  kind: "histogram" | "sum" | "gauge";
  /** 1 delta, 2 cumulative (histograms and sums). */
  temporality?: number;
  monotonic?: boolean;
  histogramPoints: HistogramPoint[];
  numberPoints: NumberPoint[];
  resource: Record<string, unknown>;
  scope: string;
}

function histogramPoint(p: any, name: string): HistogramPoint {
  const time = nanos(p.timeUnixNano, `${name} timeUnixNano`);
  const start = p.startTimeUnixNano === undefined
    ? undefined
    : nanos(p.startTimeUnixNano, `${name} startTimeUnixNano`);
  if (start !== undefined && start > time) throw new Error(`${name}: starts after it ends`);
  const bounds = list<number>(p.explicitBounds, `${name} explicitBounds`);
  const counts = list<unknown>(p.bucketCounts, `${name} bucketCounts`).map((c) =>
    count(c, `${name} bucket count`)
  );
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`${name} bounds not increasing`);
  }
  if (counts.length !== bounds.length + 1) {
    throw new Error(`${name}: ${counts.length} bucket counts for ${bounds.length} bounds`);
  }
  const total = count(p.count, `${name} count`);
  if (counts.reduce((a, b) => a + b, 0) !== total) {
    throw new Error(`${name}: bucket counts do not add up to count ${total}`);
  }
  return {
    attributes: attributes(p.attributes),
    ...(start === undefined ? {} : { startTimeUnixNano: start }),
    timeUnixNano: time,
    bounds,
    counts,
    count: total,
    ...(p.sum === undefined ? {} : { sum: p.sum }),
    ...(p.min === undefined ? {} : { min: p.min }),
    ...(p.max === undefined ? {} : { max: p.max }),
  };
}

function numberPoint(p: any, name: string): NumberPoint {
  nanos(p.timeUnixNano, `${name} timeUnixNano`);
  const raw = p.asInt ?? p.asDouble;
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value)) throw new Error(`${name}: no value`);
  return { attributes: attributes(p.attributes), value };
}

/** Decodes an ExportMetricsServiceRequest; throws on anything a collector would refuse. */
export function decodeMetrics(body: any): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of list<any>(body?.resourceMetrics, "resourceMetrics")) {
    const resource = attributes(rm.resource?.attributes);
    for (const sm of list<any>(rm.scopeMetrics, "scopeMetrics")) {
      const scope = String(sm.scope?.name ?? "");
      for (const m of list<any>(sm.metrics, "metrics")) {
        if (typeof m.name !== "string" || !/^[A-Za-z][\w.\-/]{0,254}$/.test(m.name)) {
          throw new Error(`bad metric name ${JSON.stringify(m.name)}`);
        }
        const base = {
          name: m.name,
          unit: String(m.unit ?? ""),
          description: String(m.description ?? ""),
          resource,
          scope,
        };
        const kinds = ["histogram", "sum", "gauge"].filter((k) => m[k] !== undefined);
        if (kinds.length !== 1) throw new Error(`${m.name}: ${kinds.length} data kinds`);
        if (m.histogram) {
          out.push({
            ...base,
            kind: "histogram",
            temporality: m.histogram.aggregationTemporality,
            histogramPoints: list(m.histogram.dataPoints, "dataPoints").map((p) =>
              histogramPoint(p, m.name)
            ),
            numberPoints: [],
          });
        } else {
          const data = m.sum ?? m.gauge;
          out.push({
            ...base,
            kind: m.sum ? "sum" : "gauge",
            ...(m.sum ? { temporality: m.sum.aggregationTemporality } : {}),
            ...(m.sum ? { monotonic: Boolean(m.sum.isMonotonic) } : {}),
            histogramPoints: [],
            numberPoints: list(data.dataPoints, "dataPoints").map((p) => numberPoint(p, m.name)),
          });
        }
      }
    }
  }
  return out;
}

/** One decoded log record. */
export interface ReceivedLogRecord {
  timeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: unknown;
  attributes: Record<string, unknown>;
  traceId: string;
  spanId: string;
  flags: number;
  resource: Record<string, unknown>;
}

/** Decodes an ExportLogsServiceRequest; throws on anything a collector would refuse. */
export function decodeLogs(body: any): ReceivedLogRecord[] {
  const out: ReceivedLogRecord[] = [];
  for (const rl of list<any>(body?.resourceLogs, "resourceLogs")) {
    const resource = attributes(rl.resource?.attributes);
    for (const sl of list<any>(rl.scopeLogs, "scopeLogs")) {
      for (const r of list<any>(sl.logRecords, "logRecords")) {
        const severityNumber = Number(r.severityNumber ?? 0);
        if (!Number.isInteger(severityNumber) || severityNumber < 0 || severityNumber > 24) {
          throw new Error(`severityNumber ${r.severityNumber} out of range`);
        }
        const traceId = String(r.traceId ?? "");
        const spanId = String(r.spanId ?? "");
        if (traceId !== "" && !/^[0-9a-f]{32}$/.test(traceId)) throw new Error("bad traceId");
        if (spanId !== "" && !/^[0-9a-f]{16}$/.test(spanId)) throw new Error("bad spanId");
        if ((traceId === "") !== (spanId === "")) throw new Error("traceId without spanId");
        out.push({
          timeUnixNano: nanos(r.timeUnixNano ?? "0", "timeUnixNano"),
          severityNumber,
          severityText: String(r.severityText ?? ""),
          body: anyValue(r.body),
          attributes: attributes(r.attributes),
          traceId,
          spanId,
          flags: Number(r.flags ?? 0),
          resource,
        });
      }
    }
  }
  return out;
}

/** One decoded span with its resource attributes flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, unknown> }>;
  flags: number;
  resource: Record<string, unknown>;
  scope: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

function id(value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== "string" || !pattern.test(value) || /^0+$/.test(value)) {
    throw new Error(`${what} is not a valid id: ${JSON.stringify(value)}`);
  }
  return value;
}

function int(value: unknown, what: string, min: number, max: number): number {
  const n = value === undefined ? 0 : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${what} out of range: ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Decodes an ExportTraceServiceRequest; throws on anything a collector would refuse: ids that
 * are not lowercase hex of the right length (or all zero), times that are not uint64 or end
 * before they start, kinds and status codes out of range, attributes without a key or twice.
 */
export function decodeTraces(body: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of list<any>(body?.resourceSpans, "resourceSpans")) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of list<any>(rs.scopeSpans, "scopeSpans")) {
      const scope = String(ss.scope?.name ?? "");
      for (const s of list<any>(ss.spans, "spans")) {
        if (typeof s.name !== "string") throw new Error("span without a name");
        const start = nanos(s.startTimeUnixNano, "startTimeUnixNano");
        const end = nanos(s.endTimeUnixNano, "endTimeUnixNano");
        if (end < start) throw new Error(`${s.name} ends before it starts`);
        const parentSpanId = s.parentSpanId === undefined || s.parentSpanId === ""
          ? ""
          : id(s.parentSpanId, SPAN_ID, "parentSpanId");
        const status = s.status ?? {};
        int(status.code, "status.code", 0, 2);
        if (status.message !== undefined && typeof status.message !== "string") {
          throw new Error("status.message is not a string");
        }
        for (const field of ["droppedAttributesCount", "droppedEventsCount", "droppedLinksCount"]) {
          if (s[field] !== undefined) count(s[field], field);
        }
        out.push({
          traceId: id(s.traceId, TRACE_ID, "traceId"),
          spanId: id(s.spanId, SPAN_ID, "spanId"),
          parentSpanId,
          name: s.name,
          kind: int(s.kind, "kind", 0, 5),
          startTimeUnixNano: start,
          endTimeUnixNano: end,
          status,
          attributes: attributes(s.attributes),
          events: list<any>(s.events, "events").map((e) => {
            nanos(e.timeUnixNano, "event timeUnixNano");
            if (typeof e.name !== "string") throw new Error("event without a name");
            return { name: e.name, attributes: attributes(e.attributes) };
          }),
          links: list<any>(s.links, "links").map((l) => ({
            traceId: id(l.traceId, TRACE_ID, "link traceId"),
            spanId: id(l.spanId, SPAN_ID, "link spanId"),
            attributes: attributes(l.attributes),
          })),
          flags: int(s.flags, "flags", 0, 0xffffffff),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}
