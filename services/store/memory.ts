/**
 * The in-memory store, seeded with the original's sample data: for the benchmark's telemetry
 * rows and quick experiments (`DATABASE_URL=memory:`). Activities are kept sorted by
 * (creation time, uuid), so a page is a walk from the newest end that stops once it is full,
 * however many posts there are; expired entries are pruned by `prune` (main.ts runs it).
 */
import type { Activity, Message, MessageGroup, Reply } from "../types.ts";
import { type ActivityData, seedRows, type StoreRows } from "./rows.ts";
import type { Cursor, Page, PageRequest, Store } from "./types.ts";
import { displayName, iso, newerThan, toPage } from "./views.ts";

interface ActivityRow {
  uuid: string;
  handle: string;
  message: string;
  likesCount: number;
  repostsCount: number;
  createdAt: number;
  expiresAt: number;
  replies: ReplyRow[];
  /** The read view, built once and rebuilt after a change (feeds are read far more than written). */
  view?: Activity;
}

interface ReplyRow {
  uuid: string;
  handle: string;
  message: string;
  likesCount: number;
  createdAt: number;
}

interface MessageRow {
  uuid: string;
  handle: string;
  message: string;
  createdAt: number;
}

interface GroupRow {
  uuid: string;
  members: [string, string];
  updatedAt: number;
  messages: MessageRow[];
}

function replyView(row: ReplyRow, activityUuid: string): Reply {
  return {
    uuid: row.uuid,
    reply_to_activity_uuid: activityUuid,
    display_name: displayName(row.handle),
    handle: row.handle,
    message: row.message,
    likes_count: row.likesCount,
    replies_count: 0,
    reposts_count: 0,
    created_at: iso(row.createdAt),
  };
}

function activityView(row: ActivityRow): Activity {
  return row.view ??= Object.freeze(buildView(row)) as Activity;
}

function buildView(row: ActivityRow): Activity {
  return {
    uuid: row.uuid,
    display_name: displayName(row.handle),
    handle: row.handle,
    message: row.message,
    likes_count: row.likesCount,
    replies_count: row.replies.length,
    reposts_count: row.repostsCount,
    created_at: iso(row.createdAt),
    expires_at: iso(row.expiresAt),
    replies: Object.freeze(row.replies.map((reply) => replyView(reply, row.uuid))) as Reply[],
  };
}

/** A row of its own (the store mutates replies and views), copied from plain data. */
function activityRow(data: ActivityData): ActivityRow {
  return {
    uuid: data.uuid,
    handle: data.handle,
    message: data.message,
    likesCount: data.likesCount,
    repostsCount: data.repostsCount,
    createdAt: data.createdAt,
    expiresAt: data.expiresAt,
    replies: data.replies.map((reply) => ({ ...reply })),
  };
}

/** PostgreSQL's uuid type reads any case; the rows hold them in lower case, as it prints them. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function groupKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

/** Activities sorted oldest first by (createdAt, uuid); pages walk it from the end. */
class Timeline {
  readonly rows: ActivityRow[] = [];

