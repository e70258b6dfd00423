import assert from "node:assert/strict";
import { createApp } from "../../app.ts";
import { createMemoryStore, type Store } from "../../services/store.ts";
import { buildApp, withApp } from "../support/harness.ts";

const LIMIT = 64 * 1024;

/** Asserts the one error shape: JSON array of codes, secure headers present. */
async function assertError(res: Response, status: number, codes: string[], what: string) {
  assert.equal(res.status, status, what);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, what);
  assert.deepEqual(await res.json(), codes, what);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN", what);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer", what);
  assert.ok(res.headers.get("strict-transport-security"), what);
}

/** A JSON body of exactly `bytes` bytes whose message is far too long (422 if it gets through). */
function jsonOfSize(bytes: number): string {
  const shell = JSON.stringify({ ttl: "1-day", message: "" });
  return JSON.stringify({ ttl: "1-day", message: "x".repeat(bytes - shell.length) });
}

Deno.test("POST with a non-JSON content type answers 415 unsupported_media_type", async () => {
  await withApp(async (h) => {
    const cases: Array<[string, Record<string, string>]> = [
      ["text/plain", { "content-type": "text/plain" }],
      ["form", { "content-type": "application/x-www-form-urlencoded" }],
      ["missing", {}],
    ];
    for (const [what, headers] of cases) {
      const res = await h.app.request("/api/activities", {
        method: "POST",
        headers,
        body: JSON.stringify({ ttl: "1-day", message: "hi" }),
      });
      await assertError(res, 415, ["unsupported_media_type"], what);
    }
    // A charset parameter and +json types are still JSON.
    for (const type of ["application/json; charset=utf-8", "application/vnd.cruddur+json"]) {
      const res = await h.app.request("/api/activities", {
        method: "POST",
        headers: { "content-type": type },
        body: JSON.stringify({ ttl: "1-day", message: "hi" }),
      });
      assert.equal(res.status, 200, type);
    }
  });
});

Deno.test("POST with malformed JSON answers 400 malformed_json", async () => {
  await withApp(async (h) => {
    for (const body of ["{", "", "{'message': 'hi'}", "undefined", '{"a":1}x']) {
      const res = await h.app.request("/api/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      await assertError(res, 400, ["malformed_json"], JSON.stringify(body));
    }
  });
});

Deno.test("POST with a JSON array, string or null body answers 400 body_must_be_object", async () => {
  await withApp(async (h) => {
    for (const body of ["[]", '[{"message":"hi","ttl":"1-day"}]', '"hi"', "null", "42"]) {
      const res = await h.app.request("/api/activities", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      await assertError(res, 400, ["body_must_be_object"], body);
    }
  });
});

Deno.test("POST over 64 KiB with a declared Content-Length answers 413 payload_too_large", async () => {
  await withApp(async (h) => {
    const atLimit = jsonOfSize(LIMIT);
    assert.equal(new TextEncoder().encode(atLimit).length, LIMIT);
    const ok = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(LIMIT) },
      body: atLimit,
    });
    // Exactly at the limit the body is read and validated.
    await assertError(ok, 422, ["message_exceed_max_chars"], "at limit");

    const over = jsonOfSize(LIMIT + 1);
    const res = await h.app.request("/api/activities", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(LIMIT + 1) },
      body: over,
    });
    await assertError(res, 413, ["payload_too_large"], "over limit");
  });
});

Deno.test("POST over 64 KiB through a real server answers 413 with and without Content-Length", async () => {
  const h = await buildApp();
  // Records what the client announced, to prove the second request really is unsized.
  const announced: Array<string | null> = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => {
      announced.push(req.headers.get("content-length"));
      return h.app.fetch(req, info);
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    const declared = await fetch(`${url}/api/activities`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: jsonOfSize(LIMIT + 1),
    });
    await assertError(declared, 413, ["payload_too_large"], "declared length");

    // A chunked stream announces no size; the limit must count the bytes as they arrive.
    const chunk = new TextEncoder().encode("x".repeat(8 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"ttl":"1-day","message":"'));
      },
      pull(controller) {
        if (sent >= 10) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        sent++;
        controller.enqueue(chunk);
      },
    });
    const chunked = await fetch(`${url}/api/activities`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
    });
    await assertError(chunked, 413, ["payload_too_large"], "chunked");

    // Nothing was stored by either attempt.
    const home = await (await fetch(`${url}/api/activities/home`)).json();
    assert.equal(home.length, 4);
    assert.deepEqual(announced, [String(LIMIT + 1), null, null]);
  } finally {
    await server.shutdown();
    await h.close();
  }
});

Deno.test("an unknown route answers 404 route_not_found", async () => {
  await withApp(async (h) => {
    for (const path of ["/", "/api", "/api/nope", "/api/activities/home/extra", "/rollbar"]) {
      await assertError(await h.app.request(path), 404, ["route_not_found"], path);
    }
  });
});

Deno.test("a known path with the wrong method answers 405 with an Allow header", async () => {
  await withApp(async (h) => {
    const cases: Array<[string, string, string]> = [
      ["POST", "/api/activities/home", "GET, HEAD, OPTIONS"],
      ["DELETE", "/api/activities/search", "GET, HEAD, OPTIONS"],
      ["GET", "/api/activities", "POST, OPTIONS"],
      ["PUT", "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee", "GET, HEAD, OPTIONS"],
      ["GET", "/api/activities/68f126b0-1ceb-4a33-88be-d90fa7109eee/reply", "POST, OPTIONS"],
      ["POST", "/api/message_groups", "GET, HEAD, OPTIONS"],
      ["GET", "/api/messages", "POST, OPTIONS"],
      ["POST", "/api/health-check", "GET, HEAD, OPTIONS"],
      ["POST", "/rollbar/test", "GET, HEAD, OPTIONS"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await h.app.request(path, { method });
      assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
      await assertError(res, 405, ["method_not_allowed"], `${method} ${path}`);
    }
  });
});

Deno.test("422 and 404 answers from services carry the secure headers too", async () => {
  await withApp(async (h) => {
    await assertError(
      await h.app.request("/api/activities/search"),
      422,
      ["search_term_blank"],
      "422",
    );
    await assertError(
      await h.app.request(`/api/activities/${crypto.randomUUID()}`),
      404,
      ["activity_not_found"],
      "404",
    );
  });
});

Deno.test("an unexpected service failure answers 500 internal_error without leaking the cause", async () => {
  const h = await buildApp();
  try {
    const real = createMemoryStore({ seededAt: h.clock(), currentUser: "andrewbrown" });
    const broken: Store = {
      ...real,
      activities() {
        throw new Error("database password=hunter2 unreachable");
      },
    };
    const app = createApp({
      config: h.config,
      telemetry: h.telemetry,
      store: broken,
      clock: h.clock,
    });
    const res = await app.request("/api/activities/home");
    const text = await res.clone().text();
    await assertError(res, 500, ["internal_error"], "500");
    assert.ok(!text.includes("hunter2"));
    // The other routes still work on the same app.
    assert.equal((await app.request("/api/activities/notifications")).status, 200);
  } finally {
    await h.close();
  }
});
