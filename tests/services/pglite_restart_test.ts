/**
 * The default store: `deno task start` without DATABASE_URL serves from PGlite under DATA_DIR,
 * and a post made before a restart is still there after it (real main.ts processes). A clean
 * stop leaves a snapshot the next start answers its first reads from while PGlite boots; that
 * start takes it (removes it) before serving, and a process killed afterwards leaves none, so
 * the start after a crash waits for PGlite.
 */
import assert from "node:assert/strict";
import { SNAPSHOT_FILE } from "../../services/store/snapshot.ts";
import { type Backend, startBackend } from "../support/backend.ts";

async function stop(backend: Backend, signal: Deno.Signal = "SIGTERM"): Promise<number> {
  backend.child.kill(signal);
  const status = await backend.child.status;
  await backend.done;
  await backend.stderr;
  return status.code;
}

async function hasSnapshot(dataDir: string): Promise<boolean> {
  return await Deno.stat(`${dataDir}/${SNAPSHOT_FILE}`).then(() => true, () => false);
}

interface DatabaseHealth {
  store: string;
  ready: boolean;
  warm_start?: { source: string; reads: number; serving: boolean; database_ready_at?: string };
}

async function health(backend: Backend): Promise<DatabaseHealth> {
  return (await (await fetch(`${backend.url}/api/health-check`)).json()).database;
}

Deno.test("without DATABASE_URL main.ts keeps posts in PGlite under DATA_DIR across restarts, a snapshot only after a clean stop", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "cruddur-data-" });
  // "" is unset for config.ts: the default store, as a user without DATABASE_URL gets.
  // A first start without the template runs initdb in WASM: on a loaded machine that can pass
  // the 30 s default, and the first POST waits for it.
  const env = { DATABASE_URL: "", DATA_DIR: dataDir, DATABASE_STARTUP_TIMEOUT_MS: "120000" };
  const options = { listenTimeoutMs: 120_000 };
  try {
    // A new DATA_DIR: the seed answers until PGlite has made the database.
    const first = await startBackend(env, options);
    let uuid: string;
    try {
      assert.ok(
        first.lines().some((l) => /embedded PostgreSQL \(PGlite\)/.test(String(l.message))),
      );
      const res = await fetch(`${first.url}/api/activities`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: "Survives a restart 😀", ttl: "1-day" }),
      });
      assert.equal(res.status, 200);
      uuid = (await res.json()).uuid;
      const { warm_start: warm, ...database } = await health(first);
      assert.deepEqual(database, { store: "pglite", ready: true });
      const { database_ready_at: readyAt, ...rest } = warm ?? {};
      assert.deepEqual(rest, { source: "seed", reads: 0, serving: false });
      assert.ok(Number.isFinite(Date.parse(readyAt ?? "")), "PGlite's ready time");
    } finally {
      assert.equal(await stop(first), 0);
    }
    assert.equal(await hasSnapshot(dataDir), true, "a clean stop writes the snapshot");

    const second = await startBackend(env, options);
    try {
      assert.equal(await hasSnapshot(dataDir), false, "taken before serving");
      const home = await (await fetch(`${second.url}/api/activities/home`)).json();
      const mine = home.find((a: { uuid: string }) => a.uuid === uuid);
      assert.equal(mine?.message, "Survives a restart 😀");
      // Seeded once: the sample posts are not inserted a second time.
      assert.equal(home.length, 5);
      assert.equal((await health(second)).warm_start?.source, "snapshot");
      await second.waitFor(/PGlite ready/, 120_000);
    } finally {
      // Killed: no clean stop, so no snapshot.
      await stop(second, "SIGKILL");
    }
    assert.equal(await hasSnapshot(dataDir), false, "none after an unclean stop");

    const third = await startBackend(env, options);
    try {
      const database = await health(third);
      assert.deepEqual(database, { store: "pglite", ready: true }, "served by PGlite only");
      const home = await (await fetch(`${third.url}/api/activities/home`)).json();
      assert.ok(home.some((a: { uuid: string }) => a.uuid === uuid));
      // The console writer batches: wait for the home request's line rather than read at once.
      await third.waitFor(/^GET \/api\/activities\/home 200$/, 30_000);
      const access = third.lines().filter((l) => l.event === "access");
      assert.ok(access.length > 0 && access.every((l) => l.store_source === undefined));
    } finally {
      assert.equal(await stop(third), 0);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
