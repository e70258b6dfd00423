/**
 * HTTP server metrics per the semantic conventions, aggregated by hand and handed to the SDK's
 * metric reader as a MetricProducer.
 *
 * Why not the SDK's Histogram instrument: measured in this repo, one request's worth of SDK
 * recordings (three histograms, two up-down-counter updates, each hashing its attribute
 * object) cost 15-20 µs with a reader attached, more than the whole traced request path.
 * Here a request costs two Map lookups on values it already has (no key is built), a few
 * comparisons and array increments; the attribute objects are built once per series, and the
 * OTLP data points only at collection.
 */
import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import { millisToHrTime } from "../clock.ts";
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type Histogram as HistogramValue,
  type MetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import type { Resource } from "@opentelemetry/resources";
import { semconvMethod } from "../http_method.ts";

/** The conventions' advice for `http.server.request.duration`, in seconds. */
export const DURATION_BOUNDARIES: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];

/** Boundaries for the body-size histograms, in bytes (the SDK's default has no byte scale). */
export const SIZE_BOUNDARIES: readonly number[] = [
  0,
  128,
  512,
  1024,
  4096,
  16_384,
  65_536,
  262_144,
  1_048_576,
  4_194_304,
];

/** Series per metric at most; further attribute sets go to one overflow series (OTel spec). */
export const MAX_SERIES = 2000;

/** What the middleware reports when a response is done. */
export interface RequestSample {
  method: string;
  scheme: string;
  /** The route template; absent when no route matched. */
  route: string | undefined;
  status: number;
  durationSeconds: number;
  /** `error.type` (5xx only), e.g. the thrown error's name or the status code. */
  errorType: string | undefined;
  /** Content-Length of the request / response, when declared. */
  requestBytes: number | undefined;
  responseBytes: number | undefined;
}

/** What the request middleware calls; every method is cheap and never throws. */
export interface RequestRecorder {
  /** A request started (`http.server.active_requests` + 1). */
  begin(method: string, scheme: string): void;
  /** The response is done (active − 1, duration and sizes recorded). */
  end(sample: RequestSample): void;
}

/** A window's min and max, and the window reset for the next interval (none if it is missing). */
function windowExtremes(
  window: { min: number; max: number } | undefined,
): { min?: number; max?: number } {
  if (window === undefined || window.min > window.max) return {};
  const extremes = { min: window.min, max: window.max };
  window.min = Infinity;
  window.max = -Infinity;
  return extremes;
}

