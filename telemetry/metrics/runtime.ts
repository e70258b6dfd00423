/**
 * Process and runtime metrics with the semantic conventions' names: resident memory, V8 heap
 * per space, event-loop delay, CPU time and uptime. All are observed at collection time, so
 * they cost the request path nothing.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { cpuUsage } from "node:process";
import v8 from "node:v8";
import { type Meter, ValueType } from "@opentelemetry/api";

/** Stops the event-loop sampler (its timer would keep the process alive). */
export interface RuntimeMetrics {
  stop(): void;
}

const NS_PER_S = 1e9;

/** Registers the runtime instruments on `meter`. */
export function registerRuntimeMetrics(meter: Meter, startedMs = Date.now()): RuntimeMetrics {
  const rss = meter.createObservableUpDownCounter("process.memory.usage", {
    unit: "By",
    description: "The amount of physical memory in use (RSS).",
    valueType: ValueType.INT,
  });
  const heapUsed = meter.createObservableGauge("v8js.memory.heap.used", {
    unit: "By",
    description: "Heap memory used, per V8 heap space.",
    valueType: ValueType.INT,
  });
  const heapLimit = meter.createObservableGauge("v8js.memory.heap.limit", {
    unit: "By",
    description: "Heap memory reserved, per V8 heap space.",
    valueType: ValueType.INT,
  });
  const cpu = meter.createObservableCounter("process.cpu.time", {
    unit: "s",
    description: "CPU seconds consumed by the process, per mode.",
    valueType: ValueType.DOUBLE,
  });
  const uptime = meter.createObservableGauge("process.uptime", {
    unit: "s",
    description: "The time the process has been running.",
    valueType: ValueType.DOUBLE,
  });
  const delay = {
    min: meter.createObservableGauge("nodejs.eventloop.delay.min", { unit: "s" }),
    max: meter.createObservableGauge("nodejs.eventloop.delay.max", { unit: "s" }),
    mean: meter.createObservableGauge("nodejs.eventloop.delay.mean", { unit: "s" }),
    stddev: meter.createObservableGauge("nodejs.eventloop.delay.stddev", { unit: "s" }),
    p50: meter.createObservableGauge("nodejs.eventloop.delay.p50", { unit: "s" }),
    p90: meter.createObservableGauge("nodejs.eventloop.delay.p90", { unit: "s" }),
    p99: meter.createObservableGauge("nodejs.eventloop.delay.p99", { unit: "s" }),
  };
  // 20 ms resolution: the sampler's own timer is then a negligible load.
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();

  meter.addBatchObservableCallback((result) => {
    result.observe(rss, Deno.memoryUsage().rss);
    for (const space of v8.getHeapSpaceStatistics()) {
      if (space.space_size === 0) continue;
      const attributes = { "v8js.heap.space.name": space.space_name };
      result.observe(heapUsed, space.space_used_size, attributes);
      result.observe(heapLimit, space.space_size, attributes);
    }
    const usage = cpuUsage();
    result.observe(cpu, usage.user / 1e6, { "cpu.mode": "user" });
    result.observe(cpu, usage.system / 1e6, { "cpu.mode": "system" });
    result.observe(uptime, (Date.now() - startedMs) / 1000);
    // The histogram is in nanoseconds; each export reports the delay since the previous one.
    if (loop.count > 0) {
      result.observe(delay.min, loop.min / NS_PER_S);
      result.observe(delay.max, loop.max / NS_PER_S);
      result.observe(delay.mean, loop.mean / NS_PER_S);
      result.observe(delay.stddev, loop.stddev / NS_PER_S);
      result.observe(delay.p50, loop.percentile(50) / NS_PER_S);
      result.observe(delay.p90, loop.percentile(90) / NS_PER_S);
      result.observe(delay.p99, loop.percentile(99) / NS_PER_S);
    }
    loop.reset();
  }, [rss, heapUsed, heapLimit, cpu, uptime, ...Object.values(delay)]);

  return { stop: () => loop.disable() };
}
