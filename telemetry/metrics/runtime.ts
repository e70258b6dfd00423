/**
 * Process and runtime metrics with the semantic conventions' names: resident memory, V8 heap
 * per space, event-loop delay, CPU time and uptime. All are observed at collection time, so
 * they cost the request path nothing.
 */
import { cpuUsage } from "node:process";
import v8 from "node:v8";
import { type Meter, ValueType } from "@opentelemetry/api";
import { EventLoopDelayMonitor } from "./event_loop_delay.ts";

/** Stops the event-loop sampler's timer. */
export interface RuntimeMetrics {
  stop(): void;
}

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
  const gauge = (name: string, description: string) =>
    meter.createObservableGauge(`nodejs.eventloop.delay.${name}`, { unit: "s", description });
  const delay = {
    min: gauge("min", "Event loop minimum delay."),
    max: gauge("max", "Event loop maximum delay."),
    mean: gauge("mean", "Event loop mean delay."),
    stddev: gauge("stddev", "Event loop standard deviation delay."),
    p50: gauge("p50", "Event loop 50 percentile delay."),
    p90: gauge("p90", "Event loop 90 percentile delay."),
    p99: gauge("p99", "Event loop 99 percentile delay."),
  };
  // Node's monitorEventLoopDelay semantics, measured cheaply (event_loop_delay.ts).
  const loop = new EventLoopDelayMonitor({ resolutionMs: 20 });
  loop.start();

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
    // Each export reports the delay since the previous one.
    const d = loop.read();
    if (d !== undefined) {
      result.observe(delay.min, d.min);
      result.observe(delay.max, d.max);
      result.observe(delay.mean, d.mean);
      result.observe(delay.stddev, d.stddev);
      result.observe(delay.p50, d.p50);
      result.observe(delay.p90, d.p90);
      result.observe(delay.p99, d.p99);
    }
    loop.reset();
  }, [rss, heapUsed, heapLimit, cpu, uptime, ...Object.values(delay)]);

  return { stop: () => loop.stop() };
}
