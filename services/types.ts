/**
 * What services share: the data model, the result shape and the capabilities they receive.
 * Services know nothing of Hono or of the telemetry sinks; they get `traced` and `log` injected.
 */
import type { Attributes, Span, SpanKind } from "@opentelemetry/api";
import {
  type Cursor,
  type ReadSource,
  type ReadVia,
  type Store,
  STORE_SOURCE_ATTRIBUTE,
} from "./store/types.ts";

/** A reply under an activity. */
export interface Reply {
  uuid: string;
  reply_to_activity_uuid: string;
  display_name: string;
  handle: string;
  message: string;
  likes_count: number;
  replies_count: number;
  reposts_count: number;
  created_at: string;
}

/** A post (a "crud") in the feed. */
export interface Activity {
  uuid: string;
  display_name: string;
  handle: string;
  message: string;
  likes_count: number;
  replies_count: number;
  reposts_count: number;
  created_at: string;
  expires_at: string;
  replies: Reply[];
}

/** A direct message. */
export interface Message {
  uuid: string;
  message_group_uuid: string;
  display_name: string;
  handle: string;
  message: string;
  created_at: string;
}

/** A conversation with one other user, as listed in the inbox: its last message and time. */
export interface MessageGroup {
  uuid: string;
  display_name: string;
  handle: string;
  /** The last message (the frontend's inbox preview). */
  message: string;
  /** When the last message was sent. */
  created_at: string;
}

/** The original's `{errors, data}` model made explicit: a value, or codes with a kind. */
export type ServiceResult<T> =
  | { ok: true; data: T; next?: Cursor; source?: ReadSource }
  | { ok: false; kind: "invalid" | "not_found"; errors: string[]; source?: ReadSource };

/** Epoch milliseconds; injected so tests control expiry. */
export type Clock = () => number;

/** Options of a traced call: the X-Ray name, and for remote calls the kind and attributes. */
export interface TracedOptions {
  xrayName?: string;
  /** SpanKind.CLIENT for a call to another service (a database query). */
  kind?: SpanKind;
  /** Attributes known when the span starts (samplers see them). */
  attributes?: Attributes;
}

/** Runs `fn` inside a child span named `name`; the span is also an X-Ray subsegment. */
export type Traced = <T>(
  name: string,
  fn: (span: Span) => T | Promise<T>,
  options?: TracedOptions,
) => Promise<T>;

/** The structured logger's surface as services see it. */
export interface ServiceLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Everything a service may use. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  traced: Traced;
  log: ServiceLogger;
}

/** Shorthand for a successful result; `next` is where the following page starts. */
export function ok<T>(data: T, next?: Cursor): ServiceResult<T> {
  return next ? { ok: true, data, next } : { ok: true, data };
}

/**
 * The result, marked with where its read was answered from when that was not the database
 * (ReadVia): `cruddur.store.source` on `span` (the span a database query would be a child
 * of), and `source` for the access log (routes/deps.ts).
 */
export function sourced<T>(span: Span, via: ReadVia, result: ServiceResult<T>): ServiceResult<T> {
  if (via.source === undefined) return result;
  span.setAttribute(STORE_SOURCE_ATTRIBUTE, via.source);
  // X-Ray carries only `app.*` attributes (its annotations and metadata): say it there too.
  span.setAttribute("app.store_source", via.source);
  return { ...result, source: via.source };
}

/** Shorthand for a validation failure, the original's 422 list of codes. */
export function invalid<T>(...errors: string[]): ServiceResult<T> {
  return { ok: false, kind: "invalid", errors };
}

/** Shorthand for an unknown resource. */
export function notFound<T>(code: string): ServiceResult<T> {
  return { ok: false, kind: "not_found", errors: [code] };
}
