/**
 * Turns finished OpenTelemetry spans into X-Ray segment documents and encodes them as daemon
 * datagrams within the 64 kB limit. Pure functions: the processor decides what and when.
 */
import type { Attributes, AttributeValue, HrTime } from "@opentelemetry/api";
import { SpanKind, SpanStatusCode } from "../otel_api.ts";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { randomHex } from "./trace_header.ts";

/** Daemon framing line, sent before every document. */
export const DAEMON_HEADER = '{"format":"json","version":1}\n';
/** Byte budget per datagram, header included (UDP allows 65,507). */
export const MAX_DATAGRAM_BYTES = 64_000;
/** X-Ray keeps at most 50 annotations; we apply it per document. */
export const MAX_ANNOTATIONS = 50;
/** Longest annotation key kept. */
export const MAX_ANNOTATION_KEY = 500;
/** Longest annotation string kept. */
export const MAX_ANNOTATION_STRING = 1_000;
/** Annotation strings are cut to this when a document must shrink. */
const TRIMMED_ANNOTATION_STRING = 64;
const MAX_NAME = 200;
/** The segment-document guide limits the `http` block's strings to 250 characters. */
export const MAX_HTTP_STRING = 250;
const MAX_STACK_FRAMES = 20;
const MAX_EXCEPTION_MESSAGE = 1_000;
/** Span attributes under this prefix become annotations and `app` metadata. */
export const APP_PREFIX = "app.";
/** Long enough for every query the store runs; a bound all the same. */
export const MAX_SANITIZED_QUERY = 4_000;

/** A finished span and its finished descendants. */
export interface SpanNode {
  span: ReadableSpan;
  children: SpanNode[];
}

/** What begin() decided for a segment. */
export interface SegmentInfo {
  /** X-Ray trace id. */
  traceId: string;
  /** The caller's id from X-Amzn-Trace-Id. */
  parentId: string | undefined;
  name: string;
  /** Set when the OTel trace id could not be used as the X-Ray id. */
  otelTraceId: string | undefined;
}

/** Counters the encoder increments; reported through details(). */
export interface DocumentCounters {
  annotations_renamed: number;
  annotations_dropped: number;
  documents_trimmed: number;
  documents_split: number;
  metadata_trimmed: number;
  oversized_dropped: number;
}

/** Creates zeroed {@link DocumentCounters}. */
export function emptyDocumentCounters(): DocumentCounters {
  return {
    annotations_renamed: 0,
    annotations_dropped: 0,
    documents_trimmed: 0,
    documents_split: 0,
    metadata_trimmed: 0,
    oversized_dropped: 0,
  };
}

/** A segment or subsegment document, as X-Ray's schema names its fields. */
export interface XRayDocument {
  name: string;
  id: string;
  start_time: number;
  end_time: number;
  trace_id?: string;
  parent_id?: string;
  type?: "subsegment";
  namespace?: "remote";
  error?: true;
  throttle?: true;
  fault?: true;
  http?: {
    request?: Record<string, string | boolean>;
    response?: Record<string, number>;
  };
  service?: { version: string };
  cause?: { exceptions: XRayException[] };
  annotations?: Record<string, string | number | boolean>;
  metadata?: Record<string, Record<string, unknown>>;
  subsegments?: XRayDocument[];
  /** A database call (X-Ray's SQL fields); never a password, the query as parameterised. */
  sql?: Record<string, string>;
}

/** One entry of a document's `cause.exceptions`. */
export interface XRayException {
  id: string;
  type?: string;
  message?: string;
  stack?: Array<{ path: string; line?: number; label?: string }>;
  truncated?: number;
}

/** The remaining annotation allowance of one document. */
interface Budget {
  left: number;
}

