import assert from "node:assert/strict";
import { TrieRouter } from "hono/router/trie-router";
import { StaticFirstRouter } from "../../routes/router.ts";

const ROUTES: Array<[string, string, string]> = [
  ["ALL", "*", "middleware"],
  ["GET", "/api/activities/home", "home"],
  ["GET", "/api/activities/:handle{@[^/]*}", "handle"],
  ["POST", "/api/activities", "create"],
  ["GET", "/api/activities/:uuid", "show"],
  ["POST", "/api/activities/:uuid/reply", "reply"],
];

function handlers(result: ReturnType<TrieRouter<string>["match"]>): unknown {
  return result[0].map(([handler, params]) => [handler, params]);
}

Deno.test("StaticFirstRouter matches what Hono's TrieRouter matches, static paths from a kept result", () => {
  const router = new StaticFirstRouter<string>();
  const trie = new TrieRouter<string>();
  for (const [method, path, handler] of ROUTES) {
    router.add(method, path, handler);
    trie.add(method, path, handler);
  }
  const cases: Array<[string, string]> = [
    ["GET", "/api/activities/home"],
    ["GET", "/api/activities/home"],
    ["POST", "/api/activities/home"],
    ["GET", "/api/activities/@andrewbrown"],
    ["GET", "/api/activities/1234"],
    ["POST", "/api/activities/1234/reply"],
    ["POST", "/api/activities"],
    ["DELETE", "/api/activities"],
    ["FOO", "/api/activities/home"],
    ["GET", "/nowhere"],
  ];
  for (const [method, path] of cases) {
    assert.deepEqual(
      handlers(router.match(method, path)),
      handlers(trie.match(method, path)),
      `${method} ${path}`,
    );
  }
  // A static path's result is the kept one, not a new walk.
  assert.equal(
    router.match("GET", "/api/activities/home"),
    router.match("GET", "/api/activities/home"),
  );
  // A method outside the standard set is walked every time (a client cannot grow the table).
  assert.notEqual(router.match("FOO", "/api/activities"), router.match("FOO", "/api/activities"));
  // A route added later is seen by a path that was kept before.
  router.add("GET", "/api/activities", "list");
  trie.add("GET", "/api/activities", "list");
  assert.deepEqual(
    handlers(router.match("GET", "/api/activities")),
    handlers(trie.match("GET", "/api/activities")),
  );
});
