/**
 * The environment, read once into a typed object. A bad value stops startup with one message
 * naming the variable; nothing else in the app reads `Deno.env`.
 */

// Validation helpers from their own small modules: reading the config loads no sink or store.
import { redactDatabaseUrl } from "./services/store/redact.ts";
import type { DatabaseConfig } from "./services/store/types.ts";
import { parseDaemonAddress } from "./telemetry/xray/address.ts";
import { validateSamplingRule } from "./telemetry/xray/sampling.ts";

/** Thrown for an environment variable that cannot be used. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Where the SDK pipeline sends spans. */
export type TraceExporterKind = "otlp" | "console";

/** OpenTelemetry settings (standard OTEL_* variables). */
export interface OtelConfig {
  /** `sdk`: our provider; `native`: Deno's built-in OpenTelemetry; `disabled`: no spans. */
  mode: "sdk" | "native" | "disabled";
  exporters: TraceExporterKind[];
  /** Full traces URL, e.g. https://api.honeycomb.io/v1/traces. */
  tracesEndpoint?: string;
  headers: Record<string, string>;
  /** How SDK mode encodes OTLP traces and logs (OTEL_EXPORTER_OTLP_PROTOCOL). */
  protocol: OtlpProtocol;
  timeoutMs: number;
  sampler: string;
  samplerArg?: number;
  resourceAttributes: Record<string, string>;
  bsp: {
    maxQueueSize: number;
    maxExportBatchSize: number;
    scheduledDelayMillis: number;
    exportTimeoutMillis: number;
    /** OTLP_MAX_CONCURRENT_EXPORTS: batches out at once (see the constant's comment). */
    maxConcurrentExports: number;
  };
  /** Request headers recorded as `http.request.header.*` (lower-case allow-list). */
  captureRequestHeaders: string[];
  /**
   * Longest string attribute value on a span (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, else
   * OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT); the logger's field cap, so every sink sees one cap.
   */
  attributeValueLengthLimit: number;
  /** The span count limits (OTEL_SPAN_*_COUNT_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT), 128 each. */
  spanCountLimits: SpanCountLimits;
}

/** How many attributes, events and links a span keeps; past a limit they are counted as dropped. */
export interface SpanCountLimits {
  attributeCountLimit: number;
  eventCountLimit: number;
  linkCountLimit: number;
  attributePerEventCountLimit: number;
  attributePerLinkCountLimit: number;
}

/** The specification's default for every span count limit. */
const DEFAULT_COUNT_LIMIT = 128;

/** Default attribute value cap: the logger's string-field cap (telemetry/logger.ts). */
export const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT = 2048;

/** Where the SDK pipeline sends metrics or log records (`OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`). */
export type SignalExporterKind = "otlp" | "console";

/** OpenTelemetry metrics (SDK mode): HTTP server, runtime and the sinks' own counters. */
export interface MetricsConfig {
  exporters: SignalExporterKind[];
  /** Full metrics URL, e.g. https://api.honeycomb.io/v1/metrics. */
  endpoint?: string;
  headers: Record<string, string>;
  /** OTEL_METRIC_EXPORT_INTERVAL: time between two exports. */
  intervalMs: number;
  /** OTEL_METRIC_EXPORT_TIMEOUT: longest one export may take. */
  timeoutMs: number;
  /** Per OTLP request (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT). */
  otlpTimeoutMs: number;
  /**
   * OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: which instruments export deltas
   * (the OTLP exporter specification's three choices; default cumulative).
   */
  temporality: MetricsTemporality;
}

/** The OTLP exporter specification's temporality preferences. */
export const METRICS_TEMPORALITIES = ["cumulative", "delta", "lowmemory"] as const;
export type MetricsTemporality = typeof METRICS_TEMPORALITIES[number];

/** The batch log record processor's settings (OTEL_BLRP_*, the specification's defaults). */
export interface LogsBatchConfig {
  /** OTEL_BLRP_MAX_QUEUE_SIZE: records buffered at most; a full buffer drops and counts. */
  maxQueueSize: number;
  /** OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: records per export at most (≤ maxQueueSize). */
  maxExportBatchSize: number;
  /** OTEL_BLRP_SCHEDULE_DELAY: time between two exports when no batch is full. */
  scheduledDelayMillis: number;
  /** OTEL_BLRP_EXPORT_TIMEOUT: longest one export may take, retries included (0 = no limit). */
  exportTimeoutMillis: number;
  /** OTLP_MAX_CONCURRENT_EXPORTS: batches out at once (see the constant's comment). */
  maxConcurrentExports: number;
}

