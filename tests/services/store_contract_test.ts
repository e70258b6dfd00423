/**
 * One contract, every store: memory, PGlite (embedded) and a real PostgreSQL server
 * (TEST_DATABASE_URL or a throwaway cluster, see tests/support/postgres.ts), and PGlite's
 * snapshot (every read answered from a memory store loaded from the snapshot file's text of
 * PGlite's rows at that moment, as a warm start serves them). What a user sees through the
 * API must not depend on which one runs: feeds newest first in pages, ttl expiry and pruning,
 * replies and replies_count, conversations with their last message, and hostile text stored
 * verbatim.
 */
import assert from "node:assert/strict";
import { createMemoryStore, memoryStoreFrom } from "../../services/store/memory.ts";
import { decodeSnapshot, dumpRows, encodeSnapshot } from "../../services/store/snapshot.ts";
import { migrate } from "../../services/store/migrate.ts";
import { createPgStore } from "../../services/store/pg_store.ts";
import type { SqlClient } from "../../services/store/sql_client.ts";
import type { PageRequest, Store } from "../../services/store/types.ts";
import type { Activity } from "../../services/types.ts";
import { POSTGRES_SKIP, type PostgresServer, postgresServer } from "../support/postgres.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 15, 12);
const USER = "andrewbrown";

interface Subject {
  name: string;
  ignore?: string;
  open(seededAt: number): Promise<Store>;
}

let pglite: SqlClient | undefined;
/** One PGlite for the file (its first start is seconds); each test gets a new schema. */
async function pgliteStore(seededAt: number): Promise<Store> {
  if (!pglite) {
    const { openPglite } = await import("../../services/store/pglite.ts");
    pglite = await openPglite("memory://");
  }
  await pglite.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  await migrate(pglite, { seededAt, currentUser: USER });
  const shared = { ...pglite, close: () => Promise.resolve() };
  return createPgStore({ kind: "pglite", client: shared, currentUser: USER });
}

/**
 * PGlite whose reads are all answered from its snapshot: before each read, every row is
 * dumped, written as the snapshot file's text, read back, checked and loaded into a memory
 * store, which answers. Writes and pruning go to PGlite, as they do during a warm start.
 */
async function snapshotStore(seededAt: number): Promise<Store> {
  const database = await pgliteStore(seededAt);
  const fromSnapshot = async <T>(read: (store: Store) => Promise<T>): Promise<T> => {
    const rows = await pglite!.transaction((tx) => dumpRows(tx));
    const taken = decodeSnapshot(encodeSnapshot(rows, 1), 1);
    if (taken.kind !== "rows") throw new Error(`snapshot not taken: ${JSON.stringify(taken)}`);
    return await read(memoryStoreFrom(taken.rows, USER));
  };
  return {
    ...database,
    activities: (now, page) => fromSnapshot((s) => s.activities(now, page)),
    activitiesBy: (handle, now, page) => fromSnapshot((s) => s.activitiesBy(handle, now, page)),
    search: (term, now, page) => fromSnapshot((s) => s.search(term, now, page)),
    activity: (uuid, now) => fromSnapshot((s) => s.activity(uuid, now)),
    notifications: (now, page) => fromSnapshot((s) => s.notifications(now, page)),
    messageGroups: (handle) => fromSnapshot((s) => s.messageGroups(handle)),
    messages: (handle, other) => fromSnapshot((s) => s.messages(handle, other)),
  };
}

let server: PostgresServer | undefined;
/** A new database on the server for each test. */
async function serverStore(seededAt: number): Promise<Store> {
  server ??= await postgresServer();
  const { openStore } = await import("../../services/store/mod.ts");
  return await openStore({
    database: {
      kind: "postgres",
      url: await server.freshDatabase(),
      poolMax: 4,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 5000,
    },
    seededAt,
    currentUser: USER,
  });
}

