/**
 * The W3C Trace Context test suite (w3c/trace-context, `test/test.py`: TraceContextTest,
 * AdvancedTest and the Level 2 TraceContext2Test), ported case by case so CI runs it: our own
 * code, with the suite's inputs and expectations, at STRICT_LEVEL=2 and SPEC_LEVEL=2. The
 * tracestate key cases follow the current key grammar (w3c/trace-context#584: `@` is an
 * ordinary key character, 256 characters in all). Like the suite, a harness sends headers to
 * the service's `POST /test`, the service calls the harness back through `telemetry.fetch()`,
 * and each case asserts the trace context that arrives with the callback.
 */
import assert from "node:assert/strict";
import { buildTraceContextService } from "../support/trace_context_service.ts";

const TRACE = "12345678901234567890123456789012";
const PARENT = "1234567890123456";
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

type HeaderList = Array<[string, string]>;
interface Received {
  traceId: string;
  parentId: string;
  flags: number;
  /** The tracestate members, in order; duplicate keys make the parse fail, as the suite's. */
  state: Map<string, string>;
  stateText: string;
}

/** The suite's harness: a callback server, and a client that drives the service. */
async function startSuite() {
  const service = await buildTraceContextService();
  const serviceServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    service.app.fetch,
  );
  const callbacks = new Map<string, Headers>();
  const harness = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    callbacks.set(new URL(req.url).pathname, req.headers);
    return Response.json(null);
  });
  let scope = 0;
  /** Sends `headers` to the service and returns what each of `count` callbacks carried. */
  async function request(headers: HeaderList, count = 1): Promise<Received[]> {
    const id = `scope${++scope}`;
    const calls = Array.from({ length: count }, (_, i) => ({
      url: `http://127.0.0.1:${harness.addr.port}/${id}.${i}`,
      arguments: [],
    }));
    const sent = new Headers({ accept: "application/json", "content-type": "application/json" });
    for (const [name, value] of headers) sent.append(name, value);
    const res = await fetch(`http://127.0.0.1:${serviceServer.addr.port}/test`, {
      method: "POST",
      headers: sent,
      body: JSON.stringify(calls),
    });
    assert.equal(res.status, 200, await res.text());
    return calls.map((_, i) => {
      const got = callbacks.get(`/${id}.${i}`);
      assert.ok(got, "the service did not call the harness back");
      return received(got);
    });
  }
  return {
    request,
    single: async (headers: HeaderList) => (await request(headers))[0]!,
    async close() {
      await serviceServer.shutdown();
      await harness.shutdown();
      await service.close();
    },
  };
}

/** Exactly one valid traceparent (the suite's get_traceparent) and the tracestate members. */
function received(headers: Headers): Received {
  const traceparent = headers.get("traceparent") ?? "";
  const match = TRACEPARENT_RE.exec(traceparent);
  assert.ok(match, `expect one valid traceparent header, got ${JSON.stringify(traceparent)}`);
  assert.equal(match[1], "00");
  assert.notEqual(match[2], "0".repeat(32));
  assert.notEqual(match[3], "0".repeat(16));
  const state = new Map<string, string>();
  const stateText = headers.get("tracestate") ?? "";
  for (const member of stateText.split(/[ \t]*,[ \t]*/)) {
    if (!member) continue;
    const eq = member.indexOf("=");
    assert.ok(eq > 0, `illegal key-value format ${member}`);
    const key = member.slice(0, eq);
    assert.match(key, /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/, `illegal key ${key}`);
    assert.ok(!state.has(key), `duplicated key ${key} propagated`);
    state.set(key, member.slice(eq + 1));
  }
  return {
    traceId: match[2]!,
    parentId: match[3]!,
    flags: parseInt(match[4]!, 16),
    state,
    stateText,
  };
}

const tp = (value: string): [string, string] => ["traceparent", value];
const ts = (value: string): [string, string] => ["tracestate", value];
const UNSAMPLED = tp(`00-${TRACE}-${PARENT}-00`);

