/**
 * A PostgreSQL server through porsager/postgres: a bounded pool, a connect timeout and a
 * server-side statement timeout, prepared statements for every parameterised query.
 */
import postgres from "postgres";
import type { DatabaseInfo, SqlClient, SqlSession } from "./sql_client.ts";

/** Pool and timeout settings (from config.ts). */
export interface PostgresOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

/** The URL's parts the traces may show: never the password. */
export function databaseInfo(url: string): DatabaseInfo {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.slice(1)) || "postgres";
  const user = decodeURIComponent(parsed.username) || "postgres";
  const address = parsed.hostname.replace(/^\[|\]$/g, "") || "localhost";
  const port = Number(parsed.port || 5432);
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `postgresql://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}`,
    database,
    user,
    address,
    port,
  };
}

type Sql = postgres.Sql | postgres.TransactionSql;

function session(sql: Sql): SqlSession {
  return {
    async query<T>(text: string, params: readonly unknown[]) {
      return [...await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])] as T[];
    },
    async exec(text: string) {
      // Without parameters porsager/postgres uses the simple protocol: a script may hold
      // several statements.
      await sql.unsafe(text);
    },
  };
}

/** Creates the pool; connections open lazily, on the first query. */
export function openPostgres(options: PostgresOptions): SqlClient {
  const sql = postgres(options.url, {
    max: options.poolMax,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    max_lifetime: 30 * 60,
    connection: { statement_timeout: options.statementTimeoutMs, application_name: "cruddur" },
    // Notices (e.g. "relation already exists, skipping") are not the console's business.
    onnotice: () => {},
  });
  return {
    ...session(sql),
    info: databaseInfo(options.url),
    transaction: (fn) => sql.begin((tx) => fn(session(tx))) as Promise<never>,
    close: () => sql.end({ timeout: 5 }),
  };
}
