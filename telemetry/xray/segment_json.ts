/**
 * Segment documents written straight from the finished spans to the JSON text the datagram
 * carries: no document object tree, no reordering copy, one pass. The text is the same, field
 * for field and in the same order, as `JSON.stringify(buildSegment(...))` (the test suite
 * compares the two); a document that would not fit one datagram is left to document.ts, which
 * trims and splits the object form.
 */
import type { Attributes, AttributeValue } from "@opentelemetry/api";
import { SpanKind, SpanStatusCode } from "../otel_api.ts";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import {
  APP_PREFIX,
  type AppKey,
  appKey,
  buildIndependentSubsegment,
  buildSegment,
  cutString,
  DATABASE_TYPES,
  type DocumentCounters,
  emptyDocumentCounters,
  encodeDocument,
  frameIfFits,
  hrSeconds,
  isAnnotatable,
  MAX_ANNOTATION_STRING,
  MAX_ANNOTATIONS,
  MAX_HTTP_STRING,
  MAX_SANITIZED_QUERY,
  quotedName,
  requestMethod,
  type SegmentInfo,
  type SpanNode,
  stringAttr,
  stripQuery,
  toException,
} from "./document.ts";

const quote = JSON.stringify as (value: unknown) => string;

/**
 * The JSON text of the last string quoted in one place of the document: the method, URL, user
 * agent, client address and version repeat request after request, and comparing a string with
 * the last one costs a fraction of quoting it again.
 */
class LastQuoted {
  #value = "";
  #text = '""';

  quote(value: string): string {
    if (value !== this.#value) {
      this.#value = value;
      this.#text = quote(value);
    }
    return this.#text;
  }
}

/**
 * The JSON text of the last server URL, built from the scheme, host, port and path (its query
 * cut, the whole shortened) only when one of them differs from the last request's.
 */
class LastUrl {
  #scheme = "";
  #host: string | undefined = undefined;
  #port: unknown = undefined;
  #path = "";
  #text = "";

  json(scheme: string, host: string | undefined, port: unknown, path: string): string {
    if (
      this.#text !== "" && scheme === this.#scheme && host === this.#host &&
      port === this.#port && path === this.#path
    ) {
      return this.#text;
    }
    let url: string;
    if (host !== undefined) {
      const defaultPort = (scheme === "https" && port === 443) ||
        (scheme === "http" && port === 80);
      const portPart = typeof port === "number" && !defaultPort ? `:${port}` : "";
      url = `${scheme}://${host}${portPart}${stripQuery(path)}`;
    } else {
      url = stripQuery(path);
    }
    this.#scheme = scheme;
    this.#host = host;
    this.#port = port;
    this.#path = path;
    this.#text = quote(cutString(url, MAX_HTTP_STRING));
    return this.#text;
  }
}

const lastMethod = new LastQuoted();
const lastUrl = new LastUrl();
const lastAgent = new LastQuoted();
const lastClient = new LastQuoted();
const lastVersion = new LastQuoted();
const lastClientMethod = new LastQuoted();

/**
 * A value's JSON text, as JSON.stringify writes it: integers and booleans without the call.
 * Trace and span ids are written as they are: lowercase hex (generated, or validated where
 * they come from a header), which JSON needs no escape for.
 */
function jsonOf(value: unknown): string {
  switch (typeof value) {
    case "number":
      return Number.isSafeInteger(value) ? `${value}` : quote(value);
    case "boolean":
      return value ? "true" : "false";
    default:
      return quote(value);
  }
}

/** The annotations of one document under construction (keys in first-seen order). */
interface Annotations {
  keys: string[];
  /** The keys' JSON text. */
  keysJson: string[];
  values: string[];
}

/** What one document's writing shares: the annotation allowance and the counters. */
interface Writer {
  /** Annotations still allowed in this document (X-Ray keeps 50). */
  left: number;
  counters: DocumentCounters;
}

/** The counters of the document being written (one at a time), kept for every document. */
const scratch: DocumentCounters = emptyDocumentCounters();

