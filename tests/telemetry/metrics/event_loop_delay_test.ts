import assert from "node:assert/strict";
import { EventLoopDelayMonitor } from "../../../telemetry/metrics/event_loop_delay.ts";

/** Within the buckets' precision (1/64 above 128 µs). */
function near(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected / 64 + 1e-6,
    `${what}: ${actual} vs ${expected}`,
  );
}

Deno.test("EventLoopDelayMonitor records the time between ticks, as Node's monitorEventLoopDelay does", () => {
  let now = 1_000;
  const monitor = new EventLoopDelayMonitor({ resolutionMs: 20, now: () => now });
  assert.equal(monitor.read(), undefined, "nothing before the first tick");
  monitor.start();
  try {
    const ticks = [20, 20, 21, 20, 500, 20, 22, 20, 20, 20]; // one 480 ms block of the loop
    for (const ms of ticks) {
      now += ms;
      monitor.sample();
    }
    const d = monitor.read()!;
    assert.equal(d.count, ticks.length);
    assert.equal(d.min, 0.020);
    assert.equal(d.max, 0.5, "the block is seen whole");
    const mean = ticks.reduce((a, b) => a + b) / ticks.length;
    near(d.mean, mean / 1000, "mean");
    const variance = ticks.reduce((a, b) => a + (b - mean) ** 2, 0) / ticks.length;
    near(d.stddev, Math.sqrt(variance) / 1000, "stddev (population, as HDR's)");
    near(d.p50, 0.020, "p50");
    near(d.p90, 0.022, "p90: the 9th of 10 sorted samples");
    assert.equal(d.p99, 0.5, "p99 at most the max");
    monitor.reset();
    assert.equal(monitor.read(), undefined, "each export reports the period since the last");
    now += 20;
    monitor.sample();
    assert.equal(monitor.read()!.max, 0.020);
  } finally {
    monitor.stop();
  }
});

Deno.test("EventLoopDelayMonitor percentiles stay within 1.6% across its range, long samples included", () => {
  let now = 0;
  const monitor = new EventLoopDelayMonitor({ now: () => now });
  for (const ms of [0.05, 0.127, 0.129, 3.3, 77.7, 1_234.5, 3_600_000, 5_000_000]) {
    monitor.reset();
    now += ms;
    monitor.sample();
    const d = monitor.read()!;
    assert.equal(d.max, ms / 1000);
    near(d.p50, Math.min(ms, 2 ** 32 / 1000) / 1000, `p50 of ${ms} ms`);
  }
});

Deno.test("EventLoopDelayMonitor on the real timer sees the JavaScript thread kept busy", async () => {
  const monitor = new EventLoopDelayMonitor({ resolutionMs: 10 });
  monitor.start();
  try {
    const deadline = Date.now() + 10_000;
    const waitForTick = async (count: number) => {
      while (monitor.count < count) {
        assert.ok(Date.now() < deadline, "the timer ticks");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await waitForTick(1);
    monitor.reset();
    const until = performance.now() + 150;
    while (performance.now() < until); // the loop blocked for 150 ms
    await waitForTick(1);
    const d = monitor.read()!;
    assert.ok(d.max >= 0.15, `max ${d.max} s after a 150 ms block`);
  } finally {
    monitor.stop();
  }
});
