/**
 * The store's data as plain rows (times in epoch ms): what the memory store is built from,
 * what the seed inserts into PostgreSQL, and what a PGlite snapshot holds (snapshot.ts). One
 * shape for the three, so the seed's rows are computed once and every store says the same.
 * Lists are in the order the SQL store reads them back: replies and messages oldest first
 * (creation time, then insertion), so "the last message" is the last one.
 */
import {
  SEED_ACTIVITIES,
  SEED_MESSAGE_GROUPS,
  SEED_MESSAGES,
  SEED_NOTIFICATIONS,
  type SeedActivity,
} from "../seed.ts";

/** A reply under an activity (or embedded in a notification). */
export interface ReplyData {
  uuid: string;
  handle: string;
  message: string;
  likesCount: number;
  createdAt: number;
}

/** An activity with its replies, oldest reply first. */
export interface ActivityData {
  uuid: string;
  handle: string;
  message: string;
  likesCount: number;
  repostsCount: number;
  createdAt: number;
  expiresAt: number;
  replies: ReplyData[];
}

/** A notification: an activity shown to `recipient`, its replies embedded as it was sent. */
export interface NotificationData extends ActivityData {
  recipient: string;
}

/** A direct message. */
export interface MessageData {
  uuid: string;
  handle: string;
  message: string;
  createdAt: number;
}

/** A conversation: its two members in JavaScript string order, its messages oldest first. */
export interface GroupData {
  uuid: string;
  members: [string, string];
  updatedAt: number;
  messages: MessageData[];
}

/** Every row of a store. */
export interface StoreRows {
  activities: ActivityData[];
  notifications: NotificationData[];
  groups: GroupData[];
}

/** A pair of handles in the order the stores keep a group's members (see 001_schema.sql). */
export function memberPair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

function activityData(seed: SeedActivity, at: number): ActivityData {
  return {
    uuid: seed.uuid,
    handle: seed.handle,
    message: seed.message,
    likesCount: seed.likes_count,
    repostsCount: seed.reposts_count,
    createdAt: at + seed.created_offset,
    expiresAt: at + seed.expires_offset,
    replies: seed.replies.map((reply) => ({
      uuid: reply.uuid,
      handle: reply.handle,
      message: reply.message,
      likesCount: reply.likes_count,
      createdAt: at + reply.created_offset,
    })),
  };
}

/**
 * The sample data as rows, relative to the seeding instant `at`: exactly what migrate.ts
 * inserts into an empty database and what the memory store starts with.
 */
export function seedRows(at: number, currentUser: string): StoreRows {
  return {
    activities: SEED_ACTIVITIES.map((seed) => activityData(seed, at)),
    notifications: SEED_NOTIFICATIONS.map((seed) => ({
      ...activityData(seed, at),
      recipient: currentUser,
    })),
    groups: SEED_MESSAGE_GROUPS.map((group) => ({
      uuid: group.uuid,
      members: memberPair(currentUser, group.handle),
      updatedAt: at,
      messages: SEED_MESSAGES.filter((m) => m.group_handle === group.handle).map((m) => ({
        uuid: m.uuid,
        handle: m.handle,
        message: m.message,
        createdAt: at,
      })),
    })),
  };
}