function resetScratch(): DocumentCounters {
  scratch.annotations_renamed = 0;
  scratch.annotations_dropped = 0;
  scratch.documents_trimmed = 0;
  scratch.documents_split = 0;
  scratch.metadata_trimmed = 0;
  scratch.oversized_dropped = 0;
  return scratch;
}

/** The JSON text of the segment for the SERVER span and its finished subtree. */
export function segmentJson(info: SegmentInfo, node: SpanNode, counters: DocumentCounters): string {
  const writer: Writer = { left: MAX_ANNOTATIONS, counters };
  const { span } = node;
  let annotations: Annotations | undefined;
  if (info.otelTraceId !== undefined) {
    annotations = {
      keys: ["otel_trace_id"],
      keysJson: ['"otel_trace_id"'],
      values: [`"${info.otelTraceId}"`],
    };
    writer.left--;
  }
  let json = "";
  const meta = baseFields(quotedName(info.name), span, annotations, writer);
  json += meta.head;
  json += `,"trace_id":"${info.traceId}"`;
  if (info.parentId !== undefined) json += `,"parent_id":"${info.parentId}"`;
  json += serverHttp(span.attributes);
  const version = span.resource?.attributes?.["service.version"];
  if (typeof version === "string") {
    json += `,"service":{"version":${lastVersion.quote(version)}}`;
  }
  return "{" + json + meta.metadata + children(node, writer) + "}";
}

/** The JSON text of an independent subsegment: a span that ended after its segment was sent. */
export function subsegmentJson(
  info: SegmentInfo,
  node: SpanNode,
  counters: DocumentCounters,
): string {
  const writer: Writer = { left: MAX_ANNOTATIONS, counters };
  const parentId = node.span.parentSpanContext?.spanId ?? "";
  return `{"type":"subsegment","trace_id":"${info.traceId}","parent_id":"${parentId}",` +
    subsegmentBody(node, writer) + "}";
}

/**
 * The datagrams for a queued segment or late subsegment: the JSON text when it fits one
 * datagram (the usual case), else the object form trimmed and split by document.ts.
 */
export function encodeSpanTree(
  kind: "segment" | "subsegment",
  info: SegmentInfo,
  node: SpanNode,
  counters: DocumentCounters,
): Uint8Array[] {
  // Counted only if this text is what is sent: the fallback counts for itself.
  const scratch = resetScratch();
  const json = kind === "segment"
    ? segmentJson(info, node, scratch)
    : subsegmentJson(info, node, scratch);
  const datagram = frameIfFits(json);
  if (datagram !== undefined) {
    counters.annotations_renamed += scratch.annotations_renamed;
    counters.annotations_dropped += scratch.annotations_dropped;
    counters.documents_trimmed += scratch.documents_trimmed;
    counters.documents_split += scratch.documents_split;
    counters.metadata_trimmed += scratch.metadata_trimmed;
    counters.oversized_dropped += scratch.oversized_dropped;
    return [datagram];
  }
  const doc = kind === "segment"
    ? buildSegment(info, node, counters)
    : buildIndependentSubsegment(info, node, counters);
  return encodeDocument(doc, counters);
}

/** A subsegment's fields without the braces. */
function subsegmentBody(node: SpanNode, writer: Writer): string {
  const { span } = node;
  const attributes = span.attributes;
  const explicit = attributes["aws.xray.name"];
  const client = span.kind === SpanKind.CLIENT;
  // A call to another service is named after the host called, so the service map shows it.
  const remoteHost = client ? stringAttr(attributes, "server.address") : undefined;
  const name = typeof explicit === "string" && explicit.length > 0
    ? explicit
    : remoteHost ?? span.name;
  const meta = baseFields(quotedName(name), span, undefined, writer);
  let json = meta.head;
  if (client) {
    const http = clientHttp(attributes);
    const sql = clientSql(attributes);
    if (http !== "" || sql !== "") json += `,"namespace":"remote"` + http + sql;
  }
  return json + meta.metadata + children(node, writer);
}

