import assert from "node:assert/strict";
import { createTraceIds, randomSpanId, randomTraceId, xrayTraceId } from "../../telemetry/ids.ts";

Deno.test("ids are lowercase hex of their length, different every time, in both styles", () => {
  const seen = new Set<string>();
  for (const style of ["random", "xray"] as const) {
    const ids = createTraceIds(style);
    for (let i = 0; i < 2000; i++) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.match(spanId, /^[0-9a-f]{16}$/);
      seen.add(traceId).add(spanId);
    }
  }
  assert.equal(seen.size, 8000, "no id repeats");
});

Deno.test("an X-Ray-style trace id starts with the current epoch second, also when random ids are made in between", () => {
  const before = Math.floor(Date.now() / 1000);
  const first = xrayTraceId();
  randomTraceId(); // must not disturb the seconds of the next X-Ray-style id
  const second = xrayTraceId();
  const after = Math.floor(Date.now() / 1000);
  for (const id of [first, second]) {
    const seconds = parseInt(id.slice(0, 8), 16);
    assert.ok(seconds >= before && seconds <= after, `${id} starts with the epoch second`);
  }
  assert.notEqual(first.slice(8), second.slice(8));
});

Deno.test("an id is never all zeros, even from random bytes that are", () => {
  const real = crypto.getRandomValues;
  const zeros = <T extends ArrayBufferView | null>(array: T): T => {
    if (array) new Uint8Array(array.buffer, array.byteOffset, array.byteLength).fill(0);
    return array;
  };
  crypto.getRandomValues = zeros as typeof crypto.getRandomValues;
  const drawn: string[] = [];
  try {
    // More than the 4 KiB pool holds: at least one refill comes from the zero source.
    for (let i = 0; i < 600; i++) drawn.push(randomSpanId(), randomTraceId());
  } finally {
    crypto.getRandomValues = real;
  }
  for (let i = 0; i < 600; i++) randomSpanId(); // draw the zero pool out for later tests
  assert.ok(drawn.includes("0000000000000001"), "a zero span id ends in 1");
  assert.ok(drawn.includes("00000000000000000000000000000001"), "a zero trace id ends in 1");
  for (const id of drawn) assert.match(id, /^(?!0+$)[0-9a-f]+$/);
});
