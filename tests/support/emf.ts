/**
 * What CloudWatch does with an Embedded Metric Format log event: validate it against the EMF
 * specification and extract its metric data points. An invalid event stays a log event but
 * yields no metric (CloudWatch counts it in AWS/Logs EMFValidationErrors), so the stand-in
 * records the reason and a test fails on it.
 *
 * Checked here: the `_aws` member with a millisecond `Timestamp` and `CloudWatchMetrics`;
 * each directive's `Namespace`, `Dimensions` (sets of at most 30 keys, each a string member
 * of the root node) and `Metrics` (at most 100, names unique, a known `Unit`, each a root
 * member); and each value a number, an array of at most 100 numbers, or a `{Values, Counts}`
 * distribution of equal lengths, at most 100, with Min/Max/Count/Sum consistent with it.
 */

const UNITS = new Set([
  "Seconds",
  "Microseconds",
  "Milliseconds",
  "Bytes",
  "Kilobytes",
  "Megabytes",
  "Gigabytes",
  "Terabytes",
  "Bits",
  "Kilobits",
  "Megabits",
  "Gigabits",
  "Terabits",
  "Percent",
  "Count",
  "Bytes/Second",
  "Kilobytes/Second",
  "Megabytes/Second",
  "Gigabytes/Second",
  "Terabytes/Second",
  "Bits/Second",
  "Kilobits/Second",
  "Megabits/Second",
  "Gigabits/Second",
  "Terabits/Second",
  "Count/Second",
  "None",
]);
const MAX_EVENT_BYTES = 256 * 1024;

/** One extracted metric datum, as PutMetricData would have carried it. */
export interface EmfDatum {
  namespace: string;
  name: string;
  unit: string;
  timestamp: number;
  dimensions: Record<string, string>;
  /** Values and how often each occurred (a plain number is one value, count 1). */
  values: number[];
  counts: number[];
}

/** The result of reading one log event. */
export type EmfResult =
  | { kind: "not-emf" }
  | { kind: "invalid"; reason: string }
  | { kind: "metrics"; data: EmfDatum[] };

function isNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function values(name: string, v: unknown): { values: number[]; counts: number[] } {
  if (isNumber(v)) return { values: [v], counts: [1] };
  if (Array.isArray(v)) {
    if (v.length > 100) throw new Error(`${name}: ${v.length} values (at most 100)`);
    if (!v.every(isNumber)) throw new Error(`${name}: an array value that is not a number`);
    return { values: v, counts: v.map(() => 1) };
  }
  if (typeof v === "object" && v !== null && "Values" in v) {
    const d = v as Record<string, unknown>;
    const vs = d.Values;
    const cs = d.Counts;
    if (!Array.isArray(vs) || !vs.every(isNumber)) throw new Error(`${name}: bad Values`);
    if (!Array.isArray(cs) || !cs.every((c) => isNumber(c) && c >= 0)) {
      throw new Error(`${name}: bad Counts`);
    }
    if (vs.length !== cs.length) throw new Error(`${name}: Values and Counts differ in length`);
    if (vs.length === 0 || vs.length > 100) {
      throw new Error(`${name}: ${vs.length} values (1 to 100)`);
    }
    const count = cs.reduce((a, b) => a + b, 0);
    const sum = vs.reduce((a, x, i) => a + x * cs[i]!, 0);
    if (d.Count !== undefined && d.Count !== count) throw new Error(`${name}: Count ${d.Count}`);
    if (d.Min !== undefined && d.Min !== Math.min(...vs)) throw new Error(`${name}: Min`);
    if (d.Max !== undefined && d.Max !== Math.max(...vs)) throw new Error(`${name}: Max`);
    if (d.Sum !== undefined && (!isNumber(d.Sum) || Math.abs(d.Sum - sum) > 1e-6 * (1 + sum))) {
      throw new Error(`${name}: Sum ${d.Sum} is not ${sum}`);
    }
    return { values: vs, counts: cs };
  }
  throw new Error(`${name}: not a number, array or distribution`);
}

/** Reads one log event message as CloudWatch would. */
export function readEmf(message: string): EmfResult {
  let root: Record<string, unknown>;
  try {
    root = JSON.parse(message);
  } catch {
    return { kind: "not-emf" };
  }
  if (typeof root !== "object" || root === null || !("_aws" in root)) return { kind: "not-emf" };
  try {
    if (new TextEncoder().encode(message).length > MAX_EVENT_BYTES) {
      throw new Error("event larger than 256 KB");
    }
    const aws = root._aws as Record<string, unknown>;
    if (typeof aws !== "object" || aws === null) throw new Error("_aws is not an object");
    const timestamp = aws.Timestamp;
    if (!isNumber(timestamp) || !Number.isInteger(timestamp) || timestamp < 1e12) {
      throw new Error("_aws.Timestamp is not epoch milliseconds");
    }
    const directives = aws.CloudWatchMetrics;
    if (!Array.isArray(directives) || directives.length === 0) {
      throw new Error("_aws.CloudWatchMetrics is not a non-empty array");
    }
    const data: EmfDatum[] = [];
    for (const directive of directives as Record<string, unknown>[]) {
      const namespace = directive.Namespace;
      if (typeof namespace !== "string" || namespace.length < 1 || namespace.length > 1024) {
        throw new Error("Namespace is not a 1-1024 character string");
      }
      const dimensionSets = directive.Dimensions;
      if (!Array.isArray(dimensionSets)) throw new Error("Dimensions is not an array");
      for (const set of dimensionSets) {
        if (!Array.isArray(set) || set.length > 30) throw new Error("a dimension set of > 30");
        for (const key of set) {
          if (typeof key !== "string" || typeof root[key] !== "string") {
            throw new Error(`dimension ${key} is not a string member of the root node`);
          }
          const value = root[key] as string;
          if (value.length === 0 || value.length > 1024) throw new Error(`dimension ${key} length`);
        }
      }
      const metrics = directive.Metrics;
      if (!Array.isArray(metrics) || metrics.length > 100) {
        throw new Error("Metrics is not an array of at most 100");
      }
      const names = new Set<string>();
      for (const metric of metrics as Record<string, unknown>[]) {
        const name = metric.Name;
        if (typeof name !== "string" || name.length < 1 || name.length > 1024) {
          throw new Error("a metric without a Name");
        }
        if (names.has(name)) throw new Error(`metric ${name} twice`);
        names.add(name);
        const unit = metric.Unit ?? "None";
        if (typeof unit !== "string" || !UNITS.has(unit)) throw new Error(`${name}: unit ${unit}`);
        if (!(name in root)) throw new Error(`metric ${name} is not a member of the root node`);
        const v = values(name, root[name]);
        for (const set of dimensionSets as string[][]) {
          data.push({
            namespace,
            name,
            unit,
            timestamp,
            dimensions: Object.fromEntries(set.map((k) => [k, root[k] as string])),
            ...v,
          });
        }
      }
    }
    return { kind: "metrics", data };
  } catch (error) {
    return { kind: "invalid", reason: (error as Error).message };
  }
}
