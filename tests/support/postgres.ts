/**
 * A real PostgreSQL server for the tests that need one. `TEST_DATABASE_URL` (set by .ci/run,
 * which starts one cluster for the suite) wins; otherwise, when Debian's server binaries are
 * installed, a throwaway cluster is made with initdb under a temp dir and started with pg_ctl
 * on 127.0.0.1 and a free port, as `nobody` when we are root (PostgreSQL refuses to run as
 * root). Without either, `POSTGRES_SKIP` says why and the tests that need a server are ignored.
 */

/** Where Debian puts the server binaries (postgresql-15), then the PATH. */
const BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin"];

/** The directory holding initdb and pg_ctl, if any. */
export function findPostgresBin(): string | undefined {
  for (const dir of BIN_DIRS) {
    try {
      Deno.statSync(`${dir}/initdb`);
      Deno.statSync(`${dir}/pg_ctl`);
      return dir;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Why server tests are skipped, or undefined when a server is available. */
export const POSTGRES_SKIP: string | undefined = Deno.env.get("TEST_DATABASE_URL") ||
    findPostgresBin()
  ? undefined
  : "needs PostgreSQL: set TEST_DATABASE_URL or install postgresql-15 (initdb, pg_ctl)";

/** A running cluster of ours. */
export interface PostgresCluster {
  /** Superuser URL, with its password. */
  url: string;
  password: string;
  port: number;
  /** The cluster's data directory (postmaster.pid names the server's process). */
  dataDir: string;
  /** Stops the server (fast shutdown), keeping the data directory. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and deletes its files. */
  destroy(): Promise<void>;
}

async function run(cmd: string, args: string[], asUser: string | undefined): Promise<string> {
  const [program, argv] = asUser ? ["runuser", ["-u", asUser, "--", cmd, ...args]] : [cmd, args];
  const out = await new Deno.Command(program, { args: argv, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** initdb + pg_ctl start under a fresh temp dir; the superuser `postgres` has a password. */
export async function startCluster(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(POSTGRES_SKIP);
  const asUser = Deno.uid() === 0 ? "nobody" : undefined;
  const root = await Deno.makeTempDir({ prefix: "cruddur-pg-" });
  await Deno.chmod(root, 0o755);
  const data = `${root}/data`;
  await Deno.mkdir(data, { mode: 0o700 });
  const password = `pw-${crypto.randomUUID()}`;
  const pwfile = `${root}/pwfile`;
  await Deno.writeTextFile(pwfile, password + "\n");
  if (asUser) {
    const passwd = await Deno.readTextFile("/etc/passwd");
    const entry = passwd.split("\n").find((line) => line.startsWith(`${asUser}:`))!.split(":");
    await Deno.chown(data, Number(entry[2]), Number(entry[3]));
    await Deno.chown(pwfile, Number(entry[2]), Number(entry[3]));
  }
  await run(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pwfile}`,
    "--no-sync",
  ], asUser);
  const port = freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${data}`,
    "-c fsync=off",
    "-c max_connections=50",
  ].join(" ");
  const start = () =>
    run(
      `${bin}/pg_ctl`,
      ["-D", data, "-o", options, "-l", `${data}/server.log`, "-w", "start"],
      asUser,
    )
      .then(() => {});
  const stop = () =>
    run(`${bin}/pg_ctl`, ["-D", data, "-m", "fast", "-w", "stop"], asUser).then(() => {});
  await start();
  let running = true;
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    password,
    port,
    dataDir: data,
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await stop().catch(() => {});
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** A server to test against: TEST_DATABASE_URL's, or a cluster of our own. */
export interface PostgresServer {
  /** A URL of the server's `postgres` database (a superuser). */
  url: string;
  /** Our cluster's data directory; undefined for TEST_DATABASE_URL's server. */
  dataDir?: string;
  /** A URL of a new, empty database on it (dropped by `close`). */
  freshDatabase(): Promise<string>;
  close(): Promise<void>;
}

/** Connects to TEST_DATABASE_URL or starts a throwaway cluster. */
export async function postgresServer(): Promise<PostgresServer> {
  const given = Deno.env.get("TEST_DATABASE_URL");
  const cluster = given ? undefined : await startCluster();
  const url = given ?? cluster!.url;
  const { default: postgres } = await import("postgres");
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const made: string[] = [];
  return {
    url,
    ...(cluster ? { dataDir: cluster.dataDir } : {}),
    async freshDatabase() {
      const name = `cruddur_test_${crypto.randomUUID().replaceAll("-", "")}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      made.push(name);
      const next = new URL(url);
      next.pathname = `/${name}`;
      return next.href;
    },
    async close() {
      for (const name of made) {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      }
      await admin.end({ timeout: 5 });
      await cluster?.destroy();
    },
  };
}