/** Builds the segment document for the SERVER span and its subtree. */
export function buildSegment(
  info: SegmentInfo,
  node: SpanNode,
  counters: DocumentCounters,
): XRayDocument {
  const budget: Budget = { left: MAX_ANNOTATIONS };
  const annotations: Record<string, string | number | boolean> = {};
  if (info.otelTraceId !== undefined) {
    annotations.otel_trace_id = info.otelTraceId;
    budget.left--;
  }
  const { span } = node;
  const doc = baseDocument(info.name, span, annotations, budget, counters);
  doc.trace_id = info.traceId;
  if (info.parentId !== undefined) doc.parent_id = info.parentId;
  const http = serverHttp(span.attributes);
  if (http !== undefined) doc.http = http;
  const version = span.resource?.attributes?.["service.version"];
  if (typeof version === "string") doc.service = { version };
  addChildren(doc, node, budget, counters);
  return reorder(doc);
}

/** Builds an independent subsegment document for a span that ended after its segment. */
export function buildIndependentSubsegment(
  info: SegmentInfo,
  node: SpanNode,
  counters: DocumentCounters,
): XRayDocument {
  const budget: Budget = { left: MAX_ANNOTATIONS };
  const doc = buildSubsegment(node, budget, counters);
  return {
    type: "subsegment",
    trace_id: info.traceId,
    parent_id: node.span.parentSpanContext?.spanId ?? "",
    ...doc,
  };
}

function buildSubsegment(node: SpanNode, budget: Budget, counters: DocumentCounters) {
  const { span } = node;
  const explicit = span.attributes["aws.xray.name"];
  // A call to another service is named after the host called, so the service map shows it.
  const remoteHost = span.kind === SpanKind.CLIENT
    ? stringAttr(span.attributes, "server.address")
    : undefined;
  const name = typeof explicit === "string" && explicit.length > 0
    ? explicit
    : remoteHost ?? span.name;
  const doc = baseDocument(name, span, {}, budget, counters);
  if (span.kind === SpanKind.CLIENT) {
    const http = clientHttp(span.attributes);
    if (http !== undefined) {
      doc.namespace = "remote";
      doc.http = http;
    }
    const sql = clientSql(span.attributes);
    if (sql !== undefined) {
      doc.namespace = "remote";
      doc.sql = sql;
    }
  }
  addChildren(doc, node, budget, counters);
  return reorder(doc);
}

function addChildren(
  doc: XRayDocument,
  node: SpanNode,
  budget: Budget,
  counters: DocumentCounters,
): void {
  if (node.children.length === 0) return;
  const sorted = [...node.children].sort((a, b) =>
    hrSeconds(a.span.startTime) - hrSeconds(b.span.startTime)
  );
  doc.subsegments = sorted.map((child) => buildSubsegment(child, budget, counters));
}

function baseDocument(
  name: string,
  span: ReadableSpan,
  annotations: Record<string, string | number | boolean>,
  budget: Budget,
  counters: DocumentCounters,
): XRayDocument {
  const doc: XRayDocument = {
    name: sanitizeName(name),
    id: span.spanContext().spanId,
    start_time: hrSeconds(span.startTime),
    end_time: hrSeconds(span.endTime),
  };
  const app: Record<string, unknown> = {};
  let hasApp = false;
  for (const [key, value] of Object.entries(span.attributes)) {
    if (!key.startsWith(APP_PREFIX) || value === undefined) continue;
    app[key.slice(APP_PREFIX.length)] = value;
    hasApp = true;
    addAnnotation(annotations, key, value, budget, counters);
  }
  if (Object.keys(annotations).length > 0) doc.annotations = annotations;
  const metadata: Record<string, Record<string, unknown>> = {};
  if (hasApp) metadata.app = app;
  const exceptions: XRayException[] = [];
  const events: unknown[] = [];
  for (const event of span.events) {
    if (event.name === "exception") {
      exceptions.push(toException(event.attributes ?? {}));
    } else {
      events.push({ name: event.name, time: hrSeconds(event.time), ...event.attributes });
    }
  }
  if (events.length > 0) metadata.otel = { events };
  if (Object.keys(metadata).length > 0) doc.metadata = metadata;
  if (exceptions.length > 0) doc.cause = { exceptions };
  const status = span.attributes["http.response.status_code"];
  const code = typeof status === "number" ? status : undefined;
  if (code !== undefined && code >= 400 && code < 500) {
    doc.error = true;
    if (code === 429) doc.throttle = true;
  }
  const failed = span.status.code === SpanStatusCode.ERROR || exceptions.length > 0;
  if ((code !== undefined && code >= 500) || (failed && doc.error !== true)) doc.fault = true;
  return doc;
}

