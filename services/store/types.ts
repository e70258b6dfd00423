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

/**
 * Where a read was answered from when it was not the store's database: the rows of the last
 * clean stop (`snapshot`) or the seed of a new DATA_DIR (`seed`), held in memory while PGlite
 * boots (warm_start.ts). Such a read makes no database CLIENT span.
 */
export type ReadSource = "snapshot" | "seed";

/**
 * Filled in by a store that answered a read from something other than its database; the
 * service puts it on its span (`cruddur.store.source`) and the route in the access log.
 */
export interface ReadVia {
  source?: ReadSource;
}

/** The span attribute naming a read's ReadSource (absent: the store's database answered). */
export const STORE_SOURCE_ATTRIBUTE = "cruddur.store.source";

/** How a store started, when it served reads before its database was ready (health check). */
export interface StoreStartup {
  /** What the first reads were answered from. */
  source: ReadSource;
  /** Reads answered from it so far. */
  reads: number;
  /** True until the database answers everything (it is ready, or a write came). */
  serving: boolean;
  /** When the database was ready (ISO 8601), once it is. */
  databaseReadyAt?: string;
}

/** Which implementation a store is, for the banner and the health check. */
export type StoreKind = "memory" | "pglite" | "postgres";

/**
 * Data access for activities, replies and messages. `now` is epoch ms. A read's `via` is
 * filled in when it was not answered by the store's own database (see ReadVia).
 */
export interface Store {
  readonly kind: StoreKind;
  /** Unexpired activities, newest first. */
  activities(now: number, page: PageRequest, via?: ReadVia): Promise<Page<Activity>>;
  /** Unexpired activities by one author, newest first. */
  activitiesBy(
    handle: string,
    now: number,
    page: PageRequest,
    via?: ReadVia,
  ): Promise<Page<Activity>>;
  /** Unexpired activities whose message contains `term` (case-insensitive, literally). */
  search(term: string, now: number, page: PageRequest, via?: ReadVia): Promise<Page<Activity>>;
  /** One unexpired activity, or undefined. */
  activity(uuid: string, now: number, via?: ReadVia): Promise<Activity | undefined>;
  /** The signed-in user's unexpired notifications, newest first. */
  notifications(now: number, page: PageRequest, via?: ReadVia): Promise<Page<Activity>>;
  addActivity(activity: NewActivity): Promise<Activity>;
  /** Adds a reply; undefined when the activity is unknown or expired. */
  addReply(reply: NewReply, now: number): Promise<Reply | undefined>;
  /** Conversations of `handle`, most recent first, each with its last message. */
  messageGroups(handle: string, via?: ReadVia): Promise<MessageGroup[]>;
  /** Messages between `handle` and `other`, oldest first. */
  messages(handle: string, other: string, via?: ReadVia): Promise<Message[]>;
  addMessage(message: NewMessage): Promise<Message>;
  /** Deletes activities (and their replies) expired at `now`; returns how many. */
  prune(now: number): Promise<number>;
  /** True when the store can answer queries now (the health check's readiness). */
  ready(): Promise<boolean>;
  /** Releases connections and files. */
  close(): Promise<void>;
  /** Set when the store answers reads before its database is ready (warm_start.ts). */
  startup?(): StoreStartup;
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