/**
 * OTLP_MAX_CONCURRENT_EXPORTS when unset: how many span batches, and how many log batches, may
 * be on their way to the collector at once. The SDK's processors send one at a time, so a
 * collector 100 ms away takes at most ~5,000 spans a second in batches of 512 (measured: at
 * 4,000 requests a second, 8,000 spans and records, 37% were dropped with one batch out, none
 * with four). The specification leaves this to the exporter ("Export() ... does not mean it is
 * required to block until the batch is sent"); the OpenTelemetry Collector's exporters send
 * with 10 consumers. 1 gives the SDK's behaviour.
 */
export const DEFAULT_MAX_CONCURRENT_EXPORTS = 4;
/** The largest OTLP_MAX_CONCURRENT_EXPORTS: each batch out holds its body (~0.2-0.5 MB). */
export const MAX_CONCURRENT_EXPORTS = 32;

function maxConcurrentExports(env: Env): number {
  return int(
    env,
    "OTLP_MAX_CONCURRENT_EXPORTS",
    DEFAULT_MAX_CONCURRENT_EXPORTS,
    1,
    MAX_CONCURRENT_EXPORTS,
  );
}

/** The OTLP/HTTP encodings SDK mode speaks (OTEL_EXPORTER_OTLP_PROTOCOL). */
export type OtlpProtocol = "http/json" | "http/protobuf";

/** OTEL_EXPORTER_OTLP_PROTOCOL when unset, in SDK mode. */
export const DEFAULT_OTLP_PROTOCOL: OtlpProtocol = "http/protobuf";

/** OpenTelemetry logs (SDK mode): every logger event as an OTLP log record. */
export interface LogsConfig {
  exporters: SignalExporterKind[];
  /** Full logs URL, e.g. https://api.honeycomb.io/v1/logs. */
  endpoint?: string;
  headers: Record<string, string>;
  /** OTEL_EXPORTER_OTLP_PROTOCOL; absent: {@linkcode DEFAULT_OTLP_PROTOCOL}. */
  protocol?: OtlpProtocol;
  /** Per attempt (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT). */
  timeoutMs: number;
  batch: LogsBatchConfig;
}

/** CloudWatch Embedded Metric Format events written to the CloudWatch Logs stream. */
export interface EmfConfig {
  enabled: boolean;
  /** CLOUDWATCH_METRICS_NAMESPACE (default Cruddur). */
  namespace: string;
  /** CLOUDWATCH_METRICS_INTERVAL_MS: aggregation period; one event set per period. */
  intervalMs: number;
}

/** AWS X-Ray settings. */
export interface XRayConfig {
  enabled: boolean;
  daemonAddress: string;
  tracingName?: string;
  dynamicNamingPattern?: string;
  samplingRulesPath: string;
  /**
   * AWS_XRAY_SAMPLING: `local` applies the rule file in process; `centralized` polls the
   * rules and reservoir targets through the daemon's TCP proxy, the file deciding meanwhile.
   */
  sampling: "local" | "centralized";
}

/** AWS credentials from the environment; the SDK's default chain is never used. */
export interface AwsConfig {
  region: string;
  /** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): first, as in the SDK's chain. */
  credentials?: StaticCredentials;
  /** Else the ECS/EKS container credentials endpoint the environment names. */
  container?: ContainerCredentialsSource;
}

/** Keys given as they are. */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Where a container's role credentials are fetched: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * (ECS: under http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with the
 * Authorization token EKS Pod Identity and ECS Anywhere use.
 */
export interface ContainerCredentialsSource {
  url: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN. */
  authorizationToken?: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: read at every fetch (it is rotated); wins. */
  authorizationTokenFile?: string;
}

/** CloudWatch Logs settings. */
export interface CloudWatchConfig {
  logGroup: string;
  logStream?: string;
  endpoint?: string;
  flushIntervalMs: number;
  /**
   * CLOUDWATCH_MAX_QUEUE_BYTES: lines waiting to be sent at most, in AWS-counted bytes (the
   * batch in flight is extra). The sink sends one 1 MiB batch per round trip, so more buffer
   * than a batch forming plus one waiting only delays a drop when the service is slower than
   * the log rate; what it does buy is memory held through an outage.
   */
  maxQueueBytes: number;
  /**
   * CLOUDWATCH_MAX_CONCURRENT_PUTS: PutLogEvents calls out at once (1-16, default 4). AWS
   * ignores sequence tokens since 2023, so parallel puts to one stream are accepted; with one,
   * a 100 ms answer caps the sink at ~10 MiB of lines a second.
   */
  maxConcurrentPuts: number;
  createLogGroup: boolean;
  /** Embedded Metric Format events in the same stream. */
  metrics: EmfConfig;
}

/** Rollbar settings. */
export interface RollbarConfig {
  accessToken: string;
  environment: string;
  codeVersion?: string;
  endpoint?: string;
  itemsPerMinute: number;
}