  /** Index of the first row not older than `at` (binary search). */
  private lowerBound(at: Cursor): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (newerThan(at, this.rows[mid]!)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(row: ActivityRow): void {
    // Posts arrive in clock order, so this is almost always an append.
    const last = this.rows[this.rows.length - 1];
    if (last === undefined || newerThan(row, last)) this.rows.push(row);
    else this.rows.splice(this.lowerBound(row), 0, row);
  }

  page(now: number, page: PageRequest, keep: (row: ActivityRow) => boolean): Page<Activity> {
    const found: ActivityRow[] = [];
    const start = page.after ? this.lowerBound(page.after) - 1 : this.rows.length - 1;
    for (let i = start; i >= 0 && found.length <= page.limit; i--) {
      const row = this.rows[i]!;
      if (row.expiresAt > now && keep(row)) found.push(row);
    }
    return toPage(found, page, (row) => row, activityView);
  }

  prune(now: number, onRemoved: (row: ActivityRow) => void): number {
    let kept = 0;
    for (const row of this.rows) {
      if (row.expiresAt > now) this.rows[kept++] = row;
      else onRemoved(row);
    }
    const removed = this.rows.length - kept;
    this.rows.length = kept;
    return removed;
  }
}

/** Options for the in-memory store. */
export interface MemoryStoreOptions {
  /** The instant the sample data is relative to (epoch ms). */
  seededAt: number;
  /** The signed-in user, owner of the seeded notifications and conversations. */
  currentUser: string;
}

/** Creates the in-memory store, seeded with the original's sample data (rows.ts). */
export function createMemoryStore(options: MemoryStoreOptions): Store {
  return memoryStoreFrom(seedRows(options.seededAt, options.currentUser), options.currentUser);
}

/**
 * Creates an in-memory store holding `data` (the seed's rows, or a PGlite snapshot's): the
 * current user's notifications, every activity and conversation. `data` is copied, not kept.
 */
export function memoryStoreFrom(data: StoreRows, currentUser: string): Store {
  const rows = new Map<string, ActivityRow>();
  const timeline = new Timeline();
  for (const activity of data.activities) {
    const row = activityRow(activity);
    rows.set(row.uuid, row);
    timeline.insert(row);
  }
  const notificationRows = new Timeline();
  for (const notification of data.notifications) {
    if (notification.recipient === currentUser) notificationRows.insert(activityRow(notification));
  }
  const groups = new Map<string, GroupRow>();
  for (const group of data.groups) {
    groups.set(groupKey(...group.members), {
      uuid: group.uuid,
      members: [...group.members],
      updatedAt: group.updatedAt,
      messages: group.messages.map((m) => ({ ...m })),
    });
  }

  /** The activity `uuid` names, in whatever case it is written (as PostgreSQL finds it). */
  function find(uuid: string): ActivityRow | undefined {
    return rows.get(uuid) ?? (UUID_RE.test(uuid) ? rows.get(uuid.toLowerCase()) : undefined);
  }

  function messageView(group: GroupRow, m: MessageRow): Message {
    return {
      uuid: m.uuid,
      message_group_uuid: group.uuid,
      display_name: displayName(m.handle),
      handle: m.handle,
      message: m.message,
      created_at: iso(m.createdAt),
    };
  }

  return {
    kind: "memory",
    activities(now, page) {
      return Promise.resolve(timeline.page(now, page, () => true));
    },
    activitiesBy(handle, now, page) {
      return Promise.resolve(timeline.page(now, page, (row) => row.handle === handle));
    },
    search(term, now, page) {
      const needle = term.toLowerCase();
      return Promise.resolve(
        timeline.page(now, page, (row) => row.message.toLowerCase().includes(needle)),
      );
    },
    activity(uuid, now) {
      const row = find(uuid);
      return Promise.resolve(row && row.expiresAt > now ? activityView(row) : undefined);
    },
    notifications(now, page) {
      return Promise.resolve(notificationRows.page(now, page, () => true));
    },
    addActivity(activity) {
      const row: ActivityRow = {
        uuid: activity.uuid,
        handle: activity.handle,
        message: activity.message,
        likesCount: 0,
        repostsCount: 0,
        createdAt: activity.createdAt,
        expiresAt: activity.expiresAt,
        replies: [],
      };
      rows.set(row.uuid, row);
      timeline.insert(row);
      return Promise.resolve(activityView(row));
    },
    addReply(reply, now) {
      const row = find(reply.activityUuid);
      if (!row || row.expiresAt <= now) return Promise.resolve(undefined);
      const replyRow: ReplyRow = {
        uuid: reply.uuid,
        handle: reply.handle,
        message: reply.message,
        likesCount: 0,
        createdAt: reply.createdAt,
      };
      row.replies.push(replyRow);
      row.view = undefined;
      return Promise.resolve(replyView(replyRow, row.uuid));
    },
    messageGroups(handle) {
      const result: MessageGroup[] = [];
      const mine = [...groups.values()].filter((g) => g.members.includes(handle));
      // Most recent first; ties by the larger uuid, as the SQL store orders them.
      const order = (a: GroupRow, b: GroupRow) =>
        b.updatedAt - a.updatedAt || (a.uuid < b.uuid ? 1 : a.uuid > b.uuid ? -1 : 0);
      for (const group of mine.sort(order)) {
        const other = group.members[0] === handle ? group.members[1] : group.members[0];
        const last = group.messages[group.messages.length - 1];
        result.push({
          uuid: group.uuid,
          display_name: displayName(other),
          handle: other,
          message: last?.message ?? "",
          created_at: iso(last?.createdAt ?? group.updatedAt),
        });
      }
      return Promise.resolve(result);
    },
    messages(handle, other) {
      const group = groups.get(groupKey(handle, other));
      return Promise.resolve(group ? group.messages.map((m) => messageView(group, m)) : []);
    },
    addMessage(message) {
      const key = groupKey(message.senderHandle, message.receiverHandle);
      let group = groups.get(key);
      if (!group) {
        group = {
          uuid: crypto.randomUUID(),
          members: [message.senderHandle, message.receiverHandle],
          updatedAt: message.createdAt,
          messages: [],
        };
        groups.set(key, group);
      }
      const row = {
        uuid: message.uuid,
        handle: message.senderHandle,
        message: message.message,
        createdAt: message.createdAt,
      };
      group.messages.push(row);
      group.updatedAt = Math.max(group.updatedAt, message.createdAt);
      return Promise.resolve(messageView(group, row));
    },
    prune(now) {
      const removed = timeline.prune(now, (row) => rows.delete(row.uuid));
      notificationRows.prune(now, () => {});
      return Promise.resolve(removed);
    },
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
