/**
 * The default store: `deno task start` without DATABASE_URL serves from PGlite under DATA_DIR,
 * and a post made before a restart is still there after it (two real main.ts processes).
 */
import assert from "node:assert/strict";
import { startBackend } from "../support/backend.ts";

async function stop(backend: Awaited<ReturnType<typeof startBackend>>): Promise<number> {
  backend.child.kill("SIGTERM");
  const status = await backend.child.status;
  await backend.done;
  await backend.stderr;
  return status.code;
}

Deno.test("without DATABASE_URL main.ts keeps posts in PGlite under DATA_DIR across a restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "cruddur-data-" });
  // "" is unset for config.ts: the default store, as a user without DATABASE_URL gets.
  const env = { DATABASE_URL: "", DATA_DIR: dataDir };
  try {
    const first = await startBackend(env, { listenTimeoutMs: 120_000 });
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
      const health = await (await fetch(`${first.url}/api/health-check`)).json();
      assert.deepEqual(health.database, { store: "pglite", ready: true });
    } finally {
      assert.equal(await stop(first), 0);
    }
    const second = await startBackend(env, { listenTimeoutMs: 120_000 });
    try {
      const home = await (await fetch(`${second.url}/api/activities/home`)).json();
      const mine = home.find((a: { uuid: string }) => a.uuid === uuid);
      assert.equal(mine?.message, "Survives a restart 😀");
      // Seeded once: the sample posts are not inserted a second time.
      assert.equal(home.length, 5);
    } finally {
      assert.equal(await stop(second), 0);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