/** The whole configuration. */
export interface Config {
  port: number;
  hostname: string;
  frontendUrl?: string;
  backendUrl?: string;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  /** How long to keep trying to listen again after the listener died (EMFILE). */
  listenRecoveryMs: number;
  /** Per-client write rate limit (routes/rate_limit.ts). */
  rateLimit: { writesPerMinute: number; writeBurst: number };
  traceDemo: boolean;
  healthDetail: boolean;
  serviceName: string;
  serviceVersion: string;
  environment: string;
  logLevel: "debug" | "info" | "warn" | "error";
  /** `auto`: `pretty` when stdout is a terminal (a person), `json` otherwise (a container). */
  logFormat: "pretty" | "json" | "auto";
  otel: OtelConfig;
  metrics: MetricsConfig;
  logs: LogsConfig;
  xray: XRayConfig;
  /** Present when both a region and credentials are set. */
  aws?: AwsConfig;
  /** Present when CLOUDWATCH_LOG_GROUP is set (the sink also needs `aws`). */
  cloudwatch?: CloudWatchConfig;
  /** Present when ROLLBAR_ACCESS_TOKEN is set. */
  rollbar?: RollbarConfig;
  /** The store: PGlite under DATA_DIR, a PostgreSQL server, or memory (DATABASE_URL). */
  database: DatabaseConfig;
  /** How long startup keeps retrying an unreachable database before exiting 1. */
  databaseStartupTimeoutMs: number;
}

/** Every variable `loadConfig` reads, for documentation and the compose-file test. */
export const CONFIG_VARIABLES = [
  "PORT",
  "HOST",
  "FRONTEND_URL",
  "BACKEND_URL",
  "BODY_LIMIT_BYTES",
  "SHUTDOWN_TIMEOUT_MS",
  "LISTEN_RECOVERY_MS",
  "RATE_LIMIT_WRITES_PER_MINUTE",
  "RATE_LIMIT_WRITE_BURST",
  "TRACE_DEMO",
  "HEALTH_CHECK_DETAIL",
  "SERVICE_VERSION",
  "DEPLOYMENT_ENVIRONMENT",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "OTEL_SDK_DISABLED",
  "OTEL_DENO",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_TRACES_EXPORTER",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
  "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
  "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_BSP_MAX_QUEUE_SIZE",
  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_BSP_EXPORT_TIMEOUT",
  "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
  "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
  "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
  "OTEL_ATTRIBUTE_COUNT_LIMIT",
  "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
  "OTEL_SPAN_EVENT_COUNT_LIMIT",
  "OTEL_SPAN_LINK_COUNT_LIMIT",
  "OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT",
  "OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT",
  "OTEL_METRICS_EXPORTER",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
  "OTEL_METRIC_EXPORT_INTERVAL",
  "OTEL_METRIC_EXPORT_TIMEOUT",
  "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
  "OTEL_LOGS_EXPORTER",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
  "OTEL_BLRP_SCHEDULE_DELAY",
  "OTEL_BLRP_EXPORT_TIMEOUT",
  "OTEL_BLRP_MAX_QUEUE_SIZE",
  "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
  "OTLP_MAX_CONCURRENT_EXPORTS",
  "AWS_XRAY_ENABLED",
  "AWS_XRAY_DAEMON_ADDRESS",
  "AWS_XRAY_TRACING_NAME",
  "AWS_XRAY_URL",
  "AWS_XRAY_SAMPLING_RULES",
  "AWS_XRAY_SAMPLING",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
  "CLOUDWATCH_LOG_GROUP",
  "CLOUDWATCH_LOG_STREAM",
  "CLOUDWATCH_FLUSH_INTERVAL_MS",
  "CLOUDWATCH_MAX_QUEUE_BYTES",
  "CLOUDWATCH_MAX_CONCURRENT_PUTS",
  "CLOUDWATCH_CREATE_LOG_GROUP",
  "CLOUDWATCH_METRICS_ENABLED",
  "CLOUDWATCH_METRICS_NAMESPACE",
  "CLOUDWATCH_METRICS_INTERVAL_MS",
  "ROLLBAR_ACCESS_TOKEN",
  "ROLLBAR_ENVIRONMENT",
  "ROLLBAR_CODE_VERSION",
  "ROLLBAR_ENDPOINT",
  "ROLLBAR_ITEMS_PER_MINUTE",
  "DATABASE_URL",
  "DATA_DIR",
  "DATABASE_POOL_MAX",
  "DATABASE_CONNECT_TIMEOUT_MS",
  "DATABASE_STATEMENT_TIMEOUT_MS",
  "DATABASE_STARTUP_TIMEOUT_MS",
] as const;

type Env = Readonly<Record<string, string | undefined>>;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** CLOUDWATCH_MAX_QUEUE_BYTES's default: two full PutLogEvents batches. */
export const CLOUDWATCH_DEFAULT_QUEUE_BYTES = 2 * 1_048_576;