const SUBJECTS: Subject[] = [
  {
    name: "memory",
    open: (seededAt) => Promise.resolve(createMemoryStore({ seededAt, currentUser: USER })),
  },
  { name: "pglite", open: pgliteStore },
  { name: "pglite snapshot", open: snapshotStore },
  { name: "postgres", open: serverStore, ...(POSTGRES_SKIP ? { ignore: POSTGRES_SKIP } : {}) },
];

if (POSTGRES_SKIP) {
  // Said once, so a run without a server shows which cases it did not cover.
  // deno-lint-ignore no-console
  console.warn(`store contract: the "postgres" cases are skipped: ${POSTGRES_SKIP}`);
}

async function all(
  read: (page: PageRequest) => Promise<{ items: Activity[]; next?: PageRequest["after"] }>,
  limit: number,
): Promise<{ uuids: string[]; pages: number }> {
  const uuids: string[] = [];
  let page: PageRequest = { limit };
  let pages = 0;
  for (;;) {
    const result = await read(page);
    pages++;
    assert.ok(result.items.length <= limit);
    uuids.push(...result.items.map((a) => a.uuid));
    if (!result.next) return { uuids, pages };
    page = { limit, after: result.next };
    assert.ok(pages < 1000, "pagination does not end");
  }
}

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

const FIRST: PageRequest = { limit: 20 };

