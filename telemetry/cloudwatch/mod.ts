/**
 * The CloudWatch Logs sink as the telemetry contract sees it: a log destination fed the
 * logger's JSON lines. The AWS SDK (and the EMF aggregator, which shares the HTTP metrics'
 * method table) is loaded only when CloudWatch is configured, after the server listens: the
 * lines of the first requests wait for it in the sink set's bounded buffer.
 */
import type { Sink, SinkPlugin } from "../types.ts";
import type { CloudWatchSinkOptions } from "./sink.ts";

/** Where a stream name comes from when CLOUDWATCH_LOG_STREAM is not set. */
export interface StreamNameParts {
  host: string;
  service: string;
  startMs: number;
  pid: number;
}

/** `service/host/2026-01-02T03-04-05Z/pid`: unique per process, without ':' or '*'. */
export function defaultStreamName(parts: StreamNameParts): string {
  const started = new Date(parts.startMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  const name = [parts.service, parts.host, started, String(parts.pid)].join("/");
  return name.replace(/[:*]/g, "-").slice(0, 512);
}

/** Installs the CloudWatch Logs sink from `config.cloudwatch` and `config.aws`. */
export const cloudwatchSink: SinkPlugin<CloudWatchSinkOptions> = {
  name: "cloudwatch",
  deferrable(config) {
    if (!config.cloudwatch || !config.aws) return undefined;
    return config.cloudwatch.metrics.enabled
      ? ["logDestination", "requestRecorder"]
      : ["logDestination"];
  },
  async install({ config, diagnostic, resource, tuning }) {
    const section = config.cloudwatch;
    if (!section) {
      return {
        startup: "Logs: console only (set CLOUDWATCH_LOG_GROUP and AWS credentials for CloudWatch)",
      };
    }
    if (!config.aws) {
      return {
        startup:
          "Logs: console only (CLOUDWATCH_LOG_GROUP is set but AWS_REGION and credentials (keys or a container credentials URI) are not)",
      };
    }
    const { createCloudWatchSink } = await import("./sink.ts");
    const { containerCredentials } = await import("./credentials.ts");
    const aws = config.aws;
    // The environment's keys as they are, else the container endpoint (fetched when first used).
    const credentials = aws.credentials ?? containerCredentials(aws.container!);
    const from = aws.credentials ? "" : ` (credentials from ${new URL(aws.container!.url).host})`;
    const sink = createCloudWatchSink({
      logGroup: section.logGroup,
      logStream: section.logStream ?? defaultStreamName({
        host: resource["host.name"] ?? "localhost",
        service: config.serviceName,
        startMs: Date.now(),
        pid: Deno.pid,
      }),
      region: aws.region,
      credentials,
      ...(section.endpoint ? { endpoint: section.endpoint } : {}),
      createLogGroup: section.createLogGroup,
      flushIntervalMs: section.flushIntervalMs,
      maxQueueBytes: section.maxQueueBytes,
      maxConcurrentPuts: section.maxConcurrentPuts,
      diagnostic,
      ...tuning,
    });
    if (!section.metrics.enabled) {
      return {
        startup: `Logs: console + CloudWatch Logs group "${section.logGroup}"${from}`,
        sink,
        logDestination: sink,
      };
    }
    // Embedded Metric Format events go straight into the sink's queue, beside the log lines.
    const { EmfAggregator } = await import("./emf.ts");
    const emf = new EmfAggregator({
      namespace: section.metrics.namespace,
      service: config.serviceName,
      intervalMs: section.metrics.intervalMs,
      push: (line) => sink.push(line),
    });
    emf.start();
    const withMetrics: Sink = {
      name: sink.name,
      stats: () => sink.stats(),
      forceFlush(deadlineMs) {
        emf.flush();
        return sink.forceFlush(deadlineMs);
      },
      shutdown(deadlineMs) {
        emf.stop();
        return sink.shutdown(deadlineMs);
      },
    };
    return {
      startup:
        `Logs: console + CloudWatch Logs group "${section.logGroup}"${from} (+ EMF metrics in ${
          JSON.stringify(section.metrics.namespace)
        } every ${section.metrics.intervalMs} ms)`,
      sink: withMetrics,
      logDestination: sink,
      requestRecorder: emf,
    };
  },
};
