/**
 * Every sink, in the order they are installed, flushed and listed. A new sink is one folder
 * under telemetry/ exporting a {@linkcode SinkPlugin}, one config section, and one line here.
 */
import { cloudwatchSink } from "./cloudwatch/mod.ts";
import { otlpSink } from "./otlp/mod.ts";
import { rollbarSink } from "./rollbar/mod.ts";
import type { SinkPlugin } from "./types.ts";
import { xraySink } from "./xray/mod.ts";

/** The installed sinks: X-Ray first (its line comes first in the banner), then traces, logs, errors. */
export const SINKS: readonly SinkPlugin<unknown>[] = [
  xraySink,
  otlpSink,
  cloudwatchSink,
  rollbarSink,
] as readonly SinkPlugin<unknown>[];
