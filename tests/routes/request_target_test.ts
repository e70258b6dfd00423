import assert from "node:assert/strict";
import { buildApp, serve } from "../support/harness.ts";
import { bodyOf, rawExchange, statusOf } from "../support/raw_http.ts";
import { startRollbarStandIn } from "../support/rollbar_standin.ts";
import { isValidHost } from "../../routes/request_target.ts";

Deno.test("Host: x/rollbar/test? does not route GET /api/activities/home to /rollbar/test: 400 invalid_host, the target recorded", async () => {
  const rollbar = startRollbarStandIn();
  const h = await buildApp({
    ROLLBAR_ACCESS_TOKEN: "rollbar-token",
    ROLLBAR_ENDPOINT: rollbar.endpoint,
  });
  const server = serve(h.app);
  try {
    const port = Number(new URL(server.url).port);
    for (const host of ["x/rollbar/test?", "x/rollbar/test#", "a@b", "x y", "x:port"]) {
      const answer = await rawExchange(port, [
        `GET /api/activities/home?term=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ]);
      assert.equal(statusOf(answer), 400, `${host}: ${answer.slice(0, 60)}`);
      assert.deepEqual(JSON.parse(bodyOf(answer)), ["invalid_host"], host);
      assert.doesNotMatch(answer, /Hello World/);
    }
    await h.telemetry.forceFlush(Date.now() + 3000);
    assert.equal(rollbar.bodies.length, 0, "the Rollbar test route never ran");
    const access = h.events().filter((e) => e.event === "access");
    assert.equal(access.length, 5);
    for (const event of access) {
      assert.equal(event.path, "/api/activities/home");
      assert.equal(event.status, 400);
    }
    for (const span of h.exporter.spans) {
      assert.equal(span.attributes["url.path"], "/api/activities/home");
    }
    assert.ok(
      !h.lines.some((l) => l.includes("rollbar/test")),
      "no recorded path names /rollbar/test",
    );
    // A valid Host still works, with or without a port, IPv6 too.
    for (const host of ["localhost", "127.0.0.1:8080", "[::1]:4567", "api.example.com."]) {
      const answer = await rawExchange(port, [
        `GET /api/activities/home HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ]);
      assert.equal(statusOf(answer), 200, host);
    }
  } finally {
    await server.close();
    await h.close();
    await rollbar.close();
  }
});

Deno.test("isValidHost accepts host[:port] and nothing else", () => {
  for (
    const ok of ["a", "a.b", "a-b.c:1", "1.2.3.4", "[::1]", "[2001:db8::1]:443", "under_score"]
  ) {
    assert.ok(isValidHost(ok), ok);
  }
  for (
    const bad of ["", "a/b", "a?b", "a#b", "a@b", "a b", "a:", "a:b", ":80", "[::1", "a:123456"]
  ) {
    assert.ok(!isValidHost(bad), bad);
  }
});
