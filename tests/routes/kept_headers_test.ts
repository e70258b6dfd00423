import assert from "node:assert/strict";
import { keptHeaderSet, keptHeaderSetWith } from "../../routes/kept_headers.ts";

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

Deno.test("a kept set with per-request headers answers with both, on the wire too", async () => {
  const kept = keptHeaderSet(PAIRS);
  let n = 0;
  const extra = (): Array<[string, string]> => [
    ["traceresponse", `00-${"a".repeat(31)}${n}-${"b".repeat(15)}${n}-01`],
    ["server-timing", `traceparent;desc="${n}"`],
  ];
  const first = keptHeaderSetWith(kept, extra());
  assert.ok(first !== undefined, "this runtime takes a kept set with per-request headers");
  assert.deepEqual([...new Response("{}", { headers: first }).headers], [
    ["content-type", "application/json"],
    ["server-timing", 'traceparent;desc="0"'],
    ["traceresponse", `00-${"a".repeat(31)}0-${"b".repeat(15)}0-01`],
    ["vary", "Origin, Accept"],
    ["x-frame-options", "SAMEORIGIN"],
  ]);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("{}", { headers: keptHeaderSetWith(kept, extra()) }),
  );
  for (n = 1; n <= 3; n++) {
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    await response.body?.cancel();
    assert.equal(response.headers.get("server-timing"), `traceparent;desc="${n}"`);
    assert.equal(response.headers.get("traceresponse")?.slice(-4), `${n}-01`);
    assert.equal(response.headers.get("vary"), "Origin, Accept");
    assert.equal(response.headers.get("x-frame-options"), "SAMEORIGIN");
  }
  // The kept set itself is unchanged by the answers built from it.
  assert.deepEqual([...new Response("{}", { headers: kept }).headers].length, 3);
});

Deno.test("a per-request header Deno would refuse, or would have to lower-case, is not taken", () => {
  const kept = keptHeaderSet(PAIRS);
  for (
    const pair of [
      ["x-trace", "a\r\nset-cookie: x=1"],
      ["x-trace", "a\nb"],
      ["x-trace", "nul\0"],
      ["x-trace", "caf\u00e9"],
      ["X-Trace", "upper-case name"],
      ["bad name", "1"],
    ] as Array<[string, string]>
  ) {
    assert.equal(keptHeaderSetWith(kept, [pair]), undefined, JSON.stringify(pair));
  }
  assert.ok(keptHeaderSetWith(kept, [["x-trace", "Root=1-abc;Sampled=1\tok"]]) !== undefined);
});
