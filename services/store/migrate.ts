/**
 * Schema migrations and the one-time seed. Migrations are the versioned SQL files in
 * migrations/ (`NNN_name.sql`), applied in order and recorded in `schema_migrations`. All of it
 * runs in one transaction under a transaction-scoped advisory lock, so two replicas starting
 * at once apply each migration exactly once (the second waits, then finds them recorded).
 */
import { type ActivityData, seedRows } from "./rows.ts";
import type { SqlClient, SqlSession } from "./sql_client.ts";
import { describeStatement, type StatementTracing, tracedQuery } from "./traced_query.ts";

/** Arbitrary, fixed: the advisory-lock key of "migrating the Cruddur schema". */
const MIGRATION_LOCK = 7_215_016;

/** One migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

/** Reads migrations/ in version order. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const found: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = /^(\d+)_([a-z0-9_]+)\.sql$/.exec(entry.name);
    if (!entry.isFile || match === null) continue;
    found.push({
      version: Number(match[1]),
      name: match[2]!,
      sql: await Deno.readTextFile(new URL(entry.name, dir)),
    });
  }
  return found.sort((a, b) => a.version - b.version);
}

/**
 * The latest migration's version, from the file names alone (a snapshot records the schema
 * it was taken from: snapshot.ts).
 */
export async function latestMigration(dir: URL = MIGRATIONS_DIR): Promise<number> {
  let latest = 0;
  for await (const entry of Deno.readDir(dir)) {
    const match = /^(\d+)_([a-z0-9_]+)\.sql$/.exec(entry.name);
    if (entry.isFile && match !== null) latest = Math.max(latest, Number(match[1]));
  }
  return latest;
}

/** What `migrate` did. */
export interface MigrationResult {
  applied: number[];
  seeded: boolean;
}

/** Options of `migrate`. */
export interface MigrateOptions {
  /** Epoch ms the seed's relative times are based on (the first startup's clock). */
  seededAt: number;
  currentUser: string;
  migrations?: Migration[];
  /** Traces one `migrate` span with a CLIENT span per statement, as the store's queries. */
  tracing?: StatementTracing;
}

/**
 * Applies pending migrations and seeds an empty database, once, under the advisory lock. A
 * database that already has every migration and the seed is left alone without taking the
 * lock or opening a transaction: two reads instead of six statements, most of them writes
 * (that is the common start, and PGlite's start pays for every statement it runs first).
 */
export async function migrate(
  client: SqlClient,
  options: MigrateOptions,
): Promise<MigrationResult> {
  const migrations = options.migrations ?? await loadMigrations();
  const { tracing } = options;
  if (!tracing) return await migrateOn(client, migrations, options);
  const traced = tracedClient(client, tracing);
  return await tracing.traced("migrate", async (span) => {
    const result = await migrateOn(traced, migrations, options);
    span.setAttribute("cruddur.migrations.applied", result.applied);
    span.setAttribute("cruddur.seeded", result.seeded);
    return result;
  });
}

/** The session with each statement in its CLIENT span (named from its text). */
function tracedSession(session: SqlSession, tracing: StatementTracing): SqlSession {
  return {
    query: (text, params) =>
      tracedQuery(tracing, describeStatement(text), () => session.query(text, params)),
    exec: (text) => tracedQuery(tracing, describeStatement(text), () => session.exec(text)),
  };
}

function tracedClient(client: SqlClient, tracing: StatementTracing): SqlClient {
  return {
    ...client,
    ...tracedSession(client, tracing),
    transaction: (fn) => client.transaction((tx) => fn(tracedSession(tx, tracing))),
  };
}

async function migrateOn(
  client: SqlClient,
  migrations: Migration[],
  options: MigrateOptions,
): Promise<MigrationResult> {
  if (await upToDate(client, migrations)) return { applied: [], seeded: false };
  return await client.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
    const done = new Set(
      (await tx.query<{ version: number }>("SELECT version FROM schema_migrations", []))
        .map((row) => row.version),
    );
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    const seeded = await seed(tx, options);
    return { applied, seeded };
  });
}