/** setTimeout's largest delay: a longer one fires after 1 ms (the WHATWG timers clamp). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function int(env: Env, name: string, fallback: number, min = 0, max = MAX_TIMER_MS): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** A delay or timeout in milliseconds: at most MAX_TIMER_MS, so a timer fires when it says. */
function ms(env: Env, name: string, fallback: number, min: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > MAX_TIMER_MS) {
    throw new ConfigError(
      `${name} must be whole milliseconds from ${min} to ${MAX_TIMER_MS} (the largest timer delay), got "${raw}"`,
    );
  }
  return value;
}

/** An IPv4 or IPv6 literal, or a DNS host name (RFC 1123 labels). */
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function host(env: Env, name: string, fallback: string): string {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  const ok = (HOSTNAME.test(bare) && bare.length <= 253) || (bare.includes(":") && IPV6.test(bare));
  if (!ok) {
    throw new ConfigError(
      `${name} must be an IP address or a host name (letters, digits, dots, hyphens), got "${raw}"`,
    );
  }
  return bare;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["true", "1", "yes", "on"].includes(raw)) return true;
  if (["false", "0", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name} must be one of ${choices.join(", ")}, got "${raw}"`);
}

function url(env: Env, name: string): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
    return raw;
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  }
}

/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters a header value may not carry (CR and LF split headers). */
// deno-lint-ignore no-control-regex
const HEADER_VALUE_FORBIDDEN = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** OTEL_*_HEADERS: key=value pairs that must be legal HTTP header names and values. */
function headerList(env: Env, name: string): Record<string, string> {
  const headers = keyValues(env, name);
  for (const [key, value] of Object.entries(headers)) {
    if (!TOKEN.test(key)) {
      throw new ConfigError(
        `${name}: header name "${key}" must be an HTTP token (no spaces or separators)`,
      );
    }
    if (HEADER_VALUE_FORBIDDEN.test(value)) {
      throw new ConfigError(
        `${name}: the value of header "${key}" must not contain CR, LF or other control characters`,
      );
    }
  }
  return headers;
}

/** Parses the W3C-baggage-like `k=v,k2=v2` lists of OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES. */
function keyValues(env: Env, name: string): Record<string, string> {
  const raw = text(env, name);
  const result: Record<string, string> = {};
  if (raw === undefined) return result;
  for (const part of raw.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    try {
      const key = eq > 0 ? decodeURIComponent(part.slice(0, eq).trim()) : "";
      if (key === "") throw new URIError("empty key");
      result[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(`${name} must be a list of key=value pairs (percent-encoded)`);
    }
  }
  return result;
}

const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

function otelConfig(env: Env): OtelConfig {
  const disabled = bool(env, "OTEL_SDK_DISABLED", false);
  const native = bool(env, "OTEL_DENO", false);
  const base = url(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  const traces = url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const tracesEndpoint = traces ??
    (base === undefined ? undefined : `${base.replace(/\/+$/, "")}/v1/traces`);
  const named = text(env, "OTEL_TRACES_EXPORTER")?.toLowerCase();
  const exporters: TraceExporterKind[] = [];
  for (const name of (named ?? (tracesEndpoint ? "otlp" : "none")).split(",")) {
    const kind = name.trim();
    if (kind === "otlp" || kind === "console") exporters.push(kind);
    else if (kind !== "none" && kind !== "") {
      throw new ConfigError(`OTEL_TRACES_EXPORTER must list otlp, console or none, got "${kind}"`);
    }
  }
  if (exporters.includes("otlp") && !tracesEndpoint && !native) {
    throw new ConfigError(
      "OTEL_TRACES_EXPORTER names otlp but OTEL_EXPORTER_OTLP_ENDPOINT is not set",
    );
  }
  const protocol = otlpProtocol(env, native);
  const samplerArgRaw = text(env, "OTEL_TRACES_SAMPLER_ARG");
  const samplerArg = samplerArgRaw === undefined ? undefined : Number(samplerArgRaw);
  if (samplerArg !== undefined && !(samplerArg >= 0 && samplerArg <= 1)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1`);
  }
  const maxQueueSize = int(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1);
  // As for OTEL_BLRP_*: the specification requires batch ≤ queue, so an explicit larger batch is
  // refused (not silently clamped) and an unset one shrinks to a smaller queue.
  const maxExportBatchSize = int(
    env,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    Math.min(512, maxQueueSize),
    1,
  );
  if (
    text(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE") !== undefined && maxExportBatchSize > maxQueueSize
  ) {
    throw new ConfigError(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE must be at most OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize}), got "${maxExportBatchSize}"`,
    );
  }
  return {
    mode: disabled ? "disabled" : native ? "native" : "sdk",
    exporters,
    ...(tracesEndpoint ? { tracesEndpoint } : {}),
    protocol,
    headers: {
      ...headerList(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...headerList(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    },
    timeoutMs: signalTimeout(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
    sampler: oneOf(env, "OTEL_TRACES_SAMPLER", SAMPLERS, "parentbased_always_on"),
    ...(samplerArg === undefined ? {} : { samplerArg }),
    resourceAttributes: keyValues(env, "OTEL_RESOURCE_ATTRIBUTES"),
    bsp: {
      maxQueueSize,
      maxExportBatchSize,
      scheduledDelayMillis: ms(env, "OTEL_BSP_SCHEDULE_DELAY", 5000, 0),
      exportTimeoutMillis: ms(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1),
      maxConcurrentExports: maxConcurrentExports(env),
    },
    captureRequestHeaders: (text(env, "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST") ??
      "").split(",").map((h) => h.trim().toLowerCase()).filter((h) => h !== ""),
    attributeValueLengthLimit: text(env, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") !== undefined
      ? int(env, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, 1)
      : int(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, 1),
    spanCountLimits: spanCountLimits(env),
  };
}

/** OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT falls back to OTEL_ATTRIBUTE_COUNT_LIMIT, as the spec says. */
function spanCountLimits(env: Env): SpanCountLimits {
  const count = (name: string, fallback = DEFAULT_COUNT_LIMIT) =>
    int(env, name, fallback, 0, 1_000_000);
  return {
    attributeCountLimit: count(
      "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
      count("OTEL_ATTRIBUTE_COUNT_LIMIT"),
    ),
    eventCountLimit: count("OTEL_SPAN_EVENT_COUNT_LIMIT"),
    linkCountLimit: count("OTEL_SPAN_LINK_COUNT_LIMIT"),
    attributePerEventCountLimit: count("OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT"),
    attributePerLinkCountLimit: count("OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT"),
  };
}

/** The exporters an OTEL_{METRICS,LOGS}_EXPORTER list names; `otlp` by default with an endpoint. */
function signalExporters(
  env: Env,
  name: string,
  endpoint: string | undefined,
): SignalExporterKind[] {
  const exporters: SignalExporterKind[] = [];
  for (const entry of (text(env, name)?.toLowerCase() ?? (endpoint ? "otlp" : "none")).split(",")) {
    const kind = entry.trim();
    if (kind === "otlp" || kind === "console") exporters.push(kind);
    else if (kind !== "none" && kind !== "") {
      throw new ConfigError(`${name} must list otlp, console or none, got "${kind}"`);
    }
  }
  // Deno's built-in OpenTelemetry has its own default endpoint (localhost:4318).
  if (exporters.includes("otlp") && !endpoint && !bool(env, "OTEL_DENO", false)) {
    throw new ConfigError(`${name} names otlp but OTEL_EXPORTER_OTLP_ENDPOINT is not set`);
  }
  return exporters;
}

/**
 * A signal's OTLP request timeout in ms: its own variable (e.g. OTEL_EXPORTER_OTLP_LOGS_TIMEOUT)
 * overrides OTEL_EXPORTER_OTLP_TIMEOUT, default 10000, as the OTLP exporter specification says.
 */
function signalTimeout(env: Env, name: string): number {
  const generic = ms(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, 1);
  return ms(env, name, generic, 1);
}

/** A signal's URL: its own variable, else the base endpoint plus the signal's path. */
function signalEndpoint(env: Env, name: string, path: string): string | undefined {
  const base = url(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  return url(env, name) ?? (base === undefined ? undefined : `${base.replace(/\/+$/, "")}${path}`);
}

function metricsConfig(env: Env): MetricsConfig {
  const endpoint = signalEndpoint(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "/v1/metrics");
  const intervalMs = int(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000, 100);
  return {
    exporters: signalExporters(env, "OTEL_METRICS_EXPORTER", endpoint),
    ...(endpoint ? { endpoint } : {}),
    headers: {
      ...headerList(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...headerList(env, "OTEL_EXPORTER_OTLP_METRICS_HEADERS"),
    },
    intervalMs,
    // The SDK requires the timeout to fit in the interval.
    timeoutMs: Math.min(int(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000, 1), intervalMs),
    otlpTimeoutMs: signalTimeout(env, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"),
    temporality: oneOf(
      env,
      "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
      METRICS_TEMPORALITIES,
      "cumulative",
    ),
  };
}

/**
 * The log record buffer is allocated at its full size at startup (a fixed ring), so its size is
 * bounded well below the specification's 2^31 - 1 integers.
 */
export const MAX_LOG_QUEUE_SIZE = 1_000_000;

/**
 * OTEL_BLRP_*, with the specification's defaults (1000 ms delay, 30000 ms timeout, 2048 queued,
 * batches of 512). A batch larger than the queue is refused, as the specification requires; an
 * unset batch size shrinks to a smaller queue. A timeout of 0 means no limit.
 */
function logsBatchConfig(env: Env): LogsBatchConfig {
  const maxQueueSize = int(env, "OTEL_BLRP_MAX_QUEUE_SIZE", 2048, 1, MAX_LOG_QUEUE_SIZE);
  const batchSet = text(env, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE") !== undefined;
  const maxExportBatchSize = int(
    env,
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    Math.min(512, maxQueueSize),
    1,
    MAX_LOG_QUEUE_SIZE,
  );
  if (batchSet && maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(
      `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE must be at most OTEL_BLRP_MAX_QUEUE_SIZE (${maxQueueSize}), got "${maxExportBatchSize}"`,
    );
  }
  const timeout = ms(env, "OTEL_BLRP_EXPORT_TIMEOUT", 30_000, 0);
  return {
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMillis: ms(env, "OTEL_BLRP_SCHEDULE_DELAY", 1000, 0),
    exportTimeoutMillis: timeout === 0 ? MAX_TIMER_MS : timeout,
    maxConcurrentExports: maxConcurrentExports(env),
  };
}

/**
 * OTEL_EXPORTER_OTLP_PROTOCOL for SDK mode: http/protobuf or http/json (traces and logs; the
 * metrics exporter sends JSON either way). Native mode passes the variable to Deno, which also
 * speaks grpc: any value is left to it.
 */
function otlpProtocol(env: Env, native: boolean): OtlpProtocol {
  const protocol = text(env, "OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol === undefined || native) return DEFAULT_OTLP_PROTOCOL;
  if (protocol !== "http/json" && protocol !== "http/protobuf") {
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json in SDK mode (set OTEL_DENO=true for ${protocol})`,
    );
  }
  return protocol;
}

