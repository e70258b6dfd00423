/**
 * The PGlite store's snapshot: every row, written to DATA_DIR when the store closes cleanly,
 * so the next start can answer reads from memory while PGlite boots (warm_start.ts). Only the
 * embedded store has one: a single process owns DATA_DIR, so nothing else can write the data
 * between this process's last commit and the next one's start.
 *
 * Rules that keep a snapshot from ever showing stale data:
 * - written after the last write committed and PGlite closed without error, to a temporary
 *   file (synced) that is then renamed into place: a stop cut short leaves no snapshot;
 * - taken at most once: the start that reads it removes it before serving anything, and any
 *   other opening of the cluster (pglite.ts) removes one it finds, so a crash after that start,
 *   or a tool that opened the directory meanwhile, can never bring it back;
 * - checked: its format and the schema's migration version must be this code's, and its rows
 *   are validated field by field; anything else is ignored (with one warning), never trusted.
 */
import { join } from "node:path";
import type { SqlSession } from "./sql_client.ts";
import { ms } from "./views.ts";
import type {
  ActivityData,
  GroupData,
  MessageData,
  NotificationData,
  ReplyData,
  StoreRows,
} from "./rows.ts";

/** The file's name inside DATA_DIR (next to PostgreSQL's own files, which ignore it). */
export const SNAPSHOT_FILE = "cruddur-snapshot.json";

/** Bumped when the file's shape changes; another version is ignored. */
export const SNAPSHOT_FORMAT = 1;

/** What the file holds. */
interface SnapshotFile {
  format: number;
  /** The highest migration applied to the database the rows came from. */
  schemaVersion: number;
  writtenAt: string;
  rows: StoreRows;
}

/** The snapshot's path in `dataDir`. */
export function snapshotPath(dataDir: string): string {
  return join(dataDir, SNAPSHOT_FILE);
}

/**
 * Every row of the database, in the order the SQL store reads them back (replies and
 * messages by creation time, then insertion). Run it in one transaction, so the tables agree.
 */
export async function dumpRows(session: SqlSession): Promise<StoreRows> {
  const activities = await session.query<{
    uuid: string;
    handle: string;
    message: string;
    likes_count: number;
    reposts_count: number;
    created_at: Date | string;
    expires_at: Date | string;
  }>(
    `SELECT uuid::text AS uuid, handle, message, likes_count, reposts_count, created_at, expires_at
FROM activities ORDER BY created_at, uuid`,
    [],
  );
  const replies = await session.query<{
    uuid: string;
    activity_uuid: string;
    handle: string;
    message: string;
    likes_count: number;
    created_at: Date | string;
  }>(
    `SELECT uuid::text AS uuid, activity_uuid::text AS activity_uuid, handle, message, likes_count,
  created_at FROM replies ORDER BY created_at, seq`,
    [],
  );
  const notifications = await session.query<{
    recipient_handle: string;
    uuid: string;
    handle: string;
    message: string;
    likes_count: number;
    reposts_count: number;
    created_at: Date | string;
    expires_at: Date | string;
    replies: string;
  }>(
    `SELECT recipient_handle, uuid::text AS uuid, handle, message, likes_count, reposts_count,
  created_at, expires_at, replies::text AS replies FROM notifications ORDER BY created_at, uuid`,
    [],
  );
  const groups = await session.query<{
    uuid: string;
    member_a: string;
    member_b: string;
    updated_at: Date | string;
  }>(
    "SELECT uuid::text AS uuid, member_a, member_b, updated_at FROM message_groups ORDER BY uuid",
    [],
  );
  const messages = await session.query<{
    uuid: string;
    message_group_uuid: string;
    handle: string;
    message: string;
    created_at: Date | string;
  }>(
    `SELECT uuid::text AS uuid, message_group_uuid::text AS message_group_uuid, handle, message,
  created_at FROM messages ORDER BY created_at, seq`,
    [],
  );
  const byActivity = new Map<string, ReplyData[]>();
  for (const r of replies) {
    const list = byActivity.get(r.activity_uuid) ?? [];
    list.push({
      uuid: r.uuid,
      handle: r.handle,
      message: r.message,
      likesCount: r.likes_count,
      createdAt: ms(r.created_at),
    });
    byActivity.set(r.activity_uuid, list);
  }
  const byGroup = new Map<string, MessageData[]>();
  for (const m of messages) {
    const list = byGroup.get(m.message_group_uuid) ?? [];
    list.push({ uuid: m.uuid, handle: m.handle, message: m.message, createdAt: ms(m.created_at) });
    byGroup.set(m.message_group_uuid, list);
  }
  return {
    activities: activities.map((a) => ({
      uuid: a.uuid,
      handle: a.handle,
      message: a.message,
      likesCount: a.likes_count,
      repostsCount: a.reposts_count,
      createdAt: ms(a.created_at),
      expiresAt: ms(a.expires_at),
      replies: byActivity.get(a.uuid) ?? [],
    })),
    notifications: notifications.map((n) => ({
      recipient: n.recipient_handle,
      uuid: n.uuid,
      handle: n.handle,
      message: n.message,
      likesCount: n.likes_count,
      repostsCount: n.reposts_count,
      createdAt: ms(n.created_at),
      expiresAt: ms(n.expires_at),
      // Embedded as migrate.ts wrote them (snake_case keys, ISO times).
      replies: (JSON.parse(n.replies) as Array<Record<string, unknown>>).map((r) => ({
        uuid: String(r.uuid),
        handle: String(r.handle),
        message: String(r.message),
        likesCount: Number(r.likes_count),
        createdAt: Date.parse(String(r.created_at)),
      })),
    })),
    groups: groups.map((g) => ({
      uuid: g.uuid,
      members: [g.member_a, g.member_b],
      updatedAt: ms(g.updated_at),
      messages: byGroup.get(g.uuid) ?? [],
    })),
  };
}

