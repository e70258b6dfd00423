/**
 * The store on PostgreSQL, one implementation for PGlite and for a server: the same schema
 * (migrations/), the same parameterised SQL. Each query is a CLIENT span per the database
 * semantic conventions, made through the injected `traced` (so it is also an X-Ray
 * subsegment with the `sql` block); connection failures become DatabaseUnavailableError.
 */
import type { Activity, Message, MessageGroup, Reply, Traced } from "../types.ts";
import type { Query, SqlClient } from "./sql_client.ts";
import { databaseAttributes, tracedQuery } from "./traced_query.ts";
import type { Cursor, Page, PageRequest, Store, StoreKind } from "./types.ts";
import { displayName, iso, ms, toPage } from "./views.ts";

/** UUIDs as PostgreSQL's uuid type accepts them; anything else cannot match a row. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An activity's columns with its replies counted and embedded, one lateral subquery per row. */
const ACTIVITY_COLUMNS = `a.uuid, a.handle, a.message, a.likes_count, a.reposts_count,
  a.created_at, a.expires_at, r.replies_count, coalesce(r.replies, '[]'::json) AS replies`;

const REPLIES_JOIN = `LEFT JOIN LATERAL (
  SELECT count(*)::int AS replies_count, json_agg(json_build_object(
      'uuid', x.uuid, 'handle', x.handle, 'message', x.message,
      'likes_count', x.likes_count, 'created_at', x.created_at) ORDER BY x.created_at, x.seq)
    AS replies
  FROM replies x WHERE x.activity_uuid = a.uuid
) r ON true`;

function select(text: string, collection = "activities"): Query {
  return { text, operation: "SELECT", collection };
}

/** A feed query: unexpired (`$1`), an optional filter (`$2`), an optional cursor, a limit. */
function feed(filter: "" | "handle" | "search", cursor: boolean): Query {
  const where = ["a.expires_at > $1::timestamptz"];
  let n = 1;
  if (filter === "handle") where.push(`a.handle = $${++n}`);
  if (filter === "search") where.push(`strpos(lower(a.message), lower($${++n})) > 0`);
  if (cursor) where.push(`(a.created_at, a.uuid) < ($${++n}::timestamptz, $${++n}::uuid)`);
  return select(
    `SELECT ${ACTIVITY_COLUMNS} FROM activities a ${REPLIES_JOIN}
WHERE ${where.join(" AND ")}
ORDER BY a.created_at DESC, a.uuid DESC LIMIT $${++n}`,
  );
}

const FEEDS = {
  all: [feed("", false), feed("", true)],
  handle: [feed("handle", false), feed("handle", true)],
  search: [feed("search", false), feed("search", true)],
} as const;

const ONE_ACTIVITY = select(
  `SELECT ${ACTIVITY_COLUMNS} FROM activities a ${REPLIES_JOIN}
WHERE a.uuid = $1::uuid AND a.expires_at > $2::timestamptz`,
);

function notificationQuery(cursor: boolean): Query {
  return select(
    `SELECT a.uuid, a.handle, a.message, a.likes_count, a.reposts_count, a.created_at,
  a.expires_at, jsonb_array_length(a.replies) AS replies_count, a.replies
FROM notifications a WHERE a.recipient_handle = $1 AND a.expires_at > $2::timestamptz${
      cursor ? " AND (a.created_at, a.uuid) < ($3::timestamptz, $4::uuid)" : ""
    }
ORDER BY a.created_at DESC, a.uuid DESC LIMIT $${cursor ? 5 : 3}`,
    "notifications",
  );
}
const NOTIFICATIONS = [notificationQuery(false), notificationQuery(true)] as const;

const INSERT_ACTIVITY: Query = {
  operation: "INSERT",
  collection: "activities",
  text: `INSERT INTO activities (uuid, handle, message, created_at, expires_at)
VALUES ($1::uuid, $2, $3, $4::timestamptz, $5::timestamptz)`,
};

const INSERT_REPLY: Query = {
  operation: "INSERT",
  collection: "replies",
  text: `INSERT INTO replies (uuid, activity_uuid, handle, message, created_at)
SELECT $1::uuid, a.uuid, $3, $4, $5::timestamptz FROM activities a
WHERE a.uuid = $2::uuid AND a.expires_at > $6::timestamptz
RETURNING uuid`,
};