/**
 * The annotation key an `app.*` attribute maps to, or undefined (counted dropped) when its
 * value cannot be an annotation. Shared by the object form and segment_json.ts.
 */
export function annotationKey(
  attributeKey: string,
  value: AttributeValue,
  counters: DocumentCounters,
): string | undefined {
  if (!isAnnotatable(value)) {
    counters.annotations_dropped++;
    return undefined;
  }
  const key = appKey(attributeKey);
  if (key.renamed) counters.annotations_renamed++;
  return key.annotation;
}

/** True for a value X-Ray keeps as an annotation: a string, a finite number or a boolean. */
export function isAnnotatable(value: AttributeValue): value is string | number | boolean {
  return typeof value === "string" || typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value));
}

/** What an `app.*` attribute key becomes, worked out once per distinct key. */
export interface AppKey {
  /** The key without `app.`: its name in the `app` metadata. */
  readonly rest: string;
  /** `rest` as JSON text. */
  readonly restJson: string;
  /** `app_` + rest with `[^A-Za-z0-9_]` replaced, at most 500 characters. */
  readonly annotation: string;
  /** `annotation` as JSON text. */
  readonly annotationJson: string;
  /** True when the mapping changed more than `app.` → `app_` (counted as a rename). */
  readonly renamed: boolean;
  /**
   * True for a canonical array index or `__proto__`: an object orders (or treats) such a key
   * differently from insertion order, so segment_json.ts leaves that `app` block to
   * JSON.stringify of an object.
   */
  readonly objectOrdered: boolean;
}

/**
 * Attribute keys are the same few code literals request after request: their mapping (a
 * regular-expression replace, a JSON quote) is remembered. Bounded, and only for keys of
 * ordinary length, so odd keys cost their own work and hold no memory.
 */
const appKeys = new Map<string, AppKey>();
/** Canonical array indices, which JavaScript objects (and so JSON.stringify) order first. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,8})$/;
const MAX_MEMO_ENTRIES = 512;
const MAX_MEMO_KEY = 256;

/** The {@link AppKey} of an attribute key that starts with `app.`. */
export function appKey(attributeKey: string): AppKey {
  const known = appKeys.get(attributeKey);
  if (known !== undefined) return known;
  // `app.` → `app_` is the documented mapping; anything else changed is a rename to report.
  const rest = attributeKey.slice(APP_PREFIX.length);
  const cleanRest = rest.replace(/[^A-Za-z0-9_]/g, "_");
  const annotation = ("app_" + cleanRest).slice(0, MAX_ANNOTATION_KEY);
  const key: AppKey = {
    rest,
    restJson: JSON.stringify(rest),
    annotation,
    annotationJson: JSON.stringify(annotation),
    renamed: cleanRest !== rest,
    objectOrdered: ARRAY_INDEX.test(rest) || rest === "__proto__",
  };
  remember(appKeys, attributeKey, key);
  return key;
}

/** Adds to a memo of bounded size (emptied when full: the keys in use come straight back). */
function remember<T>(memo: Map<string, T>, key: string, value: T): void {
  if (key.length > MAX_MEMO_KEY) return;
  if (memo.size >= MAX_MEMO_ENTRIES) memo.clear();
  memo.set(key, value);
}

function addAnnotation(
  annotations: Record<string, string | number | boolean>,
  attributeKey: string,
  value: AttributeValue,
  budget: Budget,
  counters: DocumentCounters,
): void {
  const key = annotationKey(attributeKey, value, counters);
  if (key === undefined) return;
  if (!(key in annotations) && budget.left <= 0) {
    counters.annotations_dropped++;
    return;
  }
  if (!(key in annotations)) budget.left--;
  // annotationKey let only a string, a finite number or a boolean through.
  const scalar = value as string | number | boolean;
  annotations[key] = typeof scalar === "string" ? cutString(scalar, MAX_ANNOTATION_STRING) : scalar;
}

