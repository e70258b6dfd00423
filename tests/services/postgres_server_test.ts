/**
 * What only a real PostgreSQL server shows: replicas migrating at once, two app processes on
 * one database, queries traced into every span form, the database going away and coming back
 * while serving, and an unreachable database at startup. Tests marked "needs PostgreSQL" are
 * ignored without a server (see tests/support/postgres.ts); the startup test always runs.
 */
import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { createApp } from "../../app.ts";
import { openStore, type Store } from "../../services/store/mod.ts";
import {
  buildSegment,
  emptyDocumentCounters,
  type SpanNode,
  type XRayDocument,
} from "../../telemetry/xray/document.ts";
import { buildApp, postJson } from "../support/harness.ts";
import { startBackend } from "../support/backend.ts";
import { childEnv } from "../support/child_env.ts";
import {
  findPostgresBin,
  POSTGRES_SKIP,
  type PostgresServer,
  postgresServer,
  startCluster,
} from "../support/postgres.ts";

const USER = "andrewbrown";
const needsServer = POSTGRES_SKIP ? { ignore: true } : {};
const needsBinaries = findPostgresBin() ? {} : { ignore: true };
if (POSTGRES_SKIP) {
  // deno-lint-ignore no-console
  console.warn(`postgres server tests are skipped (all but the startup one): ${POSTGRES_SKIP}`);
}

let shared: PostgresServer | undefined;
/** One server for the file (a cluster takes seconds to make); each test takes new databases. */
async function sharedServer(): Promise<PostgresServer> {
  return shared ??= await postgresServer();
}

function database(url: string) {
  return {
    kind: "postgres" as const,
    url,
    poolMax: 4,
    connectTimeoutMs: 2000,
    statementTimeoutMs: 5000,
  };
}

Deno.test({
  name: "two replicas starting at once apply each migration once and seed once (needs PostgreSQL)",
  ...needsServer,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await sharedServer();
    const stores: Store[] = [];
    try {
      const url = await server.freshDatabase();
      const now = Date.now();
      stores.push(
        ...await Promise.all(
          [0, 1, 2].map(() =>
            openStore({ database: database(url), seededAt: now, currentUser: USER })
          ),
        ),
      );
      const { default: postgres } = await import("postgres");
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const [migrations] = await sql`SELECT count(*)::int AS n FROM schema_migrations`;
        assert.equal(migrations?.n, 1);
        const [seeded] = await sql`SELECT count(*)::int AS n FROM activities`;
        assert.equal(seeded?.n, 4, "the seed went in once");
      } finally {
        await sql.end();
      }
    } finally {
      for (const store of stores) await store.close();
    }
  },
});

Deno.test({
  name: "two main.ts processes on one PostgreSQL see each other's writes (needs PostgreSQL)",
  ...needsServer,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await sharedServer();
    const url = await server.freshDatabase();
    const env = { DATABASE_URL: url };
    const [a, b] = await Promise.all([startBackend(env), startBackend(env)]);
    try {
      const res = await fetch(`${a.url}/api/activities`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: "written on replica A", ttl: "1-day" }),
      });
      assert.equal(res.status, 200);
      const { uuid } = await res.json();
      const onB = await (await fetch(`${b.url}/api/activities/${uuid}`)).json();
      assert.equal(onB.message, "written on replica A");
      const reply = await fetch(`${b.url}/api/activities/${uuid}/reply`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: "answered on replica B" }),
      });
      assert.equal(reply.status, 200);
      const onA = await (await fetch(`${a.url}/api/activities/${uuid}`)).json();
      assert.equal(onA.replies_count, 1);
      assert.equal(onA.replies[0].message, "answered on replica B");
      // Both started on an empty database: the sample data is there once, not twice.
      const home = await (await fetch(`${a.url}/api/activities/home`)).json();
      assert.equal(home.length, 5);
      for (const backend of [a, b]) {
        const text = JSON.stringify(backend.lines());
        assert.ok(!text.includes(new URL(url).password), "no password in the logs");
      }
    } finally {
      for (const backend of [a, b]) {
        backend.child.kill("SIGTERM");
        await backend.child.status;
        await backend.done;
        await backend.stderr;
      }
    }
  },
});

function tree(spans: ReadableSpan[], root: ReadableSpan): SpanNode {
  return {
    span: root,
    children: spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId)
      .map((child) => tree(spans, child)),
  };
}

function flatten(doc: XRayDocument): XRayDocument[] {
  return [doc, ...(doc.subsegments ?? []).flatMap(flatten)];
}