const MESSAGE_GROUPS = select(
  `SELECT g.uuid, g.member_a, g.member_b, g.updated_at, m.message, m.created_at
FROM message_groups g
LEFT JOIN LATERAL (
  SELECT message, created_at FROM messages
  WHERE message_group_uuid = g.uuid ORDER BY created_at DESC, seq DESC LIMIT 1
) m ON true
WHERE g.member_a = $1 OR g.member_b = $1
ORDER BY g.updated_at DESC, g.uuid DESC`,
  "message_groups",
);

const MESSAGES = select(
  `SELECT m.uuid, m.message_group_uuid, m.handle, m.message, m.created_at
FROM messages m JOIN message_groups g ON g.uuid = m.message_group_uuid
WHERE g.member_a = $1 AND g.member_b = $2
ORDER BY m.created_at, m.seq`,
  "messages",
);

/** Creates or reuses the pair's group and adds the message, in one statement. */
const INSERT_MESSAGE: Query = {
  operation: "INSERT",
  collection: "messages",
  text: `WITH g AS (
  INSERT INTO message_groups (uuid, member_a, member_b, updated_at)
  VALUES ($1::uuid, $2, $3, $4::timestamptz)
  ON CONFLICT (member_a, member_b) DO UPDATE
    SET updated_at = greatest(message_groups.updated_at, EXCLUDED.updated_at)
  RETURNING uuid
)
INSERT INTO messages (uuid, message_group_uuid, handle, message, created_at)
SELECT $5::uuid, g.uuid, $6, $7, $4::timestamptz FROM g
RETURNING message_group_uuid`,
};

const PRUNE_ACTIVITIES: Query = {
  operation: "DELETE",
  collection: "activities",
  text: `WITH gone AS (DELETE FROM activities WHERE expires_at <= $1::timestamptz RETURNING 1)
SELECT count(*)::int AS n FROM gone`,
};

const PRUNE_NOTIFICATIONS: Query = {
  operation: "DELETE",
  collection: "notifications",
  text: "DELETE FROM notifications WHERE expires_at <= $1::timestamptz",
};

/** How long the readiness probe waits for `SELECT 1`. */
const READY_TIMEOUT_MS = 2000;

const PING = select(
  "SELECT 1 AS ok",
  "",
);

interface ActivityRecord {
  uuid: string;
  handle: string;
  message: string;
  likes_count: number;
  reposts_count: number;
  created_at: Date | string;
  expires_at: Date | string;
  replies_count: number;
  replies: ReplyRecord[] | string;
}

interface ReplyRecord {
  uuid: string;
  handle: string;
  message: string;
  likes_count: number;
  created_at: string;
}

function activityView(row: ActivityRecord): Activity {
  const replies = typeof row.replies === "string" ? JSON.parse(row.replies) : row.replies;
  return {
    uuid: row.uuid,
    display_name: displayName(row.handle),
    handle: row.handle,
    message: row.message,
    likes_count: row.likes_count,
    replies_count: row.replies_count,
    reposts_count: row.reposts_count,
    created_at: iso(ms(row.created_at)),
    expires_at: iso(ms(row.expires_at)),
    replies: (replies as ReplyRecord[]).map((reply) => replyView(reply, row.uuid)),
  };
}

function replyView(
  row: { uuid: string; handle: string; message: string; likes_count: number; created_at: string },
  activityUuid: string,
): Reply {
  return {
    uuid: row.uuid,
    reply_to_activity_uuid: activityUuid,
    display_name: displayName(row.handle),
    handle: row.handle,
    message: row.message,
    likes_count: row.likes_count,
    replies_count: 0,
    reposts_count: 0,
    created_at: iso(ms(row.created_at)),
  };
}

const cursorOf = (row: ActivityRecord): Cursor => ({
  createdAt: ms(row.created_at),
  uuid: row.uuid.toLowerCase(),
});

/** The group's member pair in the application's order (see the migration's comment). */
function pair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

/** Options of the SQL store. */
export interface PgStoreOptions {
  kind: Exclude<StoreKind, "memory">;
  client: SqlClient;
  /** The signed-in user, owner of the seeded notifications. */
  currentUser: string;
  /** Makes each query's CLIENT span; absent: queries are not traced. */
  traced?: Traced;
  /** `server_version`, for X-Ray's `sql.database_version`. */
  databaseVersion?: string;
}