/** The request's method as sent: the original of an `_OTHER` method. */
export function requestMethod(attributes: Attributes): string | undefined {
  const method = stringAttr(attributes, "http.request.method");
  if (method === "_OTHER") return stringAttr(attributes, "http.request.method_original") ?? method;
  return method;
}

function serverHttp(attributes: Attributes): XRayDocument["http"] {
  const method = requestMethod(attributes);
  if (method === undefined) return undefined;
  const request: Record<string, string | boolean> = { method: cutString(method, MAX_HTTP_STRING) };
  const scheme = stringAttr(attributes, "url.scheme") ?? "http";
  const host = stringAttr(attributes, "server.address");
  const port = attributes["server.port"];
  const path = stringAttr(attributes, "url.path") ?? "/";
  if (host !== undefined) {
    const defaultPort = (scheme === "https" && port === 443) || (scheme === "http" && port === 80);
    const portPart = typeof port === "number" && !defaultPort ? `:${port}` : "";
    request.url = cutString(`${scheme}://${host}${portPart}${stripQuery(path)}`, MAX_HTTP_STRING);
  } else {
    request.url = cutString(stripQuery(path), MAX_HTTP_STRING);
  }
  const agent = stringAttr(attributes, "user_agent.original");
  if (agent !== undefined) request.user_agent = cutString(agent, MAX_HTTP_STRING);
  const client = stringAttr(attributes, "client.address");
  if (client !== undefined) request.client_ip = cutString(client, MAX_HTTP_STRING);
  if (attributes["aws.xray.x_forwarded_for"] === true) request.x_forwarded_for = true;
  return { request, response: responseBlock(attributes) };
}

function clientHttp(attributes: Attributes): XRayDocument["http"] {
  const method = requestMethod(attributes);
  if (method === undefined) return undefined;
  const request: Record<string, string | boolean> = { method: cutString(method, MAX_HTTP_STRING) };
  const url = stringAttr(attributes, "url.full");
  if (url !== undefined) request.url = cutString(stripQuery(url), MAX_HTTP_STRING);
  return { request, response: responseBlock(attributes) };
}

/** X-Ray's database_type for the OpenTelemetry db.system.name values we emit. */
export const DATABASE_TYPES: Readonly<Record<string, string>> = { postgresql: "PostgreSQL" };

/**
 * The `sql` block of a database CLIENT span: `url`, `user` and `database_version` from the
 * `aws.xray.sql.*` attributes the store sets (OpenTelemetry has no attribute for them),
 * `sanitized_query` from `db.query.text` (parameterised: values are never in it).
 */
function clientSql(attributes: Attributes): Record<string, string> | undefined {
  const system = stringAttr(attributes, "db.system.name");
  if (system === undefined) return undefined;
  const sql: Record<string, string> = { database_type: DATABASE_TYPES[system] ?? system };
  const url = stringAttr(attributes, "aws.xray.sql.url");
  if (url !== undefined) sql.url = url;
  const version = stringAttr(attributes, "aws.xray.sql.database_version");
  if (version !== undefined) sql.database_version = version;
  const user = stringAttr(attributes, "aws.xray.sql.user");
  if (user !== undefined) sql.user = user;
  const query = stringAttr(attributes, "db.query.text");
  if (query !== undefined) sql.sanitized_query = cutString(query, MAX_SANITIZED_QUERY);
  return sql;
}

function responseBlock(attributes: Attributes): Record<string, number> {
  const response: Record<string, number> = {};
  const status = attributes["http.response.status_code"];
  if (typeof status === "number") response.status = status;
  const size = attributes["http.response.body.size"];
  if (typeof size === "number") response.content_length = size;
  return response;
}

/** The `cause.exceptions` entry for an `exception` span event. */
export function toException(attributes: Attributes): XRayException {
  const exception: XRayException = { id: randomHex(8) };
  const type = stringAttr(attributes, "exception.type");
  if (type !== undefined) exception.type = cutString(type, MAX_NAME);
  const message = stringAttr(attributes, "exception.message");
  if (message !== undefined) exception.message = cutString(message, MAX_EXCEPTION_MESSAGE);
  const stack = stringAttr(attributes, "exception.stacktrace");
  if (stack !== undefined) {
    const frames = parseStack(stack);
    if (frames.length > MAX_STACK_FRAMES) exception.truncated = frames.length - MAX_STACK_FRAMES;
    if (frames.length > 0) exception.stack = frames.slice(0, MAX_STACK_FRAMES);
  }
  return exception;
}

