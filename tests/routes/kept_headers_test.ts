import assert from "node:assert/strict";
import { keptHeaderSet } from "../../routes/kept_headers.ts";

const PAIRS: Array<[string, string]> = [
  ["content-type", "application/json"],
  ["X-Frame-Options", "SAMEORIGIN"],
  ["vary", "Origin"],
  ["Vary", "Accept"],
];

Deno.test("every answer built from a kept set carries all its headers, as a Headers object would", () => {
  const kept = keptHeaderSet(PAIRS);
  const expected = [...new Response("x", { headers: new Headers(PAIRS) }).headers];
  assert.deepEqual(expected, [
    ["content-type", "application/json"],
    ["vary", "Origin, Accept"],
    ["x-frame-options", "SAMEORIGIN"],
  ]);
  // The first answer derives the entries, the next ones reuse them.
  for (let i = 0; i < 3; i++) {
    const response = new Response(`{"n":${i}}`, { status: 201, headers: kept });
    assert.deepEqual([...response.headers], expected);
    assert.equal(response.status, 201);
  }
});

Deno.test("a kept set reads like a Headers object and refuses every change", () => {
  const kept = keptHeaderSet(PAIRS);
  assert.ok(kept instanceof Headers);
  assert.equal(kept.get("x-frame-options"), "SAMEORIGIN");
  assert.equal(kept.has("Vary"), true);
  const seen: string[] = [];
  kept.forEach((_value, name) => seen.push(name));
  assert.deepEqual(seen, ["content-type", "vary", "x-frame-options"]);
  assert.throws(() => kept.set("x-frame-options", "DENY"), TypeError);
  assert.throws(() => kept.append("x-extra", "1"), TypeError);
  assert.throws(() => kept.delete("vary"), TypeError);
  assert.throws(() => Object.defineProperty(kept, "x", { value: 1 }), TypeError);
  assert.equal(kept.get("x-frame-options"), "SAMEORIGIN");
  assert.equal([...new Response(null, { headers: kept }).headers].length, 3);
});

Deno.test("Deno.serve sends a kept set's headers on the wire, answer after answer", async () => {
  const kept = keptHeaderSet(PAIRS);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("{}", { headers: kept }),
  );
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    await response.body?.cancel();
    assert.equal(response.headers.get("x-frame-options"), "SAMEORIGIN");
    assert.equal(response.headers.get("vary"), "Origin, Accept");
    assert.equal(response.headers.get("content-type"), "application/json");
  }
});
