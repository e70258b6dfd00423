/**
 * PGlite's warm start (services/store/warm_start.ts, snapshot.ts): reads answered from memory
 * while PGlite boots, and the rules that keep them true: the first write waits for PGlite
 * (503 at the deadline) and from then on everything goes to it; once PGlite is ready
 * everything goes to it; a snapshot is used at most once, never after an unclean stop; a
 * corrupt or foreign snapshot is ignored with one warning. The API-level equivalence of the
 * snapshot's reads is the store contract's "pglite snapshot" subject.
 */
import assert from "node:assert/strict";
import { SpanKind } from "@opentelemetry/api";
import { createMemoryStore } from "../../services/store/memory.ts";
import { latestMigration } from "../../services/store/migrate.ts";
import { openStore } from "../../services/store/mod.ts";
import { seedRows } from "../../services/store/rows.ts";
import {
  encodeSnapshot,
  SNAPSHOT_FILE,
  snapshotPath,
  takeSnapshot,
  writeSnapshot,
} from "../../services/store/snapshot.ts";
import {
  DatabaseUnavailableError,
  type ReadVia,
  type Store,
  STORE_SOURCE_ATTRIBUTE,
} from "../../services/store/types.ts";
import { createWarmStore, takeWarmRows } from "../../services/store/warm_start.ts";
import { buildApp, postJson } from "../support/harness.ts";

const USER = "andrewbrown";
const T0 = Date.UTC(2026, 0, 15, 12);
const FIRST = { limit: 20 };
const NEVER = 8.64e15; // a deadline that is not reached

/** A promise settled by hand: PGlite "still booting" until the test says it is ready. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A "database" that is a memory store whose answers are told apart from the snapshot's. */
function databaseStandIn(): Store {
  const store = createMemoryStore({ seededAt: T0, currentUser: USER });
  void store.addActivity({
    uuid: "00000000-0000-4000-8000-0000000000db",
    handle: USER,
    message: "only in the database",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
  });
  return store;
}

const messagesOf = async (store: Store, via?: ReadVia) =>
  (await store.activities(T0, FIRST, via)).items.map((a) => a.message);

Deno.test("warm store: reads come from memory, marked, until PGlite is ready; then all from PGlite", async () => {
  const database = deferred<Store>();
  const store = createWarmStore({
    warm: { source: "snapshot", rows: seedRows(T0, USER) },
    currentUser: USER,
    database: database.promise,
    deadline: NEVER,
  });
  const via: ReadVia = {};
  assert.equal((await messagesOf(store, via)).length, 4);
  assert.equal(via.source, "snapshot");
  const groups: ReadVia = {};
  assert.equal((await store.messageGroups(USER, groups)).length, 2);
  assert.equal(groups.source, "snapshot");
  assert.deepEqual(store.startup?.(), { source: "snapshot", reads: 2, serving: true });
  assert.equal(await store.ready(), true, "it answers reads, so it is ready");

  database.resolve(databaseStandIn());
  await database.promise;
  const after: ReadVia = {};
  assert.ok((await messagesOf(store, after)).includes("only in the database"));
  assert.equal(after.source, undefined, "PGlite's answer is not marked");
  const { databaseReadyAt, ...startup } = store.startup?.() ?? {};
  assert.deepEqual(startup, { source: "snapshot", reads: 2, serving: false });
  assert.ok(Number.isFinite(Date.parse(databaseReadyAt ?? "")), "when PGlite was ready");
});

Deno.test("warm store: the first write waits for PGlite, and every read after it goes there too", async () => {
  const database = deferred<Store>();
  const store = createWarmStore({
    warm: { source: "seed", rows: seedRows(T0, USER) },
    currentUser: USER,
    database: database.promise,
    deadline: NEVER,
  });
  let written = false;
  const write = store.addActivity({
    uuid: "00000000-0000-4000-8000-000000000001",
    handle: USER,
    message: "my post",
    createdAt: T0 + 1,
    expiresAt: T0 + 86_400_000,
  }).then((activity) => {
    written = true;
    return activity;
  });
  const via: ReadVia = {};
  const read = messagesOf(store, via);
  // Both wait: nothing answers until PGlite does (a whole event-loop turn goes by).
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(written, false);
  assert.equal(store.startup?.().serving, false);
  database.resolve(databaseStandIn());
  assert.equal((await write).message, "my post");
  const seen = await read;
  assert.ok(seen.includes("my post"), "the read after the write sees it (read your writes)");
  assert.ok(seen.includes("only in the database"), "answered by PGlite");
  assert.equal(via.source, undefined);
});

