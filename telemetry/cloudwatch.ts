/**
 * CloudWatch Logs sink: a bounded, counted queue drained by PutLogEvents in batches the API
 * accepts, with jittered backoff under a retry budget. Like watchtower, but it sleeps between
 * retries, bounds its memory and counts every line it loses.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  countRejected,
  createEventQueue,
  EVENT_OVERHEAD_BYTES,
  hasFullBatch,
  MAX_EVENT_BYTES,
  type QueuedEvent,
  takeBatch,
  truncateUtf8,
} from "./cloudwatch_batch.ts";
import { type Diagnostic, emptyStats, type LogLine, type Sink, type SinkStats } from "./types.ts";

/** Options of {@linkcode createCloudWatchSink}; only the destination and credentials are required. */
export interface CloudWatchSinkOptions {
  /** Log group, e.g. "cruddur" (CLOUDWATCH_LOG_GROUP). */
  logGroup: string;
  /** Log stream (CLOUDWATCH_LOG_STREAM, or {@linkcode defaultStreamName}). */
  logStream: string;
  region: string;
  /** Explicit, so the SDK's default chain never probes ~/.aws or the EC2 metadata address. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** AWS_ENDPOINT_URL_CLOUDWATCH_LOGS / AWS_ENDPOINT_URL; the regional endpoint when absent. */
  endpoint?: string;
  /** Describe/create the group and create the stream on first send and on ResourceNotFound. */
  createLogGroup?: boolean;
  /** Longest a line waits before it is sent; a full batch is sent at once. Default 5000. */
  flushIntervalMs?: number;
  /** Queue cap in events (the batch in flight is extra). Default 20,000. */
  maxQueueEvents?: number;
  /** Queue cap in AWS-counted bytes (UTF-8 + 26 per event). Default 8 MiB. */
  maxQueueBytes?: number;
  /**
   * What a full queue sacrifices. Default "newest": during an incident the first lines carry
   * the cause, the later ones mostly repeat the symptom, so we keep the earliest context.
   */
  dropPolicy?: "oldest" | "newest";
  /** Backoff: full jitter over min(maxMs, baseMs·2^n); `budget` retries shared by all batches. */
  retry?: { baseMs?: number; maxMs?: number; maxAttempts?: number; budget?: number };
  /** Per AWS call; an expired call is retried like a network error. Default 10,000. */
  requestTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
  diagnostic?: Diagnostic;
  /** Injected client (the caller destroys it); by default one from {@linkcode createCloudWatchLogsClient}. */
  client?: CloudWatchLogsClient;
}

/** A {@linkcode Sink} that also accepts log lines; `pending()` counts lines not yet settled. */
export interface CloudWatchSink extends Sink {
  /** Enqueues one line: never blocks, never throws. */
  push(line: LogLine): void;
  /** Lines queued or in flight, so queued = sent + dropped + rejected + failed + pending(). */
  pending(): number;
}

/** What the default client needs: region, explicit credentials and an optional endpoint. */
export interface CloudWatchClientOptions {
  region: string;
  credentials: CloudWatchSinkOptions["credentials"];
  endpoint?: string | undefined;
}

/**
 * Builds a client that retries nothing itself (the sink does) and reads no shared config:
 * every setting the SDK would otherwise look up in ~/.aws/config is given explicitly.
 */
export function createCloudWatchLogsClient(options: CloudWatchClientOptions): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    region: options.region,
    credentials: options.credentials,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    maxAttempts: 1,
    retryMode: "standard",
    defaultsMode: "standard",
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    disableClockSkewCorrection: false,
    authSchemePreference: [],
    userAgentAppId: "cruddur-telemetry",
  });
}

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

const DIAGNOSTIC_INTERVAL_MS = 60_000;

type Outcome =
  | { kind: "ok"; rejected: number }
  | { kind: "retry"; reason: string }
  | { kind: "not-found" }
  | { kind: "failed"; reason: string }
  | { kind: "aborted" };