for (const subject of SUBJECTS) {
  const test = (name: string, fn: (store: Store) => Promise<void>) =>
    Deno.test({
      name: `[${subject.name}] ${name}`,
      ignore: subject.ignore !== undefined,
      // PGlite and porsager/postgres keep process-wide resources between tests of one file.
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const store = await subject.open(T0);
        try {
          await fn(store);
        } finally {
          await store.close();
        }
      },
    });

  test("the seed: four posts newest first, Coco's notification, two conversations", async (store) => {
    const home = await store.activities(T0, FIRST);
    assert.deepEqual(home.items.map((a) => a.message), [
      "My dear doctor, I am just simple tailor",
      "Cloud is fun!",
      "Cloud is very fun!",
      "I am out of prune juice",
    ]);
    assert.equal(home.next, undefined);
    const first = home.items.find((a) => a.message === "Cloud is very fun!")!;
    assert.equal(first.replies_count, 1);
    assert.equal(first.replies[0]?.message, "This post has no honor!");
    assert.equal(first.replies[0]?.reply_to_activity_uuid, first.uuid);
    assert.equal(first.created_at, new Date(T0 - 2 * DAY).toISOString());
    assert.equal(first.expires_at, new Date(T0 + 5 * DAY).toISOString());
    assert.equal(first.display_name, "Andrew Brown");
    const notifications = await store.notifications(T0, FIRST);
    assert.deepEqual(notifications.items.map((a) => a.handle), ["coco"]);
    assert.equal(notifications.items[0]?.replies_count, 1);
    const groups = await store.messageGroups(USER);
    assert.equal(groups.length, 2);
    const worf = groups.find((g) => g.handle === "worf")!;
    assert.equal(worf.display_name, "Worf");
    assert.equal(worf.message, "This platform is great!", "the inbox shows the last message");
    assert.equal(worf.created_at, new Date(T0).toISOString());
    const thread = await store.messages(USER, "worf");
    assert.deepEqual(thread.map((m) => m.message), ["Cloud is fun!", "This platform is great!"]);
  });

  test("pages walk the whole feed newest first, no item twice, ties broken by uuid", async (store) => {
    for (let i = 0; i < 23; i++) {
      // Pairs share a creation time, so the cursor must break ties.
      await store.addActivity({
        uuid: uuid(i + 1),
        handle: i % 2 ? "worf" : USER,
        message: `post ${i}`,
        createdAt: T0 + Math.floor(i / 2) * 1000,
        expiresAt: T0 + DAY,
      });
    }
    const { items: everything } = await store.activities(T0, { limit: 100 });
    assert.equal(everything.length, 27);
    const times = everything.map((a) => [Date.parse(a.created_at), a.uuid] as const);
    for (let i = 1; i < times.length; i++) {
      const [t0, u0] = times[i - 1]!;
      const [t1, u1] = times[i]!;
      assert.ok(t0 > t1 || (t0 === t1 && u0 > u1), `order at ${i}`);
    }
    const walked = await all((page) => store.activities(T0, page), 5);
    assert.deepEqual(walked.uuids, everything.map((a) => a.uuid));
    assert.equal(walked.pages, 6);
    const first = await store.activities(T0, FIRST);
    assert.equal(first.items.length, 20);
    assert.ok(first.next);
    const worf = await all((page) => store.activitiesBy("worf", T0, page), 4);
    assert.deepEqual(
      worf.uuids,
      everything.filter((a) => a.handle === "worf").map((a) => a.uuid),
    );
    const search = await all((page) => store.search("POST 1", T0, page), 3);
    assert.deepEqual(search.uuids.length, 11, "post 1, post 10..19");
  });

  test("an activity lives until its ttl, then is gone everywhere and pruned", async (store) => {
    const made = await store.addActivity({
      uuid: uuid(99),
      handle: USER,
      message: "Ephemeral zebra",
      createdAt: T0,
      expiresAt: T0 + HOUR,
    });
    assert.equal(made.replies_count, 0);
    const reply = await store.addReply({
      uuid: uuid(100),
      activityUuid: made.uuid,
      handle: "worf",
      message: "still here",
      createdAt: T0 + 1,
    }, T0 + 1);
    assert.equal(reply?.reply_to_activity_uuid, made.uuid);
    assert.equal(reply?.created_at, new Date(T0 + 1).toISOString());
    const shown = await store.activity(made.uuid, T0 + HOUR - 1);
    assert.equal(shown?.replies_count, 1);
    assert.deepEqual(shown?.replies.map((r) => r.message), ["still here"]);
    const at = T0 + HOUR;
    assert.equal(await store.activity(made.uuid, at), undefined);
    assert.ok(!(await store.activities(at, FIRST)).items.some((a) => a.uuid === made.uuid));
    assert.deepEqual((await store.search("zebra", at, FIRST)).items, []);
    assert.equal(
      await store.addReply({
        uuid: uuid(101),
        activityUuid: made.uuid,
        handle: "worf",
        message: "too late",
        createdAt: at,
      }, at),
      undefined,
    );
    // Garek's seeded post (expires at +12 h) and the zebra are gone once pruned at +12 h.
    assert.equal(await store.prune(T0 + 12 * HOUR), 2);
    assert.equal(await store.prune(T0 + 12 * HOUR), 0);
    assert.equal(await store.activity(made.uuid, T0), undefined, "deleted, not just hidden");
    assert.equal((await store.activities(T0, FIRST)).items.length, 3);
  });

  test("unknown or malformed uuids are simply not found", async (store) => {
    assert.equal(await store.activity(uuid(12345), T0), undefined);
    assert.equal(await store.activity("not-a-uuid", T0), undefined);
    assert.equal(await store.activity("'; DROP TABLE activities; --", T0), undefined);
    const reply = { uuid: uuid(1), handle: USER, message: "x", createdAt: T0 };
    assert.equal(await store.addReply({ ...reply, activityUuid: "nope" }, T0), undefined);
    assert.equal((await store.activities(T0, FIRST)).items.length, 4);
  });

  test("a uuid names its activity in either case, as PostgreSQL's uuid type reads it", async (store) => {
    const seeded = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
    const shown = await store.activity(seeded.toUpperCase(), T0);
    assert.equal(shown?.uuid, seeded);
    const reply = await store.addReply({
      uuid: uuid(1),
      activityUuid: seeded.toUpperCase(),
      handle: USER,
      message: "upper",
      createdAt: T0,
    }, T0);
    assert.equal(reply?.reply_to_activity_uuid, seeded);
    assert.equal((await store.activity(seeded, T0))?.replies_count, 2);
  });

  test("search is case-insensitive and literal: no pattern characters", async (store) => {
    await store.addActivity({
      uuid: uuid(7),
      handle: USER,
      message: "100% sure_thing",
      createdAt: T0,
      expiresAt: T0 + DAY,
    });
    const found = async (term: string) =>
      (await store.search(term, T0, FIRST)).items.map((a) => a.message);
    assert.deepEqual(await found("FUN!"), ["Cloud is fun!", "Cloud is very fun!"]);
    assert.deepEqual(await found(".*"), []);
    assert.deepEqual(await found("%"), ["100% sure_thing"]);
    assert.deepEqual(await found("e_t"), ["100% sure_thing"]);
    assert.deepEqual(await found("a%b"), []);
  });

  test("hostile text is stored and returned verbatim", async (store) => {
    const hostile = [
      "'; DROP TABLE activities; --",
      'Robert"); DELETE FROM replies; --',
      "$1 $2 \\x00 \\' ;; /* */",
      "emoji 😀🦄 and 𝕏 (4-byte UTF-8)",
    ];
    const handle = "o'brien; --";
    for (const [i, message] of hostile.entries()) {
      await store.addActivity({
        uuid: uuid(200 + i),
        handle,
        message,
        createdAt: T0 + i,
        expiresAt: T0 + DAY,
      });
    }
    const mine = await store.activitiesBy(handle, T0, FIRST);
    assert.deepEqual(mine.items.map((a) => a.message), [...hostile].reverse());
    assert.equal(mine.items[0]?.handle, handle);
    assert.deepEqual((await store.search("😀🦄", T0, FIRST)).items.map((a) => a.uuid), [
      uuid(203),
    ]);
    const sent = await store.addMessage({
      uuid: uuid(300),
      senderHandle: USER,
      receiverHandle: handle,
      message: hostile[0]!,
      createdAt: T0 + 10,
    });
    const thread = await store.messages(handle, USER);
    assert.deepEqual(thread.map((m) => m.message), [hostile[0]]);
    assert.equal(thread[0]?.message_group_uuid, sent.message_group_uuid);
    assert.equal((await store.activities(T0, { limit: 100 })).items.length, 8, "nothing dropped");
  });

  test("a message to a new user opens a group listed first; the next reuses it", async (store) => {
    const first = await store.addMessage({
      uuid: uuid(400),
      senderHandle: USER,
      receiverHandle: "garek",
      message: "Hi",
      createdAt: T0 + 60_000,
    });
    const again = await store.addMessage({
      uuid: uuid(401),
      senderHandle: "garek",
      receiverHandle: USER,
      message: "Hello, doctor",
      createdAt: T0 + 120_000,
    });
    assert.equal(again.message_group_uuid, first.message_group_uuid);
    const groups = await store.messageGroups(USER);
    // The seeded groups share their time: the larger uuid (Worf's) comes first.
    assert.deepEqual(groups.map((g) => g.handle), ["garek", "worf", USER]);
    assert.deepEqual(
      { uuid: groups[0]!.uuid, message: groups[0]!.message, at: groups[0]!.created_at },
      {
        uuid: first.message_group_uuid,
        message: "Hello, doctor",
        at: new Date(T0 + 120_000).toISOString(),
      },
    );
    const garekSees = await store.messageGroups("garek");
    assert.deepEqual(garekSees.map((g) => g.handle), [USER]);
    assert.deepEqual((await store.messages("garek", USER)).map((m) => m.uuid), [
      uuid(400),
      uuid(401),
    ]);
    assert.deepEqual(await store.messages(USER, "nobody"), []);
  });

  test("ready() answers true while the database is there", async (store) => {
    assert.equal(await store.ready(), true);
  });
}

Deno.test({
  name: "store contract: close the shared PGlite and server",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await pglite?.close();
    await server?.close();
  },
});