/** `,"subsegments":[...]` for the finished children, earliest start first; "" for none. */
function children(node: SpanNode, writer: Writer): string {
  const list = node.children;
  if (list.length === 0) return "";
  const sorted = list.length === 1
    ? list
    : [...list].sort((a, b) => hrSeconds(a.span.startTime) - hrSeconds(b.span.startTime));
  let json = `,"subsegments":[`;
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0) json += ",";
    json += "{" + subsegmentBody(sorted[i]!, writer) + "}";
  }
  return json + "]";
}

/**
 * The fields every (sub)segment has, in document.ts's order: name, id, times, annotations,
 * cause, error/throttle/fault (`head`); and the metadata block, which goes after the kind's
 * own fields (`metadata`, "" when there is none).
 */
function baseFields(
  nameJson: string,
  span: ReadableSpan,
  annotations: Annotations | undefined,
  writer: Writer,
): { head: string; metadata: string } {
  let head = `"name":${nameJson},"id":"${span.spanContext().spanId}"` +
    `,"start_time":${hrSeconds(span.startTime)},"end_time":${hrSeconds(span.endTime)}`;
  const attributes = span.attributes;
  let app = "";
  let appByObject: Record<string, unknown> | undefined;
  for (const key in attributes) {
    if (!key.startsWith(APP_PREFIX)) continue;
    const value = attributes[key];
    if (value === undefined) continue;
    const mapped = appKey(key);
    // Quoted once for the metadata and, when it is not cut, the annotation.
    const valueJson = jsonOf(value);
    if (appByObject === undefined && !mapped.objectOrdered) {
      app += (app === "" ? "" : ",") + mapped.restJson + ":" + valueJson;
    } else {
      // An index-like key (JSON.stringify puts it first) or __proto__: the object form decides.
      appByObject ??= JSON.parse(`{${app}}`) as Record<string, unknown>;
      appByObject[mapped.rest] = value;
    }
    // Made for the first app.* attribute: most spans have none.
    annotations ??= { keys: [], keysJson: [], values: [] };
    addAnnotation(annotations, mapped, value, valueJson, writer);
  }
  if (annotations !== undefined && annotations.keys.length > 0) {
    head += `,"annotations":{`;
    for (let i = 0; i < annotations.keys.length; i++) {
      head += (i > 0 ? "," : "") + annotations.keysJson[i] + ":" + annotations.values[i];
    }
    head += "}";
  }
  let metadata = "";
  if (appByObject !== undefined) metadata = `"app":${quote(appByObject)}`;
  else if (app !== "") metadata = `"app":{${app}}`;
  let exceptions = "";
  let failed = span.status.code === SpanStatusCode.ERROR;
  if (span.events.length > 0) {
    const events: unknown[] = [];
    for (const event of span.events) {
      if (event.name === "exception") {
        exceptions += (exceptions === "" ? "" : ",") + quote(toException(event.attributes ?? {}));
        failed = true;
      } else {
        events.push({ name: event.name, time: hrSeconds(event.time), ...event.attributes });
      }
    }
    if (events.length > 0) {
      metadata += (metadata === "" ? "" : ",") + `"otel":${quote({ events })}`;
    }
  }
  if (exceptions !== "") head += `,"cause":{"exceptions":[${exceptions}]}`;
  const status = attributes["http.response.status_code"];
  const code = typeof status === "number" ? status : undefined;
  const error = code !== undefined && code >= 400 && code < 500;
  if (error) head += code === 429 ? `,"error":true,"throttle":true` : `,"error":true`;
  if ((code !== undefined && code >= 500) || (failed && !error)) head += `,"fault":true`;
  return { head, metadata: metadata === "" ? "" : `,"metadata":{${metadata}}` };
}