Deno.test("warm store: a write still waiting at the startup deadline is a DatabaseUnavailableError (503)", async () => {
  const database = deferred<Store>();
  let now = T0;
  const store = createWarmStore({
    warm: { source: "snapshot", rows: seedRows(T0, USER) },
    currentUser: USER,
    database: database.promise,
    deadline: T0 + 20,
    now: () => now,
  });
  await assert.rejects(
    store.addMessage({
      uuid: "00000000-0000-4000-8000-000000000002",
      senderHandle: USER,
      receiverHandle: "worf",
      message: "hi",
      createdAt: T0,
    }),
    DatabaseUnavailableError,
  );
  // Past the deadline a waiting request is refused at once; reads too, after that write.
  now = T0 + 21;
  await assert.rejects(store.activities(T0, FIRST), DatabaseUnavailableError);
  database.resolve(databaseStandIn());
  await database.promise;
  assert.ok((await messagesOf(store)).includes("only in the database"), "recovers once open");
});

Deno.test("warm store: PGlite that will not open fails waiting requests and readiness", async () => {
  const database = deferred<Store>();
  const store = createWarmStore({
    warm: { source: "snapshot", rows: seedRows(T0, USER) },
    currentUser: USER,
    database: database.promise,
    deadline: NEVER,
  });
  const write = store.addReply({
    uuid: "00000000-0000-4000-8000-000000000003",
    activityUuid: "68f126b0-1ceb-4a33-88be-d90fa7109eee",
    handle: USER,
    message: "x",
    createdAt: T0,
  }, T0);
  database.reject(new Error("corrupt cluster"));
  await assert.rejects(write, DatabaseUnavailableError);
  assert.equal(await store.ready(), false);
  await assert.rejects(store.activities(T0, FIRST), DatabaseUnavailableError);
  await store.close();
});

Deno.test("warm store: a close during the boot waits for PGlite and closes it (so it can write its snapshot)", async () => {
  const database = deferred<Store>();
  let closed = false;
  const store = createWarmStore({
    warm: { source: "snapshot", rows: seedRows(T0, USER) },
    currentUser: USER,
    database: database.promise,
    deadline: NEVER,
  });
  const closing = store.close();
  database.resolve({ ...databaseStandIn(), close: () => Promise.resolve(void (closed = true)) });
  await closing;
  assert.equal(closed, true);
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cruddur-warm-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("snapshot: written atomically, taken once (removed before use)", async () => {
  await withDir(async (dir) => {
    const version = await latestMigration();
    await writeSnapshot(dir, seedRows(T0, USER), version);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [SNAPSHOT_FILE]);
    const taken = await takeSnapshot(dir, version);
    assert.equal(taken.kind, "rows");
    assert.equal(await exists(snapshotPath(dir)), false, "removed by the start that took it");
    assert.deepEqual(await takeSnapshot(dir, version), { kind: "none" });
  });
});

Deno.test("snapshot: corrupt, another format or schema, or bad rows: ignored with one warning, never used", async () => {
  const version = await latestMigration();
  const good = JSON.parse(encodeSnapshot(seedRows(T0, USER), version));
  const cases: Array<[string, string]> = [
    ["truncated", encodeSnapshot(seedRows(T0, USER), version).slice(0, 100)],
    ["another format", JSON.stringify({ ...good, format: 99 })],
    ["another schema", JSON.stringify({ ...good, schemaVersion: version + 1 })],
    [
      "a time that is not one",
      JSON.stringify({
        ...good,
        rows: { ...good.rows, activities: [{ ...good.rows.activities[0], createdAt: "soon" }] },
      }),
    ],
    ["rows missing", JSON.stringify({ ...good, rows: { activities: [] } })],
    ["not an object", "[]"],
  ];
  for (const [what, text] of cases) {
    await withDir(async (dir) => {
      // A cluster's directory: not empty, so no seed either.
      await Deno.writeTextFile(`${dir}/PG_VERSION`, "17\n");
      await Deno.writeTextFile(snapshotPath(dir), text);
      const warnings: string[] = [];
      const warm = await takeWarmRows(dir, {
        seededAt: T0,
        currentUser: USER,
        warn: (message) => warnings.push(message),
      });
      assert.equal(warm, undefined, what);
      assert.equal(warnings.length, 1, what);
      assert.match(warnings[0]!, /PGlite snapshot ignored/, what);
      assert.equal(await exists(snapshotPath(dir)), false, `${what}: removed, not retried`);
    });
  }
});

Deno.test("warm rows: a new or empty DATA_DIR answers from the seed PGlite will insert; an unclean one waits", async () => {
  await withDir(async (dir) => {
    const options = { seededAt: T0, currentUser: USER, warn: () => assert.fail("no warning") };
    const fresh = await takeWarmRows(`${dir}/new`, options);
    assert.equal(fresh?.source, "seed");
    assert.deepEqual(fresh?.rows, seedRows(T0, USER));
    assert.equal((await takeWarmRows(dir, options))?.source, "seed", "empty");
    await Deno.writeTextFile(`${dir}/PG_VERSION`, "17\n");
    assert.equal(await takeWarmRows(dir, options), undefined, "a cluster without a snapshot");
    assert.equal(await takeWarmRows("memory://", options), undefined);
  });
});

Deno.test({
  name:
    "PGlite store: a clean close writes the snapshot of every row; opening the cluster discards an unused one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withDir(async (dir) => {
      const database = { kind: "pglite" as const, dataDir: dir };
      const first = await openStore({ database, seededAt: T0, currentUser: USER });
      await first.addActivity({
        uuid: "00000000-0000-4000-8000-000000000010",
        handle: USER,
        message: "before the stop",
        createdAt: T0 + 5,
        expiresAt: T0 + 86_400_000,
      });
      await first.close();
      await assert.rejects(first.activities(T0, FIRST), DatabaseUnavailableError, "closed");
      const warm = await takeWarmRows(dir, {
        seededAt: T0,
        currentUser: USER,
        warn: (m) => assert.fail(m),
      });
      assert.equal(warm?.source, "snapshot");
      assert.equal(warm?.rows.activities.length, 5);
      assert.ok(warm?.rows.activities.some((a) => a.message === "before the stop"));

      // A snapshot left in place (say, another tool opens the directory) is dropped by the open.
      await writeSnapshot(dir, warm!.rows, await latestMigration());
      const second = await openStore({ database, seededAt: T0, currentUser: USER });
      assert.equal(await exists(snapshotPath(dir)), false);
      // Killed (no close): nothing is written, so the next start waits for PGlite.
      const third = await takeWarmRows(dir, {
        seededAt: T0,
        currentUser: USER,
        warn: (m) => assert.fail(m),
      });
      assert.equal(third, undefined);
      await second.close();
      assert.equal(await exists(snapshotPath(dir)), true);
    });
  },
});

