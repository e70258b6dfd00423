/**
 * The store rows' data, made once per bench run: a PGlite data directory and a database on a
 * PostgreSQL server, each migrated and seeded before any server under test starts (so no row
 * pays initdb or the seed inside its measurement, and a baseline and its full row read the
 * same rows). The server is TEST_DATABASE_URL's or a throwaway cluster (tests/support/
 * postgres.ts: initdb + pg_ctl on 127.0.0.1 and a free port, as `nobody` when root); without
 * PostgreSQL the server rows are skipped, with the reason.
 */
import { openStore } from "../services/store/mod.ts";
import { POSTGRES_SKIP, postgresServer } from "../tests/support/postgres.ts";
import type { BenchConfig, StoreTargets } from "./lib.ts";

/** What `prepareStores` made. */
export interface PreparedStores {
  targets: StoreTargets;
  /** Configurations that cannot run here, with why. */
  skipped: Map<string, string>;
  /** CPU ms used so far by the PostgreSQL server's processes; undefined when not ours. */
  databaseCpuMs(): Promise<number | undefined>;
  close(): Promise<void>;
}

const USER = "andrewbrown";

/** Makes the stores the given configurations need. */
export async function prepareStores(
  configs: BenchConfig[],
  tmpDir: string,
): Promise<PreparedStores> {
  const targets: StoreTargets = {};
  const skipped = new Map<string, string>();
  const closers: Array<() => Promise<void>> = [];
  let clusterDir: string | undefined;
  if (configs.some((c) => c.store === "pglite")) {
    targets.pgliteDir = `${tmpDir}/pglite`;
    const store = await openStore({
      database: { kind: "pglite", dataDir: targets.pgliteDir },
      seededAt: Date.now(),
      currentUser: USER,
    });
    await store.close();
  }
  if (configs.some((c) => c.store === "postgres")) {
    if (POSTGRES_SKIP) {
      for (const c of configs) if (c.store === "postgres") skipped.set(c.name, POSTGRES_SKIP);
    } else {
      const server = await postgresServer();
      closers.push(() => server.close());
      clusterDir = server.dataDir;
      targets.postgresUrl = await server.freshDatabase();
      const store = await openStore({
        database: {
          kind: "postgres",
          url: targets.postgresUrl,
          poolMax: 2,
          connectTimeoutMs: 5000,
          statementTimeoutMs: 5000,
        },
        seededAt: Date.now(),
        currentUser: USER,
      });
      await store.close();
    }
  }
  return {
    targets,
    skipped,
    databaseCpuMs: () => clusterDir ? clusterCpuMs(clusterDir) : Promise.resolve(undefined),
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}

const TICK_MS = 10; // USER_HZ is 100 on Linux.

/**
 * CPU time of a cluster: the postmaster's own and its reaped children's, plus every live
 * child's (the backends serving the pool). /proc of processes not ours is read through `cat`:
 * Deno grants it only with --allow-all.
 */
async function clusterCpuMs(dataDir: string): Promise<number | undefined> {
  let postmaster: number;
  try {
    postmaster = Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split("\n")[0]);
  } catch {
    return undefined;
  }
  const out = await new Deno.Command("sh", {
    args: ["-c", "cat /proc/[0-9]*/stat 2>/dev/null"],
    stdout: "piped",
    stderr: "null",
  }).output();
  let ticks = 0;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const pid = Number(line.slice(0, line.indexOf(" ")));
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    const [ppid, utime, stime, cutime, cstime] = [1, 11, 12, 13, 14].map((i) => Number(fields[i]));
    if (pid === postmaster) ticks += utime! + stime! + cutime! + cstime!;
    else if (ppid === postmaster) ticks += utime! + stime!;
  }
  return ticks * TICK_MS;
}
