/**
 * Migrations and the seed on a real PostgreSQL (PGlite in memory): a database that has
 * everything is left as it is (no migration re-run, no second seed), and one that lacks a
 * migration or the seed gets it on the next start; the startup's statements are traced as the
 * store's queries are.
 */
import assert from "node:assert/strict";
import { SpanKind } from "@opentelemetry/api";
import { loadMigrations, migrate, type Migration } from "../../services/store/migrate.ts";
import type { SqlClient } from "../../services/store/sql_client.ts";
import { databaseAttributes } from "../../services/store/traced_query.ts";
import { SEED_ACTIVITIES } from "../../services/seed.ts";
import { buildApp } from "../support/harness.ts";

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

    await t.step("startup migrations are traced: a CLIENT span per statement", async () => {
      const db = await emptyDatabase();
      const h = await buildApp();
      try {
        const tracing = {
          traced: h.telemetry.traced,
          attributes: databaseAttributes(db.info, "18.0"),
        };
        await migrate(db, { seededAt: T0, currentUser: USER, tracing });
        const root = h.exporter.byName("migrate");
        assert.deepEqual(root.attributes["cruddur.migrations.applied"], [1]);
        assert.equal(root.attributes["cruddur.seeded"], true);
        const statements = h.exporter.spans.filter((s) => s !== root);
        assert.ok(statements.length > SEED_ACTIVITIES.length);
        for (const span of statements) {
          assert.equal(span.kind, SpanKind.CLIENT, span.name);
          assert.equal(span.parentSpanContext?.spanId, root.spanContext().spanId, span.name);
          assert.equal(span.attributes["db.system.name"], "postgresql");
          assert.equal(span.attributes["db.namespace"], "postgres");
          assert.equal(span.attributes["aws.xray.sql.database_version"], "18.0");
        }
        const schema = h.exporter.byName("BATCH");
        assert.equal(schema.attributes["db.operation.name"], "BATCH");
        assert.match(String(schema.attributes["db.query.text"]), /CREATE TABLE activities/);
        const insert = h.exporter.byName("INSERT activities");
        assert.equal(insert.attributes["db.collection.name"], "activities");
        // Parameterised: the seed's text is a parameter, never in the query text.
        const texts = statements.map((s) => String(s.attributes["db.query.text"])).join("\n");
        for (const seed of SEED_ACTIVITIES) assert.ok(!texts.includes(seed.message));
        assert.match(String(insert.attributes["db.query.text"]), /\$1::uuid/);

        // The next start: two reads under the migrate span, nothing written.
        h.exporter.reset();
        await migrate(db, { seededAt: T0, currentUser: USER, tracing });
        const again = h.exporter.spans.filter((s) => s.name !== "migrate");
        assert.deepEqual(again.map((s) => s.attributes["db.operation.name"]), [
          "SELECT",
          "SELECT",
        ]);
      } finally {
        await h.close();
      }
    });
  } finally {
    await pglite?.close();
  }
});
