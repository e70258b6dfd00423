import assert from "node:assert/strict";
import { buildApp, type Harness, withApp } from "../support/harness.ts";

const FRONTEND = "http://localhost:3000";
const BACKEND = "http://localhost:4567";
// A trailing slash and path on the configured URLs must not matter: origins are compared.
const CORS_ENV = { FRONTEND_URL: `${FRONTEND}/`, BACKEND_URL: `${BACKEND}/api` };

function preflight(h: Harness, origin: string, path = "/api/activities/home") {
  return Promise.resolve(h.app.request(path, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "traceparent, tracestate, content-type",
    },
  }));
}

function list(value: string | null): string[] {
  return (value ?? "").split(",").map((v) => v.trim().toLowerCase()).filter((v) => v !== "");
}

Deno.test("a CORS preflight from the frontend allows the tracing headers", async () => {
  await withApp(async (h) => {
    const res = await preflight(h, FRONTEND);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), FRONTEND);
    const headers = list(res.headers.get("access-control-allow-headers"));
    for (
      const name of [
        "traceparent",
        "tracestate",
        "baggage",
        "x-amzn-trace-id",
        "content-type",
        "authorization",
      ]
    ) {
      assert.ok(headers.includes(name), `allows ${name}`);
    }
    assert.deepEqual(list(res.headers.get("access-control-allow-methods")).sort(), [
      "get",
      "head",
      "options",
      "post",
    ]);
    assert.equal(res.headers.get("access-control-max-age"), "600");
    // Credentials are not in use until authentication arrives.
    assert.equal(res.headers.get("access-control-allow-credentials"), null);
    assert.equal(await res.text(), "");
  }, CORS_ENV);
});

Deno.test("a CORS preflight from the backend's own origin is allowed too", async () => {
  await withApp(async (h) => {
    const res = await preflight(h, BACKEND, "/api/activities");
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), BACKEND);
  }, CORS_ENV);
});

Deno.test("a CORS preflight from another origin gets no Access-Control-Allow-Origin", async () => {
  await withApp(async (h) => {
    for (
      const origin of ["http://evil.example", "http://localhost:3001", "https://localhost:3000"]
    ) {
      const res = await preflight(h, origin);
      assert.equal(res.headers.get("access-control-allow-origin"), null, origin);
    }
  }, CORS_ENV);
});

Deno.test("a CORS request from the frontend exposes traceresponse and answers with its origin", async () => {
  await withApp(async (h) => {
    const res = await h.app.request("/api/activities/home", { headers: { origin: FRONTEND } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), FRONTEND);
    assert.ok(list(res.headers.get("vary")).includes("origin"));
    const exposed = list(res.headers.get("access-control-expose-headers"));
    assert.ok(exposed.includes("traceresponse"));
    assert.ok(exposed.includes("x-amzn-trace-id"));
    assert.ok(res.headers.get("traceresponse"), "the exposed header is really sent");
    // The per-request trace headers join the kept set: its own headers are all still there.
    assert.equal(
      res.headers.get("server-timing"),
      `trace;desc=${res.headers.get("traceresponse")}`,
    );
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");

    const error = await h.app.request("/api/activities/search", { headers: { origin: FRONTEND } });
    assert.equal(error.status, 422);
    assert.equal(error.headers.get("access-control-allow-origin"), FRONTEND, "errors too");

    const foreign = await h.app.request("/api/activities/home", {
      headers: { origin: "http://evil.example" },
    });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  }, CORS_ENV);
});

Deno.test("CORS without FRONTEND_URL or BACKEND_URL allows no origin at all", async () => {
  const h = await buildApp();
  try {
    const res = await preflight(h, FRONTEND);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    const get = await h.app.request("/api/activities/home", { headers: { origin: FRONTEND } });
    assert.equal(get.headers.get("access-control-allow-origin"), null);
  } finally {
    await h.close();
  }
});

Deno.test("an allowed origin may read Server-Timing (exposed, Timing-Allow-Origin); others may not", async () => {
  await withApp(async (h) => {
    const allowed = await h.app.request("/api/activities/home", { headers: { origin: FRONTEND } });
    await allowed.arrayBuffer();
    assert.equal(allowed.headers.get("timing-allow-origin"), FRONTEND);
    assert.ok(list(allowed.headers.get("access-control-expose-headers")).includes("server-timing"));
    assert.match(allowed.headers.get("server-timing") ?? "", /^trace;desc=00-[0-9a-f]{32}-/);
    const other = await h.app.request("/api/activities/home", {
      headers: { origin: "https://evil.example" },
    });
    await other.arrayBuffer();
    assert.equal(other.headers.get("timing-allow-origin"), null);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  }, CORS_ENV);
});