/**
 * True when every migration is recorded and the seed was inserted. Read without the lock: the
 * records only ever grow, so "all there" cannot become false; anything less takes the locked
 * path, which decides again.
 */
async function upToDate(client: SqlSession, migrations: Migration[]): Promise<boolean> {
  // Tables that may not exist yet cannot be named in the same statement (it would not parse).
  const [tables] = await client.query<{ ready: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AND to_regclass('app_meta') IS NOT NULL AS ready",
    [],
  );
  if (!tables?.ready) return false;
  const [state] = await client.query<{ versions: number[]; seeded: boolean }>(
    `SELECT ARRAY(SELECT version FROM schema_migrations) AS versions,
  EXISTS (SELECT 1 FROM app_meta WHERE key = 'seeded_at') AS seeded`,
    [],
  );
  if (!state?.seeded) return false;
  const recorded = new Set(state.versions.map(Number));
  return migrations.every((migration) => recorded.has(migration.version));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Inserts the sample data (rows.ts) unless this database was seeded before (even if since emptied). */
async function seed(tx: SqlSession, options: MigrateOptions): Promise<boolean> {
  const { seededAt: at, currentUser } = options;
  const first = await tx.query(
    "INSERT INTO app_meta (key, value) VALUES ('seeded_at', $1) ON CONFLICT (key) DO NOTHING RETURNING key",
    [iso(at)],
  );
  if (first.length === 0) return false;
  const rows = seedRows(at, currentUser);
  for (const activity of rows.activities) {
    await tx.query(
      `INSERT INTO activities (uuid, handle, message, likes_count, reposts_count, created_at, expires_at)
VALUES ($1::uuid, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz)`,
      activityParams(activity),
    );
    for (const reply of activity.replies) {
      await tx.query(
        `INSERT INTO replies (uuid, activity_uuid, handle, message, likes_count, created_at)
VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::timestamptz)`,
        [
          reply.uuid,
          activity.uuid,
          reply.handle,
          reply.message,
          reply.likesCount,
          iso(reply.createdAt),
        ],
      );
    }
  }
  for (const notification of rows.notifications) {
    // As the SQL store reads them back (pg_store.ts): snake_case keys, ISO times.
    const replies = notification.replies.map((reply) => ({
      uuid: reply.uuid,
      handle: reply.handle,
      message: reply.message,
      likes_count: reply.likesCount,
      created_at: iso(reply.createdAt),
    }));
    await tx.query(
      `INSERT INTO notifications (uuid, handle, message, likes_count, reposts_count, created_at,
  expires_at, recipient_handle, replies)
VALUES ($1::uuid, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, $8, $9::text::jsonb)`,
      [...activityParams(notification), notification.recipient, JSON.stringify(replies)],
    );
  }
  for (const group of rows.groups) {
    await tx.query(
      `INSERT INTO message_groups (uuid, member_a, member_b, updated_at)
VALUES ($1::uuid, $2, $3, $4::timestamptz)`,
      [group.uuid, group.members[0], group.members[1], iso(group.updatedAt)],
    );
    for (const message of group.messages) {
      await tx.query(
        `INSERT INTO messages (uuid, message_group_uuid, handle, message, created_at)
VALUES ($1::uuid, $2::uuid, $3, $4, $5::timestamptz)`,
        [message.uuid, group.uuid, message.handle, message.message, iso(message.createdAt)],
      );
    }
  }
  return true;
}

function activityParams(activity: ActivityData): unknown[] {
  return [
    activity.uuid,
    activity.handle,
    activity.message,
    activity.likesCount,
    activity.repostsCount,
    iso(activity.createdAt),
    iso(activity.expiresAt),
  ];
}
