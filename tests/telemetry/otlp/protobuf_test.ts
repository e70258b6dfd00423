/**
 * The shared KeyValue writer and its repeating-attribute cache (telemetry/otlp/protobuf.ts),
 * which both protobuf encoders use: kept bytes are only ever the bytes the value encodes to.
 */
import assert from "node:assert/strict";
import {
  keyBytes,
  keyValue,
  LEN,
  MAX_REMEMBERED_CHARS,
  ProtoWriter,
  RepeatingKeyValue,
  tag,
} from "../../../telemetry/otlp/protobuf.ts";

const FIELD = tag(9, LEN);

/** What a plain keyValue writes for `value`: the reference bytes. */
function reference(key: string, value: unknown, maxChars = Infinity): number[] {
  const w = new ProtoWriter(8);
  keyValue(w, FIELD, keyBytes(key), value, maxChars);
  return [...w.bytes.subarray(0, w.pos)];
}

/** Each value written by one cache entry into a writer of its own, as bytes. */
function throughCache(key: string, values: unknown[], maxChars = Infinity): number[][] {
  const entry = new RepeatingKeyValue(key);
  return values.map((value) => {
    const w = new ProtoWriter(8);
    entry.write(w, FIELD, value, maxChars);
    return [...w.bytes.subarray(0, w.pos)];
  });
}

Deno.test("RepeatingKeyValue writes what keyValue writes, before and after it keeps the field", () => {
  const values = ["GET", "GET", "GET", "GET", "POST", "POST", "POST", "GET", 200, 200, 200, 200];
  const written = throughCache("http.request.method", values);
  values.forEach((value, i) => {
    assert.deepEqual(written[i], reference("http.request.method", value), `value ${i}`);
  });
});

Deno.test("RepeatingKeyValue: a value that changes after it was kept is written anew", () => {
  // Equal-looking values of other types must not reuse the kept number or string.
  const values = [1, 1, 1, "1", "1", "1", true, true, true, 1.5, 1.5, 1.5];
  const written = throughCache("k", values);
  values.forEach((value, i) => assert.deepEqual(written[i], reference("k", value), `value ${i}`));
});

Deno.test("RepeatingKeyValue: a capped write is cut, never the kept uncut field", () => {
  const long = "x".repeat(100);
  const entry = new RepeatingKeyValue("user_agent");
  for (let i = 0; i < 4; i++) entry.write(new ProtoWriter(8), FIELD, long); // kept by now
  const w = new ProtoWriter(8);
  entry.write(w, FIELD, long, 20);
  assert.deepEqual([...w.bytes.subarray(0, w.pos)], reference("user_agent", long, 20));
  assert.notDeepEqual([...w.bytes.subarray(0, w.pos)], reference("user_agent", long));
});

Deno.test("RepeatingKeyValue: long strings and objects are written right every time", () => {
  const long = "y".repeat(MAX_REMEMBERED_CHARS + 1);
  const list = ["a", "b"];
  const values = [long, long, long, long, list, list, list, { a: 1 }, { a: 1 }, { a: 1 }];
  const written = throughCache("k", values);
  values.forEach((value, i) => assert.deepEqual(written[i], reference("k", value), `value ${i}`));
});
