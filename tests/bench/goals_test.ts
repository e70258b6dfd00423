import assert from "node:assert/strict";
import { deliveryLine } from "../../bench/goals.ts";

const healthy = (dropped: number, queued = 100_000) => ({
  queued,
  sent: queued - dropped,
  dropped,
});

Deno.test("deliveryLine() passes a start's small overflow and names the largest share", () => {
  const line = deliveryLine([
    { config: "full", round: 1, telemetry: { xray: healthy(0), traces: healthy(300) } },
    { config: "otel-sdk", round: 2, telemetry: { traces: healthy(955, 305_835) } },
  ]);
  assert.equal(
    line,
    "| healthy rows: each sink dropped ≤ 1% (the start's overflow), X-Ray nothing | largest: " +
      "otel-sdk round 2 traces 955 of 305,835 (0.31%) | PASS |",
  );
});

Deno.test("deliveryLine() fails any X-Ray loss, however small, and a sink past 1%", () => {
  const xray = deliveryLine([
    { config: "full", round: 1, telemetry: { traces: healthy(900) } },
    { config: "full-pglite", round: 1, telemetry: { xray: healthy(2_197, 12_442) } },
  ]);
  assert.match(xray!, /worst: full-pglite round 1 xray 2,197 of 12,442 \(17\.66%\) \| FAIL \|$/);
  const one = deliveryLine([{ config: "full", round: 2, telemetry: { xray: healthy(1) } }]);
  assert.match(one!, /\| FAIL \|$/);
  const cloudwatch = deliveryLine([
    { config: "cloudwatch-only", round: 1, telemetry: { cloudwatch: healthy(2_000) } },
  ]);
  assert.match(cloudwatch!, /worst: cloudwatch-only round 1 cloudwatch 2,000 of 100,000 .* FAIL/);
});

Deno.test("deliveryLine() has nothing to say without counters", () => {
  assert.equal(deliveryLine([{ config: "baseline", round: 1 }]), undefined);
  assert.equal(
    deliveryLine([{ config: "full", round: 1, telemetry: { rollbar: healthy(0, 0) } }]),
    undefined,
  );
});
