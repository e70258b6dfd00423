import assert from "node:assert/strict";
import { deliveryLine } from "../../bench/goals.ts";

const healthy = (dropped: number, queued = 100_000) => ({
  queued,
  sent: queued - dropped,
  dropped,
});

Deno.test("deliveryLine() passes rows that lost nothing and says how much they carried", () => {
  const line = deliveryLine([
    { config: "full", round: 1, telemetry: { xray: healthy(0), traces: healthy(0) } },
    { config: "otel-sdk", round: 2, telemetry: { traces: healthy(0, 305_835) } },
  ]);
  assert.equal(
    line,
    "| healthy rows: no sink dropped an item, the start under full load included | none of " +
      "505,835 queued | PASS |",
  );
});

Deno.test("deliveryLine() fails any loss, however small, naming the largest share", () => {
  const line = deliveryLine([
    { config: "full", round: 1, telemetry: { traces: healthy(900) } },
    { config: "full-pglite", round: 1, telemetry: { xray: healthy(2_197, 12_442) } },
  ]);
  assert.match(line!, /worst: full-pglite round 1 xray 2,197 of 12,442 \(17\.66%\) \| FAIL \|$/);
  const one = deliveryLine([{ config: "full", round: 2, telemetry: { cloudwatch: healthy(1) } }]);
  assert.match(one!, /worst: full round 2 cloudwatch 1 of 100,000 \(0\.00%\) \| FAIL \|$/);
});

Deno.test("deliveryLine() has nothing to say without counters", () => {
  assert.equal(deliveryLine([{ config: "baseline", round: 1 }]), undefined);
  assert.equal(
    deliveryLine([{ config: "full", round: 1, telemetry: { rollbar: healthy(0, 0) } }]),
    undefined,
  );
});