Deno.test({
  name:
    "warm start through the app: a snapshot read has no CLIENT span, its service span and access log say snapshot",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const database = deferred<Store>();
    let tracedDatabase: (() => Promise<Store>) | undefined;
    const h = await buildApp({}, {
      store: (seeded) => {
        tracedDatabase = async () => {
          const { openPglite } = await import("../../services/store/pglite.ts");
          const { migrate } = await import("../../services/store/migrate.ts");
          const { createPgStore } = await import("../../services/store/pg_store.ts");
          const client = await openPglite("memory://");
          await migrate(client, { seededAt: h.clock(), currentUser: USER });
          return createPgStore({
            kind: "pglite",
            client,
            currentUser: USER,
            traced: h.telemetry.traced,
          });
        };
        void seeded;
        return createWarmStore({
          warm: { source: "snapshot", rows: seedRows(Date.now(), USER) },
          currentUser: USER,
          database: database.promise,
          deadline: NEVER,
        });
      },
    });
    try {
      const first = await h.app.request("/api/activities/home");
      assert.equal(first.status, 200);
      assert.equal((await first.json()).length, 4);
      const spans = h.exporter.spans;
      const service = spans.find((s) => s.name === "home-activities-mock-data");
      assert.equal(service?.attributes[STORE_SOURCE_ATTRIBUTE], "snapshot");
      assert.equal(service?.attributes["app.store_source"], "snapshot", "for X-Ray");
      assert.equal(spans.filter((s) => s.kind === SpanKind.CLIENT).length, 0, "no query ran");
      const access = h.events().filter((e) => e.event === "access");
      assert.equal(access.at(-1)?.store_source, "snapshot");
      const health = await (await h.app.request("/api/health-check")).json();
      assert.deepEqual(health.database, {
        store: "pglite",
        ready: true,
        warm_start: { source: "snapshot", reads: 1, serving: true },
      });

      // The first write waits for PGlite; then reads are PGlite's, with CLIENT spans, unmarked.
      const posting = postJson(h, "/api/activities", { message: "after boot", ttl: "1-day" });
      const db = await tracedDatabase!();
      h.exporter.reset();
      database.resolve(db);
      assert.equal((await posting).status, 200);
      const home = await h.app.request("/api/activities/home");
      assert.ok((await home.json()).some((a: { message: string }) => a.message === "after boot"));
      const after = h.exporter.spans;
      const read = after.filter((s) => s.name === "home-activities-mock-data").at(-1);
      assert.equal(read?.attributes[STORE_SOURCE_ATTRIBUTE], undefined);
      assert.ok(after.some((s) => s.kind === SpanKind.CLIENT && s.name === "SELECT activities"));
      assert.equal(h.events().filter((e) => e.event === "access").at(-1)?.store_source, undefined);
      await db.close();
    } finally {
      await h.close();
    }
  },
});