/** Cases whose inputs must restart the trace (a new trace id). */
const RESTARTS: Array<[string, HeaderList]> = [
  ["traceparent_duplicated", [
    tp(`00-${TRACE.slice(0, -1)}1-${PARENT}-01`),
    tp(`00-${TRACE}-${PARENT}-01`),
  ]],
  ["traceparent_header_name (trace-parent)", [["trace-parent", `00-${TRACE}-${PARENT}-01`]]],
  ["traceparent_header_name (trace.parent)", [["trace.parent", `00-${TRACE}-${PARENT}-01`]]],
  ["traceparent_version_0x00 (trailing .)", [tp(`00-${TRACE}-${PARENT}-01.`)]],
  ["traceparent_version_0x00 (extra field)", [
    tp(`00-${TRACE}-${PARENT}-01-what-the-future-will-be-like`),
  ]],
  ["traceparent_version_0xcc (. after flags)", [
    tp(`cc-${TRACE}-${PARENT}-01.what-the-future-will-be-like`),
  ]],
  ["traceparent_version_0xff", [tp(`ff-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_illegal_characters (.0)", [tp(`.0-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_illegal_characters (0.)", [tp(`0.-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_too_long (000)", [tp(`000-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_too_long (0000)", [tp(`0000-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_too_short", [tp(`0-${TRACE}-${PARENT}-01`)]],
  ["traceparent_trace_id_illegal_characters (first)", [tp(`00-.${TRACE.slice(1)}-${PARENT}-01`)]],
  ["traceparent_trace_id_illegal_characters (last)", [
    tp(`00-${TRACE.slice(0, -1)}.-${PARENT}-01`),
  ]],
  ["traceparent_trace_id_too_short", [tp(`00-${TRACE.slice(0, -1)}-${PARENT}-01`)]],
  ["traceparent_parent_id_all_zero", [tp(`00-${TRACE}-0000000000000000-01`)]],
  ["traceparent_parent_id_illegal_characters (first)", [tp(`00-${TRACE}-.${PARENT.slice(1)}-01`)]],
  ["traceparent_parent_id_illegal_characters (last)", [
    tp(`00-${TRACE}-${PARENT.slice(0, -1)}.-01`),
  ]],
  ["traceparent_parent_id_too_long", [tp(`00-${TRACE}-${PARENT}7-01`)]],
  ["traceparent_parent_id_too_short", [tp(`00-${TRACE}-${PARENT.slice(0, -1)}-01`)]],
  ["traceparent_trace_flags_illegal_characters (.0)", [tp(`00-${TRACE}-${PARENT}-.0`)]],
  ["traceparent_trace_flags_illegal_characters (0.)", [tp(`00-${TRACE}-${PARENT}-0.`)]],
  ["traceparent_trace_flags_too_long", [tp(`00-${TRACE}-${PARENT}-001`)]],
  ["traceparent_trace_flags_too_short", [tp(`00-${TRACE}-${PARENT}-1`)]],
];

/** Cases whose traceparent must be continued (same trace id, a new parent id). */
const CONTINUES: Array<[string, HeaderList]> = [
  ["traceparent_included_tracestate_missing", [tp(`00-${TRACE}-${PARENT}-01`)]],
  ["traceparent_header_name_valid_casing (TraceParent)", [[
    "TraceParent",
    `00-${TRACE}-${PARENT}-01`,
  ]]],
  ["traceparent_header_name_valid_casing (TrAcEpArEnT)", [[
    "TrAcEpArEnT",
    `00-${TRACE}-${PARENT}-01`,
  ]]],
  ["traceparent_header_name_valid_casing (TRACEPARENT)", [[
    "TRACEPARENT",
    `00-${TRACE}-${PARENT}-01`,
  ]]],
  ["traceparent_version_0xcc", [tp(`cc-${TRACE}-${PARENT}-01`)]],
  ["traceparent_version_0xcc (extra field)", [
    tp(`cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`),
  ]],
  ["traceparent_ows_handling (leading space)", [tp(` 00-${TRACE}-${PARENT}-01`)]],
  ["traceparent_ows_handling (leading tab)", [tp(`\t00-${TRACE}-${PARENT}-01`)]],
  ["traceparent_ows_handling (trailing space)", [tp(`00-${TRACE}-${PARENT}-01 `)]],
  ["traceparent_ows_handling (trailing tab)", [tp(`00-${TRACE}-${PARENT}-01\t`)]],
  ["traceparent_ows_handling (both)", [tp(`\t 00-${TRACE}-${PARENT}-01 \t`)]],
];

/** tracestate cases: the headers beside an unsampled traceparent, and the members expected. */
const KEY = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
const VALUE = [[0x20, 0x2b], [0x2d, 0x3c], [0x3e, 0x7e]]
  .map(([from, to]) =>
    Array.from({ length: to! - from! + 1 }, (_, i) => String.fromCharCode(from! + i)).join("")
  )
  .join("");
const MEMBERS_32 = Array.from(
  { length: 32 },
  (_, i) => `bar${String(i + 1).padStart(2, "0")}=${String(i + 1).padStart(2, "0")}`,
);
const TRACESTATE_CASES: Array<[string, HeaderList, Record<string, string | undefined>]> = [
  ["tracestate_included_traceparent_included", [ts("foo=1,bar=2")], { foo: "1", bar: "2" }],
  ["tracestate_header_name (trace-state)", [["trace-state", "foo=1"]], { foo: undefined }],
  ["tracestate_header_name (trace.state)", [["trace.state", "foo=1"]], { foo: undefined }],
  ["tracestate_header_name_valid_casing (TraceState)", [["TraceState", "foo=1"]], { foo: "1" }],
  ["tracestate_header_name_valid_casing (TrAcEsTaTe)", [["TrAcEsTaTe", "foo=1"]], { foo: "1" }],
  ["tracestate_header_name_valid_casing (TRACESTATE)", [["TRACESTATE", "foo=1"]], { foo: "1" }],
  ["tracestate_empty_header", [ts("")], {}],
  ["tracestate_empty_header (then foo=1)", [ts("foo=1"), ts("")], { foo: "1" }],
  ["tracestate_empty_header (foo=1 after)", [ts(""), ts("foo=1")], { foo: "1" }],
  ["tracestate_duplicated_keys (foo=1,foo=1)", [ts("foo=1,foo=1")], { foo: undefined }],
  ["tracestate_duplicated_keys (foo=1,foo=2)", [ts("foo=1,foo=2")], { foo: undefined }],
  ["tracestate_duplicated_keys (two headers, same)", [ts("foo=1"), ts("foo=1")], {
    foo: undefined,
  }],
  ["tracestate_duplicated_keys (two headers)", [ts("foo=1"), ts("foo=2")], { foo: undefined }],
  ["tracestate_all_allowed_characters (key)", [ts(`${KEY}=${VALUE}`)], { [KEY]: VALUE }],
  ["tracestate_all_allowed_characters (key@)", [ts(`${KEY}@a-z0-9_-*/=${VALUE}`)], {
    [`${KEY}@a-z0-9_-*/`]: VALUE,
  }],
  ["tracestate_ows_handling (spaces and tabs)", [ts("foo=1 \t , \t bar=2, \t baz=3")], {
    foo: "1",
    bar: "2",
    baz: "3",
  }],
  ["tracestate_ows_handling (tabs and spaces)", [ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3")], {
    foo: "1",
    bar: "2",
    baz: "3",
  }],
  ["tracestate_ows_handling (leading space)", [ts(" foo=1")], { foo: "1" }],
  ["tracestate_ows_handling (leading tab)", [ts("\tfoo=1")], { foo: "1" }],
  ["tracestate_ows_handling (trailing space)", [ts("foo=1 ")], { foo: "1" }],
  ["tracestate_ows_handling (trailing tab)", [ts("foo=1\t")], { foo: "1" }],
  ["tracestate_ows_handling (both)", [ts("\t foo=1 \t")], { foo: "1" }],
  ["tracestate_key_illegal_characters (foo =1)", [ts("foo =1")], {
    "foo ": undefined,
    foo: undefined,
  }],
  ["tracestate_key_illegal_characters (FOO=1)", [ts("FOO=1")], { FOO: undefined }],
  ["tracestate_key_illegal_characters (foo.bar=1)", [ts("foo.bar=1")], { "foo.bar": undefined }],
  // The current key grammar: `@` anywhere but first.
  ["tracestate_key_illegal_vendor_format (foo@=1)", [ts("foo@=1,bar=2")], {
    "foo@": "1",
    bar: "2",
  }],
  ["tracestate_key_illegal_vendor_format (@foo=1)", [ts("@foo=1,bar=2")], { bar: undefined }],
  ["tracestate_key_illegal_vendor_format (foo@@bar=1)", [ts("foo@@bar=1,bar=2")], {
    "foo@@bar": "1",
    bar: "2",
  }],
  ["tracestate_key_illegal_vendor_format (foo@bar@baz=1)", [ts("foo@bar@baz=1,bar=2")], {
    "foo@bar@baz": "1",
    bar: "2",
  }],
  ["tracestate_member_count_limit (32)", [
    ts(MEMBERS_32.slice(0, 10).join(",")),
    ts(MEMBERS_32.slice(10, 20).join(",")),
    ts(MEMBERS_32.slice(20, 30).join(",")),
    ts(MEMBERS_32.slice(30).join(",")),
  ], { bar01: "01" }],
  ["tracestate_member_count_limit (33)", [ts(MEMBERS_32.join(",")), ts("bar33=33")], {
    bar01: undefined,
  }],
  ["tracestate_key_length_limit (256)", [ts("foo=1"), ts(`${"z".repeat(256)}=1`)], { foo: "1" }],
  ["tracestate_key_length_limit (257)", [ts("foo=1"), ts(`${"z".repeat(257)}=1`)], {
    foo: undefined,
  }],
  ["tracestate_key_length_limit (241@14)", [
    ts("foo=1"),
    ts(`${"t".repeat(241)}@${"v".repeat(14)}=1`),
  ], { foo: "1" }],
  ["tracestate_key_length_limit (242@1)", [ts("foo=1"), ts(`${"t".repeat(242)}@v=1`)], {
    foo: "1",
  }],
  ["tracestate_key_length_limit (1@15)", [ts("foo=1"), ts(`t@${"v".repeat(15)}=1`)], { foo: "1" }],
  ["tracestate_value_illegal_characters (foo=bar=baz)", [ts("foo=bar=baz")], { foo: undefined }],
  ["tracestate_value_illegal_characters (foo=,bar=3)", [ts("foo=,bar=3")], {
    foo: undefined,
    bar: undefined,
  }],
];

Deno.test("W3C suite (ported): traceparent cases, strictness 2", async (t) => {
  const suite = await startSuite();
  try {
    await t.step("both_traceparent_and_tracestate_missing: a valid traceparent", async () => {
      await suite.single([]);
    });
    for (const [name, headers] of RESTARTS) {
      await t.step(`${name}: a new trace id`, async () => {
        const got = await suite.single(headers);
        assert.notEqual(got.traceId, TRACE);
        assert.notEqual(got.traceId, `${TRACE.slice(0, -1)}1`);
      });
    }
    await t.step("traceparent_trace_id_all_zero: never the zero id", async () => {
      const got = await suite.single([tp(`00-${"0".repeat(32)}-${PARENT}-01`)]);
      assert.notEqual(got.traceId, "0".repeat(32));
    });
    await t.step("traceparent_trace_id_too_long: none of the three readings", async () => {
      const got = await suite.single([tp(`00-${TRACE}3-${PARENT}-01`)]);
      for (const id of [TRACE, `${TRACE.slice(1)}3`]) assert.notEqual(got.traceId, id);
    });
    for (const [name, headers] of CONTINUES) {
      await t.step(`${name}: the same trace id, a new parent id`, async () => {
        const got = await suite.single(headers);
        assert.equal(got.traceId, TRACE);
        assert.notEqual(got.parentId, PARENT);
      });
    }
  } finally {
    await suite.close();
  }
});

Deno.test("W3C suite (ported): tracestate cases, strictness 2", async (t) => {
  const suite = await startSuite();
  try {
    await t.step("tracestate_included_traceparent_missing: discarded", async () => {
      const one = await suite.single([ts("foo=1")]);
      const two = await suite.single([ts("foo=1,bar=2")]);
      assert.equal(one.state.size, two.state.size);
      assert.equal(one.state.size, 0);
    });
    for (const [name, headers, expected] of TRACESTATE_CASES) {
      await t.step(name, async () => {
        const got = await suite.single([UNSAMPLED, ...headers]);
        assert.equal(got.traceId, TRACE);
        for (const [key, value] of Object.entries(expected)) {
          assert.equal(got.state.get(key), value, `${key} in ${got.stateText}`);
        }
        if (name.endsWith("(32)")) assert.equal(got.state.size, 32);
      });
    }
    await t.step("tracestate_multiple_headers_different_keys: combined in order", async () => {
      const got = await suite.single([
        UNSAMPLED,
        ts("foo=1,bar=2"),
        ts("rojo=1,congo=2"),
        ts("baz=3"),
      ]);
      assert.equal(got.stateText, "foo=1,bar=2,rojo=1,congo=2,baz=3");
    });
  } finally {
    await suite.close();
  }
});

Deno.test("W3C suite (ported): AdvancedTest, several callbacks per request", async (t) => {
  const suite = await startSuite();
  try {
    await t.step("multiple_requests_with_valid_traceparent", async () => {
      const got = await suite.request([tp(`00-${TRACE}-${PARENT}-01`)], 3);
      assert.deepEqual([...new Set(got.map((g) => g.traceId))], [TRACE]);
      assert.equal(new Set(got.map((g) => g.parentId)).size, 3);
    });
    await t.step("multiple_requests_without_traceparent", async () => {
      const got = await suite.request([], 3);
      assert.equal(new Set(got.map((g) => g.parentId)).size, 3);
    });
    await t.step("multiple_requests_with_illegal_traceparent", async () => {
      const got = await suite.request([tp(`00-${"0".repeat(32)}-${PARENT}-01`)], 3);
      assert.ok(!got.some((g) => g.traceId === "0".repeat(32)));
      assert.equal(new Set(got.map((g) => g.parentId)).size, 3);
    });
  } finally {
    await suite.close();
  }
});

Deno.test("W3C suite (ported): TraceContext2Test, spec level 2", async (t) => {
  const suite = await startSuite();
  try {
    await t.step("propagates_random_flag", async () => {
      const got = await suite.single([tp(`00-${TRACE}-${PARENT}-02`)]);
      assert.equal(got.traceId, TRACE);
      assert.notEqual(got.parentId, PARENT);
      assert.equal(got.flags & 0x02, 0x02);
    });
    // Beyond the suite, the rest of Level 2's flag rules.
    await t.step("an unset random flag stays unset on the same trace id", async () => {
      const got = await suite.single([tp(`00-${TRACE}-${PARENT}-01`)]);
      assert.equal(got.flags, 0x01);
    });
    await t.step("a trace we start with random ids sets the random flag", async () => {
      const got = await suite.single([]);
      assert.equal(got.flags & 0x02, 0x02);
    });
    await t.step("reserved flag bits are sent as zero", async () => {
      const got = await suite.single([tp(`00-${TRACE}-${PARENT}-ff`)]);
      assert.equal(got.traceId, TRACE);
      assert.equal(got.flags, 0x03);
    });
  } finally {
    await suite.close();
  }
});