Deno.test({
  name:
    "every query is a CLIENT span per the DB conventions and an X-Ray sql subsegment (needs PostgreSQL)",
  ...needsServer,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await sharedServer();
    const h = await buildApp();
    const url = await server.freshDatabase();
    const password = decodeURIComponent(new URL(url).password);
    const store = await openStore({
      database: database(url),
      seededAt: h.clock(),
      currentUser: USER,
      traced: h.telemetry.traced,
    });
    try {
      const app = createApp({ config: h.config, telemetry: h.telemetry, store, clock: h.clock });
      h.exporter.reset();
      const hostile = "x'); DROP TABLE activities; --";
      const res = await postJson({ ...h, app }, "/api/activities", {
        message: hostile,
        ttl: "1-day",
      });
      assert.equal(res.status, 200);
      const home = await app.request("/api/activities/home");
      assert.equal((await home.json())[0].message, hostile);

      const query = h.exporter.spans.find((s) => s.name === "SELECT activities")!;
      assert.ok(query, h.exporter.spans.map((s) => s.name).join(", "));
      assert.equal(query.kind, SpanKind.CLIENT);
      const { hostname, port, pathname } = new URL(url);
      assert.equal(query.attributes["db.system.name"], "postgresql");
      assert.equal(query.attributes["db.namespace"], pathname.slice(1));
      assert.equal(query.attributes["db.operation.name"], "SELECT");
      assert.equal(query.attributes["db.collection.name"], "activities");
      assert.equal(query.attributes["server.address"], hostname);
      assert.equal(query.attributes["server.port"], Number(port));
      assert.match(String(query.attributes["db.query.text"]), /\$1::timestamptz/);
      const insert = h.exporter.byName("INSERT activities");
      assert.ok(
        !String(insert.attributes["db.query.text"]).includes("DROP TABLE"),
        "parameterised",
      );
      // The query span is a child of the service span, itself under the request's span.
      const server_ = h.exporter.byName("GET /api/activities/home");
      const service = h.exporter.byName("home-activities-mock-data");
      assert.equal(query.parentSpanContext?.spanId, service.spanContext().spanId);
      assert.equal(service.parentSpanContext?.spanId, server_.spanContext().spanId);

      const segment = buildSegment(
        {
          traceId: "1-5759e988-bd862e3fe1be46a994272793",
          parentId: undefined,
          name: "backend",
          otelTraceId: undefined,
        },
        tree(h.exporter.spans, server_),
        emptyDocumentCounters(),
      );
      const sub = flatten(segment).find((d) => d.sql !== undefined);
      assert.ok(sub, JSON.stringify(segment));
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.name, `${pathname.slice(1)}@${hostname}`);
      assert.equal(sub.sql?.database_type, "PostgreSQL");
      assert.equal(sub.sql?.url, `postgresql://postgres@${hostname}:${port}${pathname}`);
      assert.equal(sub.sql?.user, "postgres");
      assert.match(sub.sql?.database_version ?? "", /^\d+/);
      assert.equal(sub.sql?.sanitized_query, query.attributes["db.query.text"]);

      const everything = JSON.stringify([
        h.exporter.spans.map((s) => ({ a: s.attributes, e: s.events, n: s.name })),
        segment,
        h.lines,
      ]);
      assert.ok(!everything.includes(password), "the password is in no span, segment or log");
    } finally {
      await store.close();
      await h.close();
    }
  },
});

Deno.test({
  name:
    "database down while serving: 503 database_unavailable + Retry-After, ERROR span, not ready; back without a restart (needs PostgreSQL binaries)",
  ...needsBinaries,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster();
    const h = await buildApp();
    const store = await openStore({
      database: database(cluster.url),
      seededAt: h.clock(),
      currentUser: USER,
      traced: h.telemetry.traced,
    });
    try {
      const app = createApp({ config: h.config, telemetry: h.telemetry, store, clock: h.clock });
      assert.equal((await app.request("/api/activities/home")).status, 200);
      await cluster.stop();
      h.exporter.reset();
      for (const path of ["/api/activities/home", "/api/message_groups"]) {
        const res = await app.request(path);
        assert.equal(res.status, 503, path);
        assert.equal(res.headers.get("retry-after"), "1");
        assert.deepEqual(await res.json(), ["database_unavailable"]);
      }
      const write = await postJson({ ...h, app }, "/api/activities", {
        message: "while down",
        ttl: "1-day",
      });
      assert.equal(write.status, 503);
      const failed = h.exporter.spans.filter((s) =>
        s.kind === SpanKind.CLIENT && s.status.code === SpanStatusCode.ERROR
      );
      assert.ok(failed.length >= 3, "each failed query is an ERROR span");
      assert.ok(failed.every((s) => s.events.some((e) => e.name === "exception")));
      assert.equal(
        h.exporter.byName("GET /api/activities/home").status.code,
        SpanStatusCode.ERROR,
      );
      const health = await app.request("/api/health-check");
      assert.equal(health.status, 503);
      const body = await health.json();
      assert.deepEqual(body.database, { store: "postgres", ready: false });
      assert.ok(!JSON.stringify(body).includes(String(cluster.port)), "no address leaked");

      await cluster.start();
      // The pool reconnects on the next query: no restart.
      assert.equal((await app.request("/api/activities/home")).status, 200);
      assert.equal((await app.request("/api/health-check")).status, 200);
    } finally {
      await store.close();
      await h.close();
      await cluster.destroy();
    }
  },
});

Deno.test("an unreachable database at startup: retries with backoff, then one line and exit 1, no password", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const password = "s3cret-do-not-print";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("../..", import.meta.url),
    clearEnv: true,
    env: childEnv({
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_FORMAT: "json",
      NO_COLOR: "1",
      DATABASE_URL: `postgresql://cruddur:${password}@127.0.0.1:${port}/cruddur`,
      DATABASE_STARTUP_TIMEOUT_MS: "1500",
      DATABASE_CONNECT_TIMEOUT_MS: "500",
    }),
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  const retries = stdout.split("\n").filter((l) => l.includes("retrying in"));
  assert.ok(retries.length >= 2, `retried: ${stdout}`);
  const failure = stderr.trim().split("\n").filter((l) => l.startsWith("startup failed"));
  assert.equal(failure.length, 1, stderr);
  assert.match(failure[0]!, /PostgreSQL server postgresql:\/\/cruddur@127\.0\.0\.1:\d+\/cruddur/);
  assert.match(failure[0]!, /gave up after \d+ attempts \(DATABASE_STARTUP_TIMEOUT_MS=1500\)/);
  assert.ok(!stdout.includes(password) && !stderr.includes(password), "no password printed");
  assert.ok(!stdout.includes("listening on"), "never served");
});

Deno.test({
  name: "postgres server tests: stop the shared server",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await shared?.close();
  },
});