/** As document.ts's addAnnotation (annotationKey's checks), writing the value's JSON text. */
function addAnnotation(
  annotations: Annotations,
  mapped: AppKey,
  value: AttributeValue,
  valueJson: string,
  writer: Writer,
): void {
  const { counters } = writer;
  if (!isAnnotatable(value)) {
    counters.annotations_dropped++;
    return;
  }
  if (mapped.renamed) counters.annotations_renamed++;
  const key = mapped.annotation;
  const at = annotations.keys.indexOf(key);
  if (at === -1 && writer.left <= 0) {
    counters.annotations_dropped++;
    return;
  }
  const text = typeof value === "string" && value.length > MAX_ANNOTATION_STRING
    ? quote(cutString(value, MAX_ANNOTATION_STRING))
    : valueJson;
  if (at !== -1) {
    annotations.values[at] = text;
    return;
  }
  writer.left--;
  annotations.keys.push(key);
  annotations.keysJson.push(mapped.annotationJson);
  annotations.values.push(text);
}

/** `,"http":{...}` for a SERVER span; "" without a method. */
function serverHttp(attributes: Attributes): string {
  const method = requestMethod(attributes);
  if (method === undefined) return "";
  let request = `"method":${lastMethod.quote(cutString(method, MAX_HTTP_STRING))}`;
  request += `,"url":${
    lastUrl.json(
      stringAttr(attributes, "url.scheme") ?? "http",
      stringAttr(attributes, "server.address"),
      attributes["server.port"],
      stringAttr(attributes, "url.path") ?? "/",
    )
  }`;
  const agent = stringAttr(attributes, "user_agent.original");
  if (agent !== undefined) {
    request += `,"user_agent":${lastAgent.quote(cutString(agent, MAX_HTTP_STRING))}`;
  }
  const client = stringAttr(attributes, "client.address");
  if (client !== undefined) {
    request += `,"client_ip":${lastClient.quote(cutString(client, MAX_HTTP_STRING))}`;
  }
  if (attributes["aws.xray.x_forwarded_for"] === true) request += `,"x_forwarded_for":true`;
  return `,"http":{"request":{${request}},"response":{${response(attributes)}}}`;
}

/** `,"http":{...}` for a CLIENT span; "" without a method. */
function clientHttp(attributes: Attributes): string {
  const method = requestMethod(attributes);
  if (method === undefined) return "";
  let request = `"method":${lastClientMethod.quote(cutString(method, MAX_HTTP_STRING))}`;
  const url = stringAttr(attributes, "url.full");
  if (url !== undefined) request += `,"url":${quote(cutString(stripQuery(url), MAX_HTTP_STRING))}`;
  return `,"http":{"request":{${request}},"response":{${response(attributes)}}}`;
}

/** `,"sql":{...}` for a database CLIENT span (document.ts's clientSql); "" otherwise. */
function clientSql(attributes: Attributes): string {
  const system = stringAttr(attributes, "db.system.name");
  if (system === undefined) return "";
  let sql = `"database_type":${quote(DATABASE_TYPES[system] ?? system)}`;
  const url = stringAttr(attributes, "aws.xray.sql.url");
  if (url !== undefined) sql += `,"url":${quote(url)}`;
  const version = stringAttr(attributes, "aws.xray.sql.database_version");
  if (version !== undefined) sql += `,"database_version":${quote(version)}`;
  const user = stringAttr(attributes, "aws.xray.sql.user");
  if (user !== undefined) sql += `,"user":${quote(user)}`;
  const query = stringAttr(attributes, "db.query.text");
  if (query !== undefined) {
    sql += `,"sanitized_query":${quote(cutString(query, MAX_SANITIZED_QUERY))}`;
  }
  return `,"sql":{${sql}}`;
}

/** The `http.response` fields. */
function response(attributes: Attributes): string {
  let json = "";
  const status = attributes["http.response.status_code"];
  if (typeof status === "number") json += `"status":${jsonOf(status)}`;
  const size = attributes["http.response.body.size"];
  if (typeof size === "number") json += `${json === "" ? "" : ","}"content_length":${jsonOf(size)}`;
  return json;
}
