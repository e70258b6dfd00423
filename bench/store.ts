// deno-lint-ignore-file no-console -- a command-line report: printing is its job
/**
 * The store's own cost per request, per implementation, and PGlite's cold start: what issue 16
 * asks of the bench that `deno task bench` (whose rows run on `memory:`) does not measure yet.
 *
 *   deno run -A bench/store.ts            # memory, PGlite, and a server when one is available
 *
 * Per store: 200 posts, then the home feed's first page (20 with replies) read N times in a
 * row, median of 5 rounds, in µs per read; plus one post written per op. A server comes from
 * TEST_DATABASE_URL or a throwaway cluster (tests/support/postgres.ts). Cold start: main.ts on
 * PGlite spawned on an empty and on an existing DATA_DIR, time to the first 200 on the feed.
 */
import { createMemoryStore } from "../services/store/memory.ts";
import { baseEnv } from "./lib.ts";
import { openStore, type Store } from "../services/store/mod.ts";
import { findPostgresBin, postgresServer } from "../tests/support/postgres.ts";

const READS = 300;
const ROUNDS = 5;
const USER = "andrewbrown";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(name: string, store: Store): Promise<string> {
  const now = Date.now();
  const writes: number[] = [];
  for (let i = 0; i < 200; i++) {
    const started = performance.now();
    await store.addActivity({
      uuid: crypto.randomUUID(),
      handle: i % 3 ? USER : "worf",
      message: `post ${i}`,
      createdAt: now + i,
      expiresAt: now + 86_400_000,
    });
    writes.push(performance.now() - started);
  }
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    for (let i = 0; i < READS; i++) await store.activities(now + 500, { limit: 20 });
    rounds.push((performance.now() - started) / READS * 1000);
  }
  return `| ${name} | ${median(rounds).toFixed(0)} | ${(median(writes) * 1000).toFixed(0)} |`;
}

async function coldStart(dataDir: string): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      `--allow-write=${dataDir}`,
      "main.ts",
    ],
    cwd: new URL("..", import.meta.url),
    env: { ...baseEnv(port), DATA_DIR: dataDir, LOG_LEVEL: "warn" },
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/activities/home`);
        await res.body?.cancel();
        if (res.status === 200) return performance.now() - started;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

const rows = ["| store | home page read, µs | one post written, µs |", "| --- | --- | --- |"];
rows.push(await measure("memory", createMemoryStore({ seededAt: Date.now(), currentUser: USER })));
const tmp = await Deno.makeTempDir({ prefix: "cruddur-bench-" });
try {
  const pglite = await openStore({
    database: { kind: "pglite", dataDir: `${tmp}/store` },
    seededAt: Date.now(),
    currentUser: USER,
  });
  rows.push(await measure("PGlite (file)", pglite));
  await pglite.close();
  if (Deno.env.get("TEST_DATABASE_URL") || findPostgresBin()) {
    const server = await postgresServer();
    const store = await openStore({
      database: {
        kind: "postgres",
        url: await server.freshDatabase(),
        poolMax: 10,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 5000,
      },
      seededAt: Date.now(),
      currentUser: USER,
    });
    rows.push(await measure("PostgreSQL server (loopback)", store));
    await store.close();
    await server.close();
  }
  console.log(rows.join("\n"));
  const fresh = await coldStart(`${tmp}/cold`);
  const warm = [];
  for (let i = 0; i < 3; i++) warm.push(await coldStart(`${tmp}/cold`));
  console.log(
    `\nPGlite cold start, spawn to first 200: empty DATA_DIR ${fresh.toFixed(0)} ms, ` +
      `existing DATA_DIR median ${median(warm).toFixed(0)} ms (goal: 600 ms)`,
  );
} finally {
  await Deno.remove(tmp, { recursive: true });
}
