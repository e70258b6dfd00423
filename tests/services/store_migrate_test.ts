/**
 * Migrations and the seed on a real PostgreSQL (PGlite in memory): a database that has
 * everything is left as it is (no migration re-run, no second seed), and one that lacks a
 * migration or the seed gets it on the next start.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate, type Migration } from "../../services/store/migrate.ts";
import type { SqlClient } from "../../services/store/sql_client.ts";

const USER = "andrewbrown";
const T0 = Date.UTC(2026, 0, 15, 12);

let pglite: SqlClient | undefined;
/** One PGlite for the file (its first start is seconds), an empty schema for each test. */
async function emptyDatabase(): Promise<SqlClient> {
  if (!pglite) {
    const { openPglite } = await import("../../services/store/pglite.ts");
    pglite = await openPglite("memory://");
  }
  await pglite.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  return pglite;
}

async function count(db: SqlClient, table: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`, []);
  return row!.n;
}

Deno.test("store migrations", async (t) => {
  try {
    await t.step("a second start applies nothing and does not seed again", async () => {
      const db = await emptyDatabase();
      const first = await migrate(db, { seededAt: T0, currentUser: USER });
      assert.deepEqual(first.applied, (await loadMigrations()).map((m) => m.version));
      assert.equal(first.seeded, true);
      const activities = await count(db, "activities");
      assert.ok(activities > 0);
      // The user deletes every post: the seed must not come back on the next start.
      await db.exec("DELETE FROM activities");
      const second = await migrate(db, { seededAt: T0 + 1000, currentUser: USER });
      assert.deepEqual(second, { applied: [], seeded: false });
      assert.equal(await count(db, "activities"), 0);
      assert.equal(await count(db, "schema_migrations"), first.applied.length);
    });

    await t.step("a migration added since the last start is applied on the next", async () => {
      const db = await emptyDatabase();
      const migrations = await loadMigrations();
      await migrate(db, { seededAt: T0, currentUser: USER, migrations });
      const next = Math.max(...migrations.map((m) => m.version)) + 1;
      const added: Migration = {
        version: next,
        name: "likes_index",
        sql: "CREATE INDEX activities_by_likes ON activities (likes_count)",
      };
      const result = await migrate(db, {
        seededAt: T0,
        currentUser: USER,
        migrations: [...migrations, added],
      });
      assert.deepEqual(result, { applied: [next], seeded: false });
      const [index] = await db.query<{ found: boolean }>(
        "SELECT to_regclass('activities_by_likes') IS NOT NULL AS found",
        [],
      );
      assert.equal(index?.found, true);
    });

    await t.step("a database migrated but never seeded is seeded on the next start", async () => {
      const db = await emptyDatabase();
      await migrate(db, { seededAt: T0, currentUser: USER });
      // As after a restore of the schema alone: the tables are there, the data and its mark not.
      await db.exec(
        "DELETE FROM app_meta; DELETE FROM activities; DELETE FROM notifications; DELETE FROM message_groups;",
      );
      const result = await migrate(db, { seededAt: T0, currentUser: USER });
      assert.deepEqual(result, { applied: [], seeded: true });
      assert.ok(await count(db, "activities") > 0);
    });
  } finally {
    await pglite?.close();
  }
});
