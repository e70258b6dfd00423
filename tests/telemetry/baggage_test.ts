import assert from "node:assert/strict";
import { propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { suppressTracing, W3CBaggagePropagator as CoreBaggage } from "@opentelemetry/core";
import { W3CBaggagePropagator } from "../../telemetry/baggage.ts";

const getter = {
  get: (carrier: Record<string, string | string[]>, key: string) => carrier[key],
  keys: (carrier: Record<string, string | string[]>) => Object.keys(carrier),
};
const setter = {
  set: (carrier: Record<string, string>, key: string, value: string) => carrier[key] = value,
};

const HEADERS: Array<string | string[]> = [
  "userId=alice,serverNode=DF%2028,isProduction=false",
  "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
  " k = v ;meta=1;x, =novalue, nokey=, justtext, %ZZ=bad, ok=%E2%9C%93",
  "dup=1,dup=2",
  ["a=1,b=2", "c=3", "a=4"],
  "",
  ",,,",
  Array.from({ length: 300 }, (_, i) => `k${i}=v${i}`).join(","),
  `big=${"x".repeat(5000)},small=1`,
  Array.from({ length: 40 }, (_, i) => `k${i}=${"y".repeat(250)}`).join(","),
  [`a=${"z".repeat(4000)}`, `b=${"z".repeat(4000)}`, `c=${"z".repeat(400)}`, "d=1"],
  "semi=1;",
];

Deno.test("baggage is read and written as @opentelemetry/core's W3CBaggagePropagator does", () => {
  const ours = new W3CBaggagePropagator();
  const core = new CoreBaggage();
  assert.deepEqual(ours.fields(), core.fields());
  for (const header of HEADERS) {
    const carrier = { baggage: header };
    const a = ours.extract(ROOT_CONTEXT, carrier, getter);
    const b = core.extract(ROOT_CONTEXT, carrier, getter);
    const entries = (ctx: typeof a) =>
      propagation.getBaggage(ctx)?.getAllEntries().map(([k, e]) => [
        k,
        e.value,
        e.metadata?.toString(),
      ]);
    assert.deepEqual(entries(a), entries(b), JSON.stringify(header).slice(0, 80));
    assert.equal(a === ROOT_CONTEXT, b === ROOT_CONTEXT);
    const outA: Record<string, string> = {};
    const outB: Record<string, string> = {};
    ours.inject(a, outA, setter);
    core.inject(b, outB, setter);
    assert.deepEqual(outA, outB);
    const quiet: Record<string, string> = {};
    ours.inject(suppressTracing(a), quiet, setter);
    assert.deepEqual(quiet, {}, "nothing is injected while tracing is suppressed");
  }
  // Written entries over the limits: one too long, and more than 180.
  const many = propagation.createBaggage(Object.fromEntries([
    ["long", { value: "l".repeat(5000) }],
    ...Array.from({ length: 200 }, (_, i) => [`n${i}`, { value: String(i) }]),
  ]));
  const ctx = propagation.setBaggage(ROOT_CONTEXT, many);
  const outA: Record<string, string> = {};
  const outB: Record<string, string> = {};
  ours.inject(ctx, outA, setter);
  core.inject(ctx, outB, setter);
  assert.deepEqual(outA, outB);
  assert.equal(outA.baggage!.split(",").length, 180);
});