/** The file's text for `rows` (also what tests round-trip through). */
export function encodeSnapshot(rows: StoreRows, schemaVersion: number): string {
  const file: SnapshotFile = {
    format: SNAPSHOT_FORMAT,
    schemaVersion,
    writtenAt: new Date().toISOString(),
    rows,
  };
  return JSON.stringify(file);
}

/**
 * Writes the snapshot atomically: a temporary file in the same directory, synced, then
 * renamed over the name (a rename within a directory replaces in one step).
 */
export async function writeSnapshot(
  dataDir: string,
  rows: StoreRows,
  schemaVersion: number,
): Promise<void> {
  const target = snapshotPath(dataDir);
  const temporary = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true });
    try {
      const bytes = new TextEncoder().encode(encodeSnapshot(rows, schemaVersion));
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, target);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Removes a snapshot that is there (the cluster is being opened: it may change). */
export async function discardSnapshot(dataDir: string): Promise<void> {
  await Deno.remove(snapshotPath(dataDir)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** What `takeSnapshot` found. */
export type TakenSnapshot =
  | { kind: "none" }
  | { kind: "rows"; rows: StoreRows; writtenAt: string }
  | { kind: "ignored"; reason: string };

/**
 * Consumes the snapshot in `dataDir`: reads it, removes it (before anything may be served
 * from it), then checks it. `schemaVersion` is this code's latest migration.
 */
export async function takeSnapshot(
  dataDir: string,
  schemaVersion: number,
): Promise<TakenSnapshot> {
  const path = snapshotPath(dataDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "none" };
    return { kind: "ignored", reason: `cannot read ${path}: ${message(error)}` };
  }
  try {
    await Deno.remove(path);
  } catch (error) {
    // Not removable means it could be served twice: never use it.
    return { kind: "ignored", reason: `cannot remove ${path}: ${message(error)}` };
  }
  return decodeSnapshot(text, schemaVersion);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks a snapshot's text; anything unexpected is a reason to ignore it. */
export function decodeSnapshot(text: string, schemaVersion: number): TakenSnapshot {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    return { kind: "ignored", reason: "not JSON (a corrupt snapshot)" };
  }
  if (!isObject(file)) return { kind: "ignored", reason: "not a snapshot object" };
  if (file.format !== SNAPSHOT_FORMAT) {
    return { kind: "ignored", reason: `unknown format ${JSON.stringify(file.format)}` };
  }
  if (file.schemaVersion !== schemaVersion) {
    return {
      kind: "ignored",
      reason: `schema version ${JSON.stringify(file.schemaVersion)}, not ${schemaVersion}`,
    };
  }
  const problem = rowsProblem(file.rows);
  if (problem) return { kind: "ignored", reason: `invalid rows: ${problem}` };
  return {
    kind: "rows",
    rows: file.rows as StoreRows,
    writtenAt: typeof file.writtenAt === "string" ? file.writtenAt : "",
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

type Shape = Record<string, "string" | "time" | "count">;

const REPLY: Shape = {
  uuid: "string",
  handle: "string",
  message: "string",
  likesCount: "count",
  createdAt: "time",
};
const ACTIVITY: Shape = {
  uuid: "string",
  handle: "string",
  message: "string",
  likesCount: "count",
  repostsCount: "count",
  createdAt: "time",
  expiresAt: "time",
};
const MESSAGE: Shape = { uuid: "string", handle: "string", message: "string", createdAt: "time" };
const GROUP: Shape = { uuid: "string", updatedAt: "time" };

/** The first field of `value` that does not fit `shape`, or undefined. */
function shapeProblem(value: unknown, shape: Shape, where: string): string | undefined {
  if (!isObject(value)) return `${where} is not an object`;
  for (const [key, kind] of Object.entries(shape)) {
    const field = value[key];
    const fits = kind === "string"
      ? typeof field === "string"
      : kind === "count"
      ? Number.isSafeInteger(field)
      // Times the API can print (Date's range): toISOString throws outside it.
      : typeof field === "number" && Number.isFinite(new Date(field).getTime());
    if (!fits) return `${where}.${key}`;
  }
  return undefined;
}

function listProblem(
  value: unknown,
  where: string,
  each: (item: unknown, at: string) => string | undefined,
): string | undefined {
  if (!Array.isArray(value)) return `${where} is not a list`;
  for (let i = 0; i < value.length; i++) {
    const problem = each(value[i], `${where}[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

function activityProblem(value: unknown, at: string): string | undefined {
  return shapeProblem(value, ACTIVITY, at) ??
    listProblem(
      (value as ActivityData).replies,
      `${at}.replies`,
      (r, w) => shapeProblem(r, REPLY, w),
    );
}

/** Why `rows` is not a StoreRows, or undefined when it is one. */
export function rowsProblem(rows: unknown): string | undefined {
  if (!isObject(rows)) return "rows is not an object";
  return listProblem(rows.activities, "activities", activityProblem) ??
    listProblem(
      rows.notifications,
      "notifications",
      (n, at) =>
        activityProblem(n, at) ??
          (typeof (n as NotificationData).recipient === "string" ? undefined : `${at}.recipient`),
    ) ??
    listProblem(rows.groups, "groups", (g, at) => {
      const problem = shapeProblem(g, GROUP, at);
      if (problem) return problem;
      const members = (g as GroupData).members;
      if (
        !Array.isArray(members) || members.length !== 2 ||
        !members.every((m) => typeof m === "string")
      ) return `${at}.members`;
      return listProblem(
        (g as GroupData).messages,
        `${at}.messages`,
        (m, w) => shapeProblem(m, MESSAGE, w),
      );
    });
}
