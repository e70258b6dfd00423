/**
 * The store contract every implementation keeps (memory, PGlite, a PostgreSQL server): what
 * the services may ask of their data. Expiry is evaluated against the caller's `now` (epoch ms),
 * so an injected clock controls it; feeds are pages, newest first.
 */
import type { Activity, Message, MessageGroup, Reply } from "../types.ts";

/** New activity data; the store assigns nothing but keeps what it is given. */
export interface NewActivity {
  uuid: string;
  handle: string;
  message: string;
  createdAt: number;
  expiresAt: number;
}

/** New reply data. */
export interface NewReply {
  uuid: string;
  activityUuid: string;
  handle: string;
  message: string;
  createdAt: number;
}

/** New direct message data. */
export interface NewMessage {
  uuid: string;
  senderHandle: string;
  receiverHandle: string;
  message: string;
  createdAt: number;
}

/** Where a page starts: after this item in newest-first order (creation time, then uuid). */
export interface Cursor {
  createdAt: number;
  uuid: string;
}

/** Which page of a feed to read. */
export interface PageRequest {
  /** Items per page, at least 1. */
  limit: number;
  /** The last item of the previous page; absent for the first page. */
  after?: Cursor;
}

/** One page of a feed; `next` is set when more items follow. */
export interface Page<T> {
  items: T[];
  next?: Cursor;
}

/** Which implementation a store is, for the banner and the health check. */
export type StoreKind = "memory" | "pglite" | "postgres";

/** Data access for activities, replies and messages. `now` is epoch ms. */
export interface Store {
  readonly kind: StoreKind;
  /** Unexpired activities, newest first. */
  activities(now: number, page: PageRequest): Promise<Page<Activity>>;
  /** Unexpired activities by one author, newest first. */
  activitiesBy(handle: string, now: number, page: PageRequest): Promise<Page<Activity>>;
  /** Unexpired activities whose message contains `term` (case-insensitive, literally). */
  search(term: string, now: number, page: PageRequest): Promise<Page<Activity>>;
  /** One unexpired activity, or undefined. */
  activity(uuid: string, now: number): Promise<Activity | undefined>;
  /** The signed-in user's unexpired notifications, newest first. */
  notifications(now: number, page: PageRequest): Promise<Page<Activity>>;
  addActivity(activity: NewActivity): Promise<Activity>;
  /** Adds a reply; undefined when the activity is unknown or expired. */
  addReply(reply: NewReply, now: number): Promise<Reply | undefined>;
  /** Conversations of `handle`, most recent first, each with its last message. */
  messageGroups(handle: string): Promise<MessageGroup[]>;
  /** Messages between `handle` and `other`, oldest first. */
  messages(handle: string, other: string): Promise<Message[]>;
  addMessage(message: NewMessage): Promise<Message>;
  /** Deletes activities (and their replies) expired at `now`; returns how many. */
  prune(now: number): Promise<number>;
  /** True when the store can answer queries now (the health check's readiness). */
  ready(): Promise<boolean>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

/**
 * Thrown when the database cannot be reached or stopped answering (connection refused, lost,
 * timed out): the request gets 503 `database_unavailable` with Retry-After, not a 500.
 */
export class DatabaseUnavailableError extends Error {
  override name = "DatabaseUnavailableError";
}

/** Which store to open (config.ts reads it from DATABASE_URL and DATA_DIR). */
export type DatabaseConfig =
  | { kind: "memory" }
  | { kind: "pglite"; dataDir: string }
  | {
    kind: "postgres";
    url: string;
    poolMax: number;
    connectTimeoutMs: number;
    statementTimeoutMs: number;
  };