const FRAME_RE = /^\s*at (?:(.*?) \()?(.*?)(?::(\d+))?(?::\d+)?\)?$/;

/** Best-effort V8 stack parsing: `at label (path:line:col)` or `at path:line:col`. */
function parseStack(stack: string): Array<{ path: string; line?: number; label?: string }> {
  const frames: Array<{ path: string; line?: number; label?: string }> = [];
  for (const line of stack.split("\n")) {
    if (!line.trimStart().startsWith("at ")) continue;
    const match = FRAME_RE.exec(line);
    if (match === null) continue;
    const frame: { path: string; line?: number; label?: string } = {
      path: cutString(match[2] ?? "", 500),
    };
    if (match[3] !== undefined) frame.line = Number(match[3]);
    if (match[1] !== undefined) frame.label = cutString(match[1], 200);
    frames.push(frame);
    if (frames.length > MAX_STACK_FRAMES * 5) break;
  }
  return frames;
}

/**
 * Encodes a document as daemon datagrams no larger than the budget: trims metadata, then long
 * annotation strings, then moves subsegments into independent documents. Returns [] (counted)
 * only when even a bare subsegment cannot fit.
 */
export function encodeDocument(doc: XRayDocument, counters: DocumentCounters): Uint8Array[] {
  const out: Uint8Array[] = [];
  encodeInto(doc, counters, out, true);
  return out;
}

const encoder = new TextEncoder();
const HEADER_BYTES = encoder.encode(DAEMON_HEADER).byteLength;
const BODY_BUDGET = MAX_DATAGRAM_BYTES - HEADER_BYTES;

const HEADER = encoder.encode(DAEMON_HEADER);
/**
 * Datagrams are carved one after another out of a shared slab instead of one allocation each
 * (`TextEncoder.encode` makes a new buffer per call; `encodeInto` writes in place). A region
 * is never written twice: a full slab is replaced, and the old one lives on only as long as
 * datagrams still in the outbox or in flight point into it.
 */
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabAt = 0;

/**
 * The datagram for a document's JSON when it fits the budget (header included), else
 * undefined. Most documents are far below it, so their UTF-8 length is not even measured.
 */
export function frameIfFits(json: string): Uint8Array | undefined {
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short string needs no measuring.
  if (json.length * 3 > BODY_BUDGET && byteLength(json) > BODY_BUDGET) return undefined;
  const most = HEADER_BYTES + json.length * 3;
  if (slabAt + most > slab.length) {
    slab = new Uint8Array(Math.max(SLAB_BYTES, most));
    slabAt = 0;
  }
  const start = slabAt;
  slab.set(HEADER, start);
  const { written } = encoder.encodeInto(json, slab.subarray(start + HEADER_BYTES));
  slabAt = start + HEADER_BYTES + written;
  return slab.subarray(start, slabAt);
}