function logsConfig(env: Env): LogsConfig {
  const endpoint = signalEndpoint(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "/v1/logs");
  return {
    exporters: signalExporters(env, "OTEL_LOGS_EXPORTER", endpoint),
    ...(endpoint ? { endpoint } : {}),
    protocol: otlpProtocol(env, bool(env, "OTEL_DENO", false)),
    headers: {
      ...headerList(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...headerList(env, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"),
    },
    timeoutMs: signalTimeout(env, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"),
    batch: logsBatchConfig(env),
  };
}

const NAMESPACE = /^[A-Za-z0-9 ._\-\/#:]{1,255}$/;

function emfConfig(env: Env): EmfConfig {
  const namespace = text(env, "CLOUDWATCH_METRICS_NAMESPACE") ?? "Cruddur";
  // CloudWatch's rule for a namespace; "AWS/" is reserved for AWS's own services.
  if (!NAMESPACE.test(namespace) || namespace.startsWith("AWS/")) {
    throw new ConfigError(
      `CLOUDWATCH_METRICS_NAMESPACE must be 1-255 letters, digits or . _ - / # : space, not starting with AWS/, got "${namespace}"`,
    );
  }
  return {
    enabled: bool(env, "CLOUDWATCH_METRICS_ENABLED", true),
    namespace,
    intervalMs: int(env, "CLOUDWATCH_METRICS_INTERVAL_MS", 60_000, 1000),
  };
}

function awsConfig(env: Env): AwsConfig | undefined {
  const region = text(env, "AWS_REGION") ?? text(env, "AWS_DEFAULT_REGION");
  const accessKeyId = text(env, "AWS_ACCESS_KEY_ID");
  const secretAccessKey = text(env, "AWS_SECRET_ACCESS_KEY");
  const container = containerSource(env);
  if (!region) return undefined;
  if (accessKeyId && secretAccessKey) {
    const sessionToken = text(env, "AWS_SESSION_TOKEN");
    return {
      region,
      credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    };
  }
  return container ? { region, container } : undefined;
}

/** ECS's own address for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
export const ECS_CREDENTIALS_HOST = "169.254.170.2";
/** Plain-HTTP hosts the SDK lets AWS_CONTAINER_CREDENTIALS_FULL_URI name (ECS, EKS, loopback). */
const CONTAINER_HTTP_HOSTS = new Set([
  ECS_CREDENTIALS_HOST,
  "169.254.170.23",
  "[fd00:ec2::23]",
  "localhost",
  "[::1]",
]);

function containerSource(env: Env): ContainerCredentialsSource | undefined {
  const relative = text(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const full = text(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  let url: string;
  if (relative !== undefined) {
    if (!relative.startsWith("/")) {
      throw new ConfigError(
        `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with /, got "${relative}"`,
      );
    }
    url = new URL(relative, `http://${ECS_CREDENTIALS_HOST}`).href;
  } else if (full !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(full);
    } catch {
      throw new ConfigError(`AWS_CONTAINER_CREDENTIALS_FULL_URI must be a URL, got "${full}"`);
    }
    // As the SDK: any https host; plain http only to the container hosts and loopback, so a
    // misset variable cannot send the token in clear text across a network.
    const allowed = parsed.protocol === "https:" ||
      (parsed.protocol === "http:" &&
        (CONTAINER_HTTP_HOSTS.has(parsed.hostname) ||
          /^127\.\d+\.\d+\.\d+$/.test(parsed.hostname)));
    if (!allowed) {
      throw new ConfigError(
        `AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to 169.254.170.2, 169.254.170.23 or loopback, got "${full}"`,
      );
    }
    url = parsed.href;
  } else {
    return undefined;
  }
  const tokenFile = text(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const token = text(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (token !== undefined && /[\r\n]/.test(token)) {
    throw new ConfigError("AWS_CONTAINER_AUTHORIZATION_TOKEN must not contain a line break");
  }
  return {
    url,
    ...(tokenFile !== undefined ? { authorizationTokenFile: tokenFile } : {}),
    ...(token !== undefined && tokenFile === undefined ? { authorizationToken: token } : {}),
  };
}

/** Rollbar refuses an item whose environment is longer than 255 characters (422). */
function rollbarEnvironment(env: Env): string {
  const value = text(env, "ROLLBAR_ENVIRONMENT") ?? "development";
  if (value.length > 255) {
    throw new ConfigError(
      `ROLLBAR_ENVIRONMENT must be at most 255 characters (Rollbar's limit), got ${value.length}`,
    );
  }
  return value;
}

/** CloudWatch Logs' CreateLogGroup pattern: 1-512 of letters, digits and `._-/#`. */
function logGroupName(value: string): string {
  if (!/^[.\-_/#A-Za-z0-9]{1,512}$/.test(value)) {
    throw new ConfigError(
      `CLOUDWATCH_LOG_GROUP must be 1-512 letters, digits or . _ - / # (CloudWatch's rule), got "${value}"`,
    );
  }
  return value;
}

/** CloudWatch Logs' CreateLogStream pattern: 1-512 characters, none of `:` and `*`. */
function logStreamName(value: string): string {
  if (value.length > 512 || /[:*]/.test(value)) {
    throw new ConfigError(
      `CLOUDWATCH_LOG_STREAM must be 1-512 characters without : or * (CloudWatch's rule), got "${value}"`,
    );
  }
  return value;
}

/**
 * The sampling rule file is read once here, so a missing or malformed file stops startup with
 * one line instead of a stack trace when the X-Ray sink loads it.
 */
function checkSamplingRules(path: string): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const why = error instanceof Error ? error.name : String(error);
    throw new ConfigError(`AWS_XRAY_SAMPLING_RULES must name a readable file, "${path}": ${why}`);
  }
  try {
    validateSamplingRule(JSON.parse(text));
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new ConfigError(
      `AWS_XRAY_SAMPLING_RULES must be an X-Ray sampling rule JSON file, "${path}": ${why}`,
    );
  }
}

/** DATABASE_URL: unset → PGlite, `memory:`, or a postgres(ql):// URL; errors never echo a password. */
function databaseConfig(env: Env): DatabaseConfig {
  const raw = text(env, "DATABASE_URL");
  if (raw === undefined) return { kind: "pglite", dataDir: text(env, "DATA_DIR") ?? "./data" };
  if (raw === "memory:") return { kind: "memory" };
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    // Reported below without the value: it may hold a password.
  }
  if (parsed === undefined || !["postgres:", "postgresql:"].includes(parsed.protocol)) {
    const shown = parsed ? ` got "${redactDatabaseUrl(raw)}"` : " got an unparseable value";
    throw new ConfigError(
      `DATABASE_URL must be memory: or a postgres:// or postgresql:// URL,${shown}`,
    );
  }
  return {
    kind: "postgres",
    url: raw,
    poolMax: int(env, "DATABASE_POOL_MAX", 10, 1, 1000),
    connectTimeoutMs: int(env, "DATABASE_CONNECT_TIMEOUT_MS", 5000, 1, 600_000),
    statementTimeoutMs: int(env, "DATABASE_STATEMENT_TIMEOUT_MS", 5000, 1, 600_000),
  };
}

/** Reads and validates the environment; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env): Config {
  const serviceName = text(env, "OTEL_SERVICE_NAME") ?? "backend-deno";
  const xrayAddress = text(env, "AWS_XRAY_DAEMON_ADDRESS");
  const logGroup = text(env, "CLOUDWATCH_LOG_GROUP");
  const logStream = text(env, "CLOUDWATCH_LOG_STREAM");
  const cwEndpoint = url(env, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS") ?? url(env, "AWS_ENDPOINT_URL");
  const rollbarToken = text(env, "ROLLBAR_ACCESS_TOKEN");
  const rollbarVersion = text(env, "ROLLBAR_CODE_VERSION");
  const rollbarEndpoint = url(env, "ROLLBAR_ENDPOINT");
  const tracingName = text(env, "AWS_XRAY_TRACING_NAME");
  const xrayUrl = text(env, "AWS_XRAY_URL");
  const frontendUrl = url(env, "FRONTEND_URL");
  const backendUrl = url(env, "BACKEND_URL");
  const aws = awsConfig(env);
  if (xrayAddress !== undefined) {
    try {
      parseDaemonAddress(xrayAddress);
    } catch {
      throw new ConfigError(
        `AWS_XRAY_DAEMON_ADDRESS must be host:port or "udp:host:port tcp:host:port", got "${xrayAddress}"`,
      );
    }
  }
  const xrayEnabled = bool(env, "AWS_XRAY_ENABLED", xrayAddress !== undefined);
  const samplingRulesPath = text(env, "AWS_XRAY_SAMPLING_RULES") ?? "aws/json/xray.json";
  if (xrayEnabled) checkSamplingRules(samplingRulesPath);
  return {
    port: int(env, "PORT", 4567, 0, 65535),
    hostname: host(env, "HOST", "0.0.0.0"),
    ...(frontendUrl ? { frontendUrl } : {}),
    ...(backendUrl ? { backendUrl } : {}),
    bodyLimitBytes: int(env, "BODY_LIMIT_BYTES", 64 * 1024, 1),
    shutdownTimeoutMs: ms(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 0),
    listenRecoveryMs: ms(env, "LISTEN_RECOVERY_MS", 30_000, 0),
    rateLimit: {
      writesPerMinute: int(env, "RATE_LIMIT_WRITES_PER_MINUTE", 60, 0, 1_000_000),
      writeBurst: int(env, "RATE_LIMIT_WRITE_BURST", 30, 1, 1_000_000),
    },
    traceDemo: bool(env, "TRACE_DEMO", false),
    healthDetail: bool(env, "HEALTH_CHECK_DETAIL", false),
    serviceName,
    serviceVersion: text(env, "SERVICE_VERSION") ?? "0.1.0",
    environment: text(env, "DEPLOYMENT_ENVIRONMENT") ?? "development",
    logLevel: oneOf(env, "LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info"),
    logFormat: oneOf(env, "LOG_FORMAT", ["pretty", "json", "auto"] as const, "auto"),
    otel: otelConfig(env),
    metrics: metricsConfig(env),
    logs: logsConfig(env),
    xray: {
      enabled: xrayEnabled,
      daemonAddress: xrayAddress ?? "127.0.0.1:2000",
      ...(tracingName ? { tracingName } : {}),
      ...(xrayUrl ? { dynamicNamingPattern: xrayUrl } : {}),
      samplingRulesPath,
      sampling: oneOf(env, "AWS_XRAY_SAMPLING", ["local", "centralized"] as const, "local"),
    },
    ...(aws ? { aws } : {}),
    ...(logGroup
      ? {
        cloudwatch: {
          logGroup: logGroupName(logGroup),
          ...(logStream ? { logStream: logStreamName(logStream) } : {}),
          ...(cwEndpoint ? { endpoint: cwEndpoint } : {}),
          flushIntervalMs: ms(env, "CLOUDWATCH_FLUSH_INTERVAL_MS", 5000, 10),
          // At least one largest event (1 MiB with its overhead), so every valid line can queue.
          maxQueueBytes: int(
            env,
            "CLOUDWATCH_MAX_QUEUE_BYTES",
            CLOUDWATCH_DEFAULT_QUEUE_BYTES,
            1_048_576,
            1_073_741_824,
          ),
          maxConcurrentPuts: int(env, "CLOUDWATCH_MAX_CONCURRENT_PUTS", 4, 1, 16),
          createLogGroup: bool(env, "CLOUDWATCH_CREATE_LOG_GROUP", true),
          metrics: emfConfig(env),
        },
      }
      : {}),
    database: databaseConfig(env),
    databaseStartupTimeoutMs: int(env, "DATABASE_STARTUP_TIMEOUT_MS", 30_000, 0, 3_600_000),
    ...(rollbarToken
      ? {
        rollbar: {
          accessToken: rollbarToken,
          environment: rollbarEnvironment(env),
          ...(rollbarVersion ? { codeVersion: rollbarVersion } : {}),
          ...(rollbarEndpoint ? { endpoint: rollbarEndpoint } : {}),
          itemsPerMinute: int(env, "ROLLBAR_ITEMS_PER_MINUTE", 60, 1),
        },
      }
      : {}),
  };
}
