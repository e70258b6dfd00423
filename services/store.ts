/**
 * The repository behind the services: an interface a database can implement later, and an
 * in-memory implementation seeded with the original's sample data. Expiry is evaluated at
 * read time against the caller's `now`, so an injected clock controls it.
 */
import type { Activity, Message, MessageGroup, Reply } from "./types.ts";
import {
  DISPLAY_NAMES,
  SEED_ACTIVITIES,
  SEED_MESSAGE_GROUPS,
  SEED_MESSAGES,
  SEED_NOTIFICATIONS,
  type SeedActivity,
} from "./seed.ts";

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

/** Data access for activities, replies and messages. `now` is epoch ms. */
export interface Store {
  /** Unexpired activities, newest first. */
  activities(now: number): Activity[];
  /** Unexpired activities by one author, newest first. */
  activitiesBy(handle: string, now: number): Activity[];
  /** Unexpired activities whose message contains `term` (case-insensitive). */
  search(term: string, now: number): Activity[];
  /** One unexpired activity, or undefined. */
  activity(uuid: string, now: number): Activity | undefined;
  /** The signed-in user's notifications. */
  notifications(now: number): Activity[];
  addActivity(activity: NewActivity): Activity;
  /** Adds a reply; undefined when the activity is unknown or expired. */
  addReply(reply: NewReply, now: number): Reply | undefined;
  /** Conversations of `handle`, most recent first. */
  messageGroups(handle: string): MessageGroup[];
  /** Messages between `handle` and `other`, oldest first. */
  messages(handle: string, other: string): Message[];
  addMessage(message: NewMessage): Message;
}

interface ActivityRow {
  uuid: string;
  handle: string;
  message: string;
  likes: number;
  reposts: number;
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
  likes: number;
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

function displayName(handle: string): string {
  return DISPLAY_NAMES[handle] ?? handle;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function replyView(row: ReplyRow, activityUuid: string): Reply {
  return {
    uuid: row.uuid,
    reply_to_activity_uuid: activityUuid,
    display_name: displayName(row.handle),
    handle: row.handle,
    message: row.message,
    likes_count: row.likes,
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
    likes_count: row.likes,
    replies_count: row.replies.length,
    reposts_count: row.reposts,
    created_at: iso(row.createdAt),
    expires_at: iso(row.expiresAt),
    replies: Object.freeze(row.replies.map((reply) => replyView(reply, row.uuid))) as Reply[],
  };
}

function seedRow(seed: SeedActivity, epoch: number): ActivityRow {
  return {
    uuid: seed.uuid,
    handle: seed.handle,
    message: seed.message,
    likes: seed.likes_count,
    reposts: seed.reposts_count,
    createdAt: epoch + seed.created_offset,
    expiresAt: epoch + seed.expires_offset,
    replies: seed.replies.map((reply) => ({
      uuid: reply.uuid,
      handle: reply.handle,
      message: reply.message,
      likes: reply.likes_count,
      createdAt: epoch + reply.created_offset,
    })),
  };
}

function groupKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

/** Options for the in-memory store. */
export interface MemoryStoreOptions {
  /** The instant the sample data is relative to (epoch ms). */
  seededAt: number;
  /** The signed-in user, owner of the seeded notifications and conversations. */
  currentUser: string;
}

/** Creates the in-memory store, seeded with the original's sample data. */
export function createMemoryStore(options: MemoryStoreOptions): Store {
  const { seededAt, currentUser } = options;
  const rows = new Map<string, ActivityRow>();
  for (const seed of SEED_ACTIVITIES) rows.set(seed.uuid, seedRow(seed, seededAt));
  const notificationRows = SEED_NOTIFICATIONS.map((seed) => seedRow(seed, seededAt));
  const groups = new Map<string, GroupRow>();
  for (const seed of SEED_MESSAGE_GROUPS) {
    groups.set(groupKey(currentUser, seed.handle), {
      uuid: seed.uuid,
      members: [currentUser, seed.handle],
      updatedAt: seededAt,
      messages: SEED_MESSAGES.filter((m) => m.group_handle === seed.handle).map((m) => ({
        uuid: m.uuid,
        handle: m.handle,
        message: m.message,
        createdAt: seededAt,
      })),
    });
  }

  function live(now: number): ActivityRow[] {
    const result: ActivityRow[] = [];
    for (const row of rows.values()) if (row.expiresAt > now) result.push(row);
    return result.sort((a, b) => b.createdAt - a.createdAt);
  }

  return {
    activities(now) {
      return live(now).map(activityView);
    },
    activitiesBy(handle, now) {
      return live(now).filter((row) => row.handle === handle).map(activityView);
    },
    search(term, now) {
      const needle = term.toLowerCase();
      return live(now).filter((row) => row.message.toLowerCase().includes(needle)).map(
        activityView,
      );
    },
    activity(uuid, now) {
      const row = rows.get(uuid);
      return row && row.expiresAt > now ? activityView(row) : undefined;
    },
    notifications(now) {
      return notificationRows.filter((row) => row.expiresAt > now).map(activityView);
    },
    addActivity(activity) {
      const row: ActivityRow = {
        uuid: activity.uuid,
        handle: activity.handle,
        message: activity.message,
        likes: 0,
        reposts: 0,
        createdAt: activity.createdAt,
        expiresAt: activity.expiresAt,
        replies: [],
      };
      rows.set(row.uuid, row);
      return activityView(row);
    },
    addReply(reply, now) {
      const row = rows.get(reply.activityUuid);
      if (!row || row.expiresAt <= now) return undefined;
      const replyRow: ReplyRow = {
        uuid: reply.uuid,
        handle: reply.handle,
        message: reply.message,
        likes: 0,
        createdAt: reply.createdAt,
      };
      row.replies.push(replyRow);
      row.view = undefined;
      return replyView(replyRow, row.uuid);
    },
    messageGroups(handle) {
      const result: MessageGroup[] = [];
      const mine = [...groups.values()].filter((g) => g.members.includes(handle));
      for (const group of mine.sort((a, b) => b.updatedAt - a.updatedAt)) {
        const other = group.members[0] === handle ? group.members[1] : group.members[0];
        result.push({
          uuid: group.uuid,
          display_name: displayName(other),
          handle: other,
          created_at: iso(group.updatedAt),
        });
      }
      return result;
    },
    messages(handle, other) {
      const group = groups.get(groupKey(handle, other));
      if (!group) return [];
      return group.messages.map((m) => ({
        uuid: m.uuid,
        message_group_uuid: group.uuid,
        display_name: displayName(m.handle),
        handle: m.handle,
        message: m.message,
        created_at: iso(m.createdAt),
      }));
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
      group.updatedAt = message.createdAt;
      return {
        uuid: row.uuid,
        message_group_uuid: group.uuid,
        display_name: displayName(row.handle),
        handle: row.handle,
        message: row.message,
        created_at: iso(row.createdAt),
      };
    },
  };
}