interface Batch {
  events: QueuedEvent[];
  settled: boolean;
}

/** Creates the CloudWatch Logs sink; nothing is sent until the first line is pushed. */
export function createCloudWatchSink(options: CloudWatchSinkOptions): CloudWatchSink {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const diagnostic = options.diagnostic ?? defaultDiagnostic;
  const flushIntervalMs = options.flushIntervalMs ?? 5000;
  const maxQueueEvents = options.maxQueueEvents ?? 20_000;
  const maxQueueBytes = options.maxQueueBytes ?? 8 * 1024 * 1024;
  const dropPolicy = options.dropPolicy ?? "newest";
  const baseMs = options.retry?.baseMs ?? 500;
  const maxMs = options.retry?.maxMs ?? 20_000;
  const maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 5);
  const budget = options.retry?.budget ?? 20;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const createResources = options.createLogGroup ?? true;
  const ownsClient = options.client === undefined;
  const client = options.client ?? createCloudWatchLogsClient(options);
  const target = { logGroupName: options.logGroup, logStreamName: options.logStream };

  const stats = emptyStats();
  const queue = createEventQueue();
  const lastDiagnostic = new Map<string, number>();
  let inflight: Batch | null = null;
  let retryTokens = budget;
  let resourcesReady = !createResources;
  let flushWanted = false;
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  let flushTimerImmediate = false;
  let pumping: Promise<void> | null = null;
  let stalled = false; // the last pump gave up on a batch: the service is unwell
  let stopped = false; // shutdown called: refuse new lines
  let abandoned = false; // shutdown deadline reached: stop sending
  let shutdownPromise: Promise<void> | null = null;
  const calls = new Set<AbortController>();
  const sleepers = new Set<() => void>();

  function report(kind: string, message: string): void {
    const at = now();
    const last = lastDiagnostic.get(kind);
    if (last !== undefined && at - last < DIAGNOSTIC_INTERVAL_MS) return;
    lastDiagnostic.set(kind, at);
    try {
      diagnostic(`cloudwatch: ${message}`);
    } catch {
      // a broken diagnostic channel must not break the sink
    }
  }

  function scheduleFlush(immediate: boolean): void {
    if (stopped) return;
    if (flushTimer !== null) {
      if (!immediate || flushTimerImmediate) return;
      clearTimeout(flushTimer);
    }
    flushTimerImmediate = immediate;
    flushTimer = setTimeout(() => {
      flushTimer = null;
      flushWanted = true;
      kick();
    }, immediate ? 0 : flushIntervalMs);
  }

  function kick(): void {
    if (pumping !== null || abandoned) return;
    pumping = pump().finally(() => {
      pumping = null;
      // After a stall wait a whole interval even if a full batch is ready, so an outage
      // costs one attempt per interval instead of a busy loop.
      if (queue.length > 0) scheduleFlush(!stalled && hasFullBatch(queue));
    });
  }

  async function pump(): Promise<void> {
    stalled = false;
    while (!abandoned && (flushWanted ? queue.length > 0 : hasFullBatch(queue))) {
      const batch: Batch = { events: takeBatch(queue), settled: false };
      if (batch.events.length === 0) break;
      inflight = batch;
      const delivered = await sendBatch(batch);
      inflight = null;
      if (!delivered) {
        stalled = true;
        break;
      }
    }
    if (queue.length === 0) flushWanted = false;
  }

  function settle(batch: Batch, field: "sent" | "dropped" | "failed", rejected = 0): void {
    if (batch.settled) return;
    batch.settled = true;
    stats.rejected += rejected;
    stats[field] += batch.events.length - rejected;
  }

  /** Sends one batch until it is settled; true when the service took it. */
  async function sendBatch(batch: Batch): Promise<boolean> {
    let attempt = 0;
    let recreated = false;
    while (!batch.settled) {
      attempt++;
      const outcome = await attemptSend(batch.events);
      if (batch.settled) return false; // abandoned by shutdown while the call was out
      switch (outcome.kind) {
        case "ok":
          retryTokens = Math.min(budget, retryTokens + 1);
          if (outcome.rejected > 0) {
            report("rejected", `${outcome.rejected} events rejected as too old or too new`);
          }
          settle(batch, "sent", outcome.rejected);
          return true;
        case "aborted":
          settle(batch, "dropped");
          return false;
        case "failed":
          report(
            `failed:${outcome.reason}`,
            `batch of ${batch.events.length} refused: ${outcome.reason}`,
          );
          settle(batch, "failed");
          return true; // the service is up, the batch was bad: carry on with the next
        case "not-found":
          if (!createResources || recreated) {
            report(
              "not-found",
              `log group or stream ${target.logGroupName}/${target.logStreamName} missing`,
            );
            settle(batch, "failed");
            return true;
          }
          recreated = true;
          resourcesReady = false;
          stats.retried++;
          attempt--; // recreating the stream is not the service failing
          continue;
        case "retry":
          if (attempt >= maxAttempts || retryTokens < 1) {
            const why = attempt >= maxAttempts ? `${attempt} attempts` : "retry budget spent";
            report(
              "exhausted",
              `dropped ${batch.events.length} events after ${why}: ${outcome.reason}`,
            );
            settle(batch, "dropped");
            return false;
          }
          retryTokens--;
          stats.retried++;
          report(`retry:${outcome.reason}`, `retrying after ${outcome.reason}`);
          await sleep(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
          if (abandoned) settle(batch, "dropped");
      }
    }
    return false;
  }

  async function attemptSend(events: QueuedEvent[]): Promise<Outcome> {
    try {
      if (!resourcesReady) {
        await ensureResources();
        resourcesReady = true;
      }
      const command = new PutLogEventsCommand({
        ...target,
        logEvents: events.map((e) => ({ timestamp: e.timestamp, message: e.message })),
      });
      const output = await call((abortSignal) => client.send(command, { abortSignal }));
      return { kind: "ok", rejected: countRejected(output.rejectedLogEventsInfo, events.length) };
    } catch (error) {
      return classify(error);
    }
  }

  async function ensureResources(): Promise<void> {
    const describe = new DescribeLogGroupsCommand({
      logGroupNamePrefix: target.logGroupName,
      limit: 50,
    });
    const found = await call((abortSignal) => client.send(describe, { abortSignal }));
    if (!found.logGroups?.some((g) => g.logGroupName === target.logGroupName)) {
      const create = new CreateLogGroupCommand({ logGroupName: target.logGroupName });
      await ignoreAlreadyExists(call((abortSignal) => client.send(create, { abortSignal })));
    }
    const stream = new CreateLogStreamCommand(target);
    await ignoreAlreadyExists(call((abortSignal) => client.send(stream, { abortSignal })));
  }

  /** One AWS call under the per-request timeout, abortable by shutdown. */
  async function call<O>(send: (signal: AbortSignal) => Promise<O>): Promise<O> {
    const controller = new AbortController();
    calls.add(controller);
    const timer = setTimeout(() => controller.abort(new TimeoutError()), requestTimeoutMs);
    try {
      return await send(controller.signal);
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(timer);
      calls.delete(controller);
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  }

  function dropOne(): void {
    stats.dropped++;
    report(
      "queue-full",
      `queue full (${maxQueueEvents} events / ${maxQueueBytes} bytes), dropping ${dropPolicy} lines`,
    );
  }

  function push(line: LogLine): void {
    try {
      stats.queued++;
      if (stopped) {
        stats.dropped++;
        report("after-shutdown", "line pushed after shutdown was dropped");
        return;
      }
      const text = typeof line.message === "string" ? line.message : String(line.message);
      if (text.length === 0) {
        stats.dropped++;
        return;
      }
      const { message, bytes } = truncateUtf8(text, MAX_EVENT_BYTES);
      const timestamp = Number.isFinite(line.timestamp) ? Math.trunc(line.timestamp) : now();
      const event = { timestamp, message, size: bytes + EVENT_OVERHEAD_BYTES };
      if (dropPolicy === "newest") {
        if (queue.length >= maxQueueEvents || queue.bytes + event.size > maxQueueBytes) {
          return dropOne();
        }
      } else {
        while (
          queue.length > 0 &&
          (queue.length >= maxQueueEvents || queue.bytes + event.size > maxQueueBytes)
        ) {
          queue.shift();
          dropOne();
        }
        if (event.size > maxQueueBytes) return dropOne();
      }
      queue.push(event);
      scheduleFlush(hasFullBatch(queue));
    } catch (error) {
      report("push", `push failed: ${String(error)}`);
    }
  }

  function pending(): number {
    return queue.length + (inflight !== null && !inflight.settled ? inflight.events.length : 0);
  }

  /** Sends until nothing is pending or the deadline passes; resolves by the deadline. */
  async function drain(deadlineMs: number): Promise<void> {
    while (pending() > 0 && !abandoned && now() < deadlineMs) {
      flushWanted = true;
      kick();
      const running = pumping;
      if (running === null) break;
      if (!(await beforeDeadline(running, deadlineMs)) || stalled) return;
    }
  }

  async function beforeDeadline(promise: Promise<void>, deadlineMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadlineMs - now()));
    });
    try {
      return await Promise.race([promise.then(() => true as const), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function forceFlush(deadlineMs: number): Promise<void> {
    try {
      await drain(deadlineMs);
    } catch (error) {
      report("flush", `flush failed: ${String(error)}`);
    }
  }

  async function shutdownOnce(deadlineMs: number): Promise<void> {
    stopped = true;
    if (flushTimer !== null) clearTimeout(flushTimer);
    flushTimer = null;
    await forceFlush(deadlineMs);
    abandoned = true;
    const lost = pending();
    if (inflight !== null) settle(inflight, "dropped");
    stats.dropped += queue.drain().length;
    if (lost > 0) report("shutdown", `shutdown deadline passed, ${lost} lines abandoned`);
    for (const controller of calls) controller.abort(new ShutdownError());
    for (const wake of [...sleepers]) wake();
    const running = pumping;
    if (running !== null) await beforeDeadline(running, deadlineMs);
    if (ownsClient) client.destroy();
  }

  return {
    name: "cloudwatch",
    push,
    pending,
    forceFlush,
    shutdown(deadlineMs) {
      shutdownPromise ??= shutdownOnce(deadlineMs).catch((error) => {
        report("shutdown-error", `shutdown failed: ${String(error)}`);
      });
      return shutdownPromise;
    },
    stats(): SinkStats {
      return { ...stats };
    },
  };
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

class ShutdownError extends Error {
  override name = "ShutdownError";
}

async function ignoreAlreadyExists(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if ((error as { name?: unknown })?.name !== "ResourceAlreadyExistsException") throw error;
  }
}

const RETRYABLE_NAMES = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "InternalFailure",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "OperationAbortedException",
]);

function classify(error: unknown): Outcome {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  const name = typeof e?.name === "string" ? e.name : "Error";
  const status = e?.$metadata?.httpStatusCode;
  if (name === "ShutdownError") return { kind: "aborted" };
  if (name === "ResourceNotFoundException") return { kind: "not-found" };
  // Obsolete since the sequence token is ignored; if it comes back, the data is stored.
  if (name === "DataAlreadyAcceptedException") return { kind: "ok", rejected: 0 };
  if (RETRYABLE_NAMES.has(name)) return { kind: "retry", reason: name };
  if (status === undefined) return { kind: "retry", reason: "network error" };
  if (status >= 500 || status === 429) return { kind: "retry", reason: `HTTP ${status}` };
  return { kind: "failed", reason: name };
}

function defaultDiagnostic(message: string): void {
  // deno-lint-ignore no-console
  console.warn(message);
}