function encodeInto(
  doc: XRayDocument,
  counters: DocumentCounters,
  out: Uint8Array[],
  first: boolean,
): void {
  let json = JSON.stringify(doc);
  if (json.length <= BODY_BUDGET / 3 || byteLength(json) <= BODY_BUDGET) {
    out.push(encoder.encode(DAEMON_HEADER + json));
    return;
  }
  if (first) counters.documents_trimmed++;
  if (stripMetadata(doc) > 0) {
    counters.metadata_trimmed++;
    json = JSON.stringify(doc);
    if (byteLength(json) <= BODY_BUDGET) {
      out.push(encoder.encode(DAEMON_HEADER + json));
      return;
    }
  }
  shortenAnnotations(doc);
  json = JSON.stringify(doc);
  if (byteLength(json) <= BODY_BUDGET) {
    out.push(encoder.encode(DAEMON_HEADER + json));
    return;
  }
  const subsegments = doc.subsegments ?? [];
  if (subsegments.length > 0) {
    counters.documents_split++;
    delete doc.subsegments;
    let used = byteLength(JSON.stringify(doc)) + ',"subsegments":[]'.length;
    const kept: XRayDocument[] = [];
    const moved: XRayDocument[] = [];
    for (const sub of subsegments) {
      const size = byteLength(JSON.stringify(sub)) + 1;
      if (moved.length === 0 && used + size <= BODY_BUDGET) {
        kept.push(sub);
        used += size;
      } else {
        moved.push(sub);
      }
    }
    if (kept.length > 0) doc.subsegments = kept;
    encodeInto(doc, counters, out, false);
    const traceId = doc.trace_id ?? "";
    for (const sub of moved) {
      encodeInto(
        { type: "subsegment", trace_id: traceId, parent_id: doc.id, ...sub },
        counters,
        out,
        false,
      );
    }
    return;
  }
  // A single leaf: exception stacks are the last thing that can go.
  if (doc.cause !== undefined) {
    for (const exception of doc.cause.exceptions) {
      delete exception.stack;
      if (exception.message !== undefined) exception.message = cutString(exception.message, 200);
    }
    json = JSON.stringify(doc);
    if (byteLength(json) <= BODY_BUDGET) {
      out.push(encoder.encode(DAEMON_HEADER + json));
      return;
    }
  }
  counters.oversized_dropped++;
}

function stripMetadata(doc: XRayDocument): number {
  let stripped = 0;
  if (doc.metadata !== undefined) {
    delete doc.metadata;
    stripped++;
  }
  for (const sub of doc.subsegments ?? []) stripped += stripMetadata(sub);
  return stripped;
}

function shortenAnnotations(doc: XRayDocument): void {
  for (const [key, value] of Object.entries(doc.annotations ?? {})) {
    if (typeof value === "string" && value.length > TRIMMED_ANNOTATION_STRING) {
      doc.annotations![key] = cutString(value, TRIMMED_ANNOTATION_STRING);
    }
  }
  for (const sub of doc.subsegments ?? []) shortenAnnotations(sub);
}

/** Puts the identifying fields first so a truncated dump still reads well. */
function reorder(doc: XRayDocument): XRayDocument {
  const { subsegments, metadata, ...rest } = doc;
  const ordered: XRayDocument = { ...rest };
  if (metadata !== undefined) ordered.metadata = metadata;
  if (subsegments !== undefined) ordered.subsegments = subsegments;
  return ordered;
}

const sanitizedNames = new Map<string, string>();

/** X-Ray names allow letters, digits, whitespace and `_.:/%&#=+\-@`; at most 200 chars. */
export function sanitizeName(name: string): string {
  // Segment and span names repeat (route and service names): the Unicode regex runs once each.
  const known = sanitizedNames.get(name);
  if (known !== undefined) return known;
  const clean = name.replace(/[^\p{L}\p{N}\s_.:/%&#=+\\\-@]/gu, "").slice(0, MAX_NAME).trim();
  const sanitized = clean.length > 0 ? clean : "unnamed";
  remember(sanitizedNames, name, sanitized);
  return sanitized;
}

const quotedNames = new Map<string, string>();

/** The JSON text of {@link sanitizeName}(name), remembered per distinct name (span names repeat). */
export function quotedName(name: string): string {
  const known = quotedNames.get(name);
  if (known !== undefined) return known;
  const text = JSON.stringify(sanitizeName(name));
  remember(quotedNames, name, text);
  return text;
}

/** A string attribute, or undefined. */
export function stringAttr(attributes: Attributes, key: string): string | undefined {
  const value = attributes[key];
  return typeof value === "string" ? value : undefined;
}

/** The URL without its query string or fragment. */
export function stripQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

/** Epoch seconds with the fraction, as X-Ray times are written. */
export function hrSeconds(time: HrTime): number {
  return time[0] + time[1] / 1e9;
}

function byteLength(text: string): number {
  return encoder.encode(text).byteLength;
}

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair. */
export function cutString(value: string, max: number): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}
