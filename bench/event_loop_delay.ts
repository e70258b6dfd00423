/**
 * The event-loop delay metric's own cost: what one metrics export pays to read and reset the
 * delay, and what one tick of the sampling timer costs, for Deno's `monitorEventLoopDelay`
 * (what telemetry/metrics/runtime.ts used) and for telemetry/metrics/event_loop_delay.ts. Both
 * see the same loop: ticks of 20 ms with busy spans of 0-15 ms between them, as under load.
 * CPU is the main thread's own (Linux /proc/thread-self/schedstat), so other processes on a
 * busy machine do not count; its granularity can be coarse, hence the repetitions.
 *
 *   deno run -A bench/event_loop_delay.ts          # 60 ticks, then 20 reads of each
 *
 * Also prints what each reports after the loop was kept busy for 500 ms.
 */
// deno-lint-ignore-file no-console
import { monitorEventLoopDelay } from "node:perf_hooks";
import { EventLoopDelayMonitor } from "../telemetry/metrics/event_loop_delay.ts";

function threadCpuUs(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1000;
}

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/** µs of main-thread CPU per call of `fn`, averaged over `n` calls. */
function cost(n: number, fn: () => unknown): number {
  const start = threadCpuUs();
  for (let i = 0; i < n; i++) fn();
  return (threadCpuUs() - start) / n;
}

const native = monitorEventLoopDelay({ resolution: 20 });
const ours = new EventLoopDelayMonitor({ resolutionMs: 20 });
native.enable();
ours.start();
let seed = 7;
for (let i = 0; i < 60; i++) {
  seed = (seed * 48271) % 2147483647;
  busy((seed % 1500) / 100);
  await tick();
}
const readNative = () => [
  native.min,
  native.max,
  native.mean,
  native.stddev,
  native.percentile(50),
  native.percentile(90),
  native.percentile(99),
];
console.log(`samples: native ${native.count}, ours ${ours.count}`);
console.log(
  `one export's read, µs CPU: native ${cost(20, readNative).toFixed(0)}, ours ${
    cost(20_000, () => ours.read()).toFixed(1)
  }`,
);
console.log(
  `one reset, µs CPU: native ${cost(20, () => native.reset()).toFixed(0)}, ours ${
    cost(20_000, () => ours.reset()).toFixed(1)
  }`,
);

// Ours: one tick's own work (the timer's dispatch comes on top: one setInterval callback).
ours.stop();
console.log(
  `one tick of ours, µs CPU: ${
    cost(200_000, ours.sample).toFixed(3)
  } (50 ticks a second at 20 ms; the native sampler runs in Rust on each tick)`,
);

native.reset();
ours.reset();
ours.start();
busy(500);
await tick();
await tick();
console.log(
  `after a 500 ms block, max: native ${(native.max / 1e6).toFixed(1)} ms, ours ${
    (ours.read()!.max * 1000).toFixed(1)
  } ms`,
);
native.disable();
ours.stop();