/** Creates the store over a connected, migrated client. */
export function createPgStore(options: PgStoreOptions): Store {
  const { client, traced, currentUser } = options;
  const tracing = traced
    ? { traced, attributes: databaseAttributes(client.info, options.databaseVersion) }
    : undefined;

  function run<T>(query: Query, params: readonly unknown[]): Promise<T[]> {
    return tracedQuery(tracing, query, () => client.query<T>(query.text, params));
  }

  async function page(
    queries: readonly [Query, Query],
    head: unknown[],
    request: PageRequest,
  ): Promise<Page<Activity>> {
    const { after, limit } = request;
    const rows = after
      ? await run<ActivityRecord>(queries[1], [
        ...head,
        iso(after.createdAt),
        after.uuid,
        limit + 1,
      ])
      : await run<ActivityRecord>(queries[0], [...head, limit + 1]);
    return toPage(rows, request, cursorOf, activityView);
  }

  return {
    kind: options.kind,
    activities: (now, request) => page(FEEDS.all, [iso(now)], request),
    activitiesBy: (handle, now, request) => page(FEEDS.handle, [iso(now), handle], request),
    search: (term, now, request) => page(FEEDS.search, [iso(now), term], request),
    async activity(uuid, now) {
      if (!UUID_RE.test(uuid)) return undefined;
      const [row] = await run<ActivityRecord>(ONE_ACTIVITY, [uuid, iso(now)]);
      return row ? activityView(row) : undefined;
    },
    notifications: (now, request) => page(NOTIFICATIONS, [currentUser, iso(now)], request),
    async addActivity(activity) {
      await run(INSERT_ACTIVITY, [
        activity.uuid,
        activity.handle,
        activity.message,
        iso(activity.createdAt),
        iso(activity.expiresAt),
      ]);
      return {
        uuid: activity.uuid,
        display_name: displayName(activity.handle),
        handle: activity.handle,
        message: activity.message,
        likes_count: 0,
        replies_count: 0,
        reposts_count: 0,
        created_at: iso(activity.createdAt),
        expires_at: iso(activity.expiresAt),
        replies: [],
      };
    },
    async addReply(reply, now) {
      if (!UUID_RE.test(reply.activityUuid)) return undefined;
      const rows = await run(INSERT_REPLY, [
        reply.uuid,
        reply.activityUuid,
        reply.handle,
        reply.message,
        iso(reply.createdAt),
        iso(now),
      ]);
      if (rows.length === 0) return undefined;
      return replyView({
        uuid: reply.uuid,
        handle: reply.handle,
        message: reply.message,
        likes_count: 0,
        created_at: iso(reply.createdAt),
      }, reply.activityUuid.toLowerCase());
    },
    async messageGroups(handle) {
      const rows = await run<{
        uuid: string;
        member_a: string;
        member_b: string;
        updated_at: Date | string;
        message: string | null;
        created_at: Date | string | null;
      }>(MESSAGE_GROUPS, [handle]);
      return rows.map((row): MessageGroup => {
        const other = row.member_a === handle ? row.member_b : row.member_a;
        return {
          uuid: row.uuid,
          display_name: displayName(other),
          handle: other,
          message: row.message ?? "",
          created_at: iso(ms(row.created_at ?? row.updated_at)),
        };
      });
    },
    async messages(handle, other) {
      const rows = await run<{
        uuid: string;
        message_group_uuid: string;
        handle: string;
        message: string;
        created_at: Date | string;
      }>(MESSAGES, pair(handle, other));
      return rows.map((row): Message => ({
        uuid: row.uuid,
        message_group_uuid: row.message_group_uuid,
        display_name: displayName(row.handle),
        handle: row.handle,
        message: row.message,
        created_at: iso(ms(row.created_at)),
      }));
    },
    async addMessage(message) {
      const [a, b] = pair(message.senderHandle, message.receiverHandle);
      const [row] = await run<{ message_group_uuid: string }>(INSERT_MESSAGE, [
        crypto.randomUUID(),
        a,
        b,
        iso(message.createdAt),
        message.uuid,
        message.senderHandle,
        message.message,
      ]);
      return {
        uuid: message.uuid,
        message_group_uuid: row!.message_group_uuid,
        display_name: displayName(message.senderHandle),
        handle: message.senderHandle,
        message: message.message,
        created_at: iso(message.createdAt),
      };
    },
    async prune(now) {
      const [row] = await run<{ n: number }>(PRUNE_ACTIVITIES, [iso(now)]);
      await run(PRUNE_NOTIFICATIONS, [iso(now)]);
      return row?.n ?? 0;
    },
    async ready() {
      // Bounded on its own: a health check must answer even while the database hangs.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
      });
      const ping = client.query(PING.text, []).then(() => true, () => false);
      try {
        return await Promise.race([ping, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => client.close(),
  };
}