/** A fixed-boundary histogram accumulated in place. */
class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;
  /** Each delta view's min and max since its last collection (one entry per view). */
  readonly windows: Array<{ min: number; max: number }>;
  constructor(readonly boundaries: readonly number[], views = 0) {
    this.counts = new Array(boundaries.length + 1).fill(0);
    this.windows = Array.from({ length: views }, () => ({ min: Infinity, max: -Infinity }));
  }
  record(value: number): void {
    for (let k = 0; k < this.windows.length; k++) {
      const w = this.windows[k]!;
      if (value < w.min) w.min = value;
      if (value > w.max) w.max = value;
    }
    const b = this.boundaries;
    let i = 0;
    // Upper bounds are inclusive, as in OTLP's explicit-bucket histograms.
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

interface Series {
  attributes: Attributes;
  startTime: HrTime;
  startMs: number;
  duration: Histogram;
  requestSize: Histogram;
  responseSize: Histogram;
  /** What tells the series of one route and status code apart (`undefined` for the overflow). */
  method: string;
  scheme: string;
  errorType: string | undefined;
}

interface ActiveSeries {
  attributes: Attributes;
  startTime: HrTime;
  value: number;
  scheme: string;
}

/** Normalises a method for a metric attribute (the conventions' `_OTHER`). */
export const metricMethod = semconvMethod;

/**
 * Aggregates the HTTP server metrics; see the module comment.
 *
 * The series are found without building a key: route → status code → the few series that
 * differ in method, scheme or error type, compared in place. A route template and a status
 * code are the same values request after request (the router's string, a small integer), so
 * the two Map lookups hash nothing new, where one concatenated key per request cost more than
 * everything else here together (the string is built, flattened and hashed every time).
 */
export class HttpServerMetrics implements RequestRecorder, MetricProducer {
  /** Route (`undefined`: none matched) → status code → series. */
  private readonly routes = new Map<string | undefined, Map<number, Series[]>>();
  /** Every series in creation order, as collected. */
  private readonly series: Series[] = [];
  /** Normalised method → its series per scheme. */
  private readonly active = new Map<string, ActiveSeries[]>();
  private readonly activeSeries: ActiveSeries[] = [];
  private overflow: Series | undefined;
  /** Delta views made so far; each histogram keeps a min/max window for each. */
  private deltaViews = 0;

  /**
   * `resource` is only a fallback: the metric reader exports producers' scopes under the
   * MeterProvider's resource.
   */
  constructor(
    private readonly resource: Resource,
    private readonly scope: { name: string; version?: string },
    private readonly now: () => number = Date.now,
  ) {}

  begin(method: string, scheme: string): void {
    const m = metricMethod(method);
    const entry = this.findActive(m, scheme) ?? this.addActive(m, scheme);
    if (entry) entry.value++;
  }

  end(sample: RequestSample): void {
    const method = metricMethod(sample.method);
    const scheme = sample.scheme;
    const active = this.findActive(method, scheme);
    if (active) active.value--;
    const series = this.find(method, scheme, sample) ?? this.addSeries(method, sample);
    series.duration.record(sample.durationSeconds);
    if (sample.requestBytes !== undefined) series.requestSize.record(sample.requestBytes);
    if (sample.responseBytes !== undefined) series.responseSize.record(sample.responseBytes);
  }

  private findActive(method: string, scheme: string): ActiveSeries | undefined {
    const list = this.active.get(method);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.scheme === scheme) return list[i];
    }
    return undefined;
  }

  private addActive(method: string, scheme: string): ActiveSeries | undefined {
    if (this.activeSeries.length >= MAX_SERIES) return undefined;
    const entry: ActiveSeries = {
      attributes: { "http.request.method": method, "url.scheme": scheme },
      startTime: millisToHrTime(this.now()),
      value: 0,
      scheme,
    };
    let list = this.active.get(method);
    if (list === undefined) this.active.set(method, list = []);
    list.push(entry);
    this.activeSeries.push(entry);
    return entry;
  }

  private find(method: string, scheme: string, sample: RequestSample): Series | undefined {
    const list = this.routes.get(sample.route)?.get(sample.status);
    if (list === undefined) return undefined;
    const errorType = sample.errorType;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.method === method && s.scheme === scheme && s.errorType === errorType) return s;
    }
    return undefined;
  }

  private addSeries(method: string, sample: RequestSample): Series {
    if (this.series.length >= MAX_SERIES) {
      this.overflow ??= this.newSeries({ "otel.metric.overflow": true }, method, sample);
      return this.overflow;
    }
    const attributes: Attributes = {
      "http.request.method": method,
      "url.scheme": sample.scheme,
      "http.response.status_code": sample.status,
    };
    if (sample.route !== undefined) attributes["http.route"] = sample.route;
    if (sample.errorType !== undefined) attributes["error.type"] = sample.errorType;
    const series = this.newSeries(attributes, method, sample);
    let byStatus = this.routes.get(sample.route);
    if (byStatus === undefined) this.routes.set(sample.route, byStatus = new Map());
    let list = byStatus.get(sample.status);
    if (list === undefined) byStatus.set(sample.status, list = []);
    list.push(series);
    this.series.push(series);
    return series;
  }

  private newSeries(attributes: Attributes, method: string, sample: RequestSample): Series {
    const startMs = this.now();
    return {
      attributes,
      startTime: millisToHrTime(startMs),
      startMs,
      duration: new Histogram(DURATION_BOUNDARIES, this.deltaViews),
      requestSize: new Histogram(SIZE_BOUNDARIES, this.deltaViews),
      responseSize: new Histogram(SIZE_BOUNDARIES, this.deltaViews),
      method,
      scheme: sample.scheme,
      errorType: sample.errorType,
    };
  }

  /** Cumulative data points of everything recorded since start. */
  collect(): Promise<CollectionResult> {
    return this.collectWith(AggregationTemporality.CUMULATIVE, (series, h, endTime) => ({
      attributes: series.attributes,
      startTime: series.startTime,
      endTime,
      value: {
        buckets: { boundaries: [...h.boundaries], counts: [...h.counts] },
        sum: h.sum,
        count: h.count,
        min: h.min,
        max: h.max,
      },
    }));
  }

  /**
   * The producer for one metric reader: this one for cumulative, or a view that reports each
   * histogram's change since that reader's last collection (its own state: two readers, OTLP
   * and the console, each get their own deltas). `http.server.active_requests` is an
   * up-down counter and stays cumulative either way, as the OTLP exporter specification's
   * `delta` and `lowmemory` preferences say.
   */
  producer(temporality: AggregationTemporality): MetricProducer {
    if (temporality === AggregationTemporality.CUMULATIVE) return this;
    // Views are made when the pipeline starts, before any series: every histogram has this window.
    const view = this.deltaViews++;
    const last = new Map<Histogram, { counts: number[]; sum: number; count: number }>();
    let lastMs: number | undefined;
    return {
      collect: () => {
        const collectedMs = this.now();
        const startMs = lastMs;
        lastMs = collectedMs;
        return this.collectWith(AggregationTemporality.DELTA, (series, h, endTime) => {
          const before = last.get(h);
          const count = h.count - (before?.count ?? 0);
          if (count === 0) return undefined; // nothing new in this interval: no point
          last.set(h, { counts: [...h.counts], sum: h.sum, count: h.count });
          return {
            attributes: series.attributes,
            // The interval since this reader's last collection, or since the series began.
            startTime: millisToHrTime(Math.max(series.startMs, startMs ?? series.startMs)),
            endTime,
            // The interval's own extremes (this view's window), then the window starts over.
            value: {
              buckets: {
                boundaries: [...h.boundaries],
                counts: h.counts.map((c, i) => c - (before?.counts[i] ?? 0)),
              },
              sum: h.sum - (before?.sum ?? 0),
              ...windowExtremes(h.windows[view]),
              count,
            },
          };
        }, collectedMs);
      },
    };
  }

  private collectWith(
    temporality: AggregationTemporality,
    point: (series: Series, h: Histogram, endTime: HrTime) => DataPoint<HistogramValue> | undefined,
    collectedMs = this.now(),
  ): Promise<CollectionResult> {
    const endTime = millisToHrTime(collectedMs);
    const all = this.overflow ? [...this.series, this.overflow] : this.series;
    const histogram = (
      name: string,
      unit: string,
      description: string,
      pick: (s: Series) => Histogram,
    ): MetricData => {
      const dataPoints: DataPoint<HistogramValue>[] = [];
      for (const s of all) {
        const h = pick(s);
        if (h.count === 0) continue;
        const p = point(s, h, endTime);
        if (p !== undefined) dataPoints.push(p);
      }
      return {
        descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
        aggregationTemporality: temporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints,
      };
    };
    const metrics: MetricData[] = [
      histogram(
        "http.server.request.duration",
        "s",
        "Duration of HTTP server requests.",
        (s) => s.duration,
      ),
      histogram(
        "http.server.request.body.size",
        "By",
        "Size of HTTP server request bodies (Content-Length).",
        (s) => s.requestSize,
      ),
      histogram(
        "http.server.response.body.size",
        "By",
        "Size of HTTP server response bodies (Content-Length).",
        (s) => s.responseSize,
      ),
      {
        descriptor: {
          name: "http.server.active_requests",
          unit: "{request}",
          description: "Number of active HTTP server requests.",
          valueType: ValueType.INT,
        },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: false,
        dataPoints: this.activeSeries.map((a) => ({
          attributes: a.attributes,
          startTime: a.startTime,
          endTime,
          value: a.value,
        })),
      },
    ];
    return Promise.resolve({
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: [{
          scope: this.scope,
          metrics: metrics.filter((m) => m.dataPoints.length > 0),
        }],
      },
      errors: [],
    });
  }
}
