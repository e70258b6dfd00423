/**
 * The console writer: log lines are batched and written to stdout asynchronously, one write in
 * flight at a time, at most one write per interval unless a full batch is waiting, behind a
 * bounded buffer. A synchronous write to a pipe whose reader stopped
 * blocks the whole process (requests, health checks, SIGTERM); an asynchronous one only waits
 * on Deno's blocking-I/O thread. When the buffer is full, lines are dropped and counted, and
 * the first loss is reported once on the diagnostic channel.
 */
import type { Diagnostic, SinkStats } from "./types.ts";

const encoder = new TextEncoder();

/** The part of `Deno.stdout` the writer uses. */
export interface AsyncOutput {
  write(data: Uint8Array): Promise<number>;
}

/** Options of `createConsoleWriter`. */
export interface ConsoleWriterOptions {
  /** Lines are collected this long before one write (fewer syscalls under load). */
  intervalMs?: number;
  /** A batch this large is written without waiting for the interval. */
  batchBytes?: number;
  /** Bound on bytes waiting plus in flight; past it, lines are dropped and counted. */
  maxBufferedBytes?: number;
  /** Told once, when the first line is dropped; default: an asynchronous write to stderr. */
  diagnostic?: Diagnostic;
}

/** Writes to stderr without waiting: stderr may be a stalled pipe too. */
export function asyncStderr(message: string): void {
  Deno.stderr.write(encoder.encode(`[telemetry] ${message}\n`)).catch(() => {});
}

/** Counters of the console writer, in the sinks' terms (lines). */
export interface ConsoleWriter {
  write(line: string): void;
  /**
   * Resolves when everything accepted is written, or at `deadlineMs` (epoch ms), or at once
   * when the output is stalled (lines were dropped since the last completed write).
   */
  flush(deadlineMs: number): Promise<void>;
  stats(): SinkStats;
}

/** Creates the asynchronous, bounded console writer. */
export function createConsoleWriter(
  output: AsyncOutput,
  options: ConsoleWriterOptions = {},
): ConsoleWriter {
  const intervalMs = options.intervalMs ?? 20;
  const batchBytes = options.batchBytes ?? 64 * 1024;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const stats: SinkStats = { queued: 0, sent: 0, retried: 0, dropped: 0, rejected: 0, failed: 0 };
  let pending: string[] = [];
  /** UTF-16 length of `pending` plus newlines: a cheap stand-in for its UTF-8 size. */
  let pendingSize = 0;
  let inFlightBytes = 0;
  let writing: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reported = false;
  /** Lines were dropped since the last completed write: waiting for the output is futile. */
  let stalled = false;
  const idle: Array<() => void> = [];

  function drop(count: number): void {
    stats.dropped += count;
    stalled = true;
    if (reported) return;
    reported = true;
    (options.diagnostic ?? asyncStderr)(
      "console: stdout is not keeping up (a full or broken pipe?); log lines are dropped and counted " +
        "(console.dropped in the health check and the shutdown summary)",
    );
  }

  /**
   * Writes one batch, all of it, then the next one if a full batch or a flush is waiting; lines
   * that arrived meanwhile otherwise wait for the interval, as the first ones did. Writing them
   * at once kept one write (an encode, an op, a thread hop) per request or two under load.
   */
  async function pump(): Promise<void> {
    while (pending.length > 0) {
      const lines = pending;
      const data = encoder.encode(lines.join("\n") + "\n");
      pending = [];
      pendingSize = 0;
      inFlightBytes = data.length;
      try {
        let offset = 0;
        while (offset < data.length) offset += await output.write(data.subarray(offset));
        stats.sent += lines.length;
        stalled = false;
      } catch {
        // A closed or broken stdout must not take the server down: the batch is lost, counted.
        drop(lines.length);
      }
      inFlightBytes = 0;
      if (idle.length === 0 && pendingSize < batchBytes) break;
    }
    writing = undefined;
    if (pending.length > 0) {
      timer ??= setTimeout(start, intervalMs);
      return;
    }
    for (const resolve of idle.splice(0)) resolve();
  }

  function start(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (writing === undefined && pending.length > 0) writing = pump();
  }

  function untilIdle(deadlineMs: number): Promise<void> {
    start();
    if (writing === undefined || stalled) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wait = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
      idle.push(() => {
        clearTimeout(wait);
        resolve();
      });
    });
  }

  return {
    write(line) {
      stats.queued++;
      const size = line.length + 1;
      if (pendingSize + inFlightBytes + size > maxBuffered) {
        drop(1);
        return;
      }
      pending.push(line);
      pendingSize += size;
      if (pendingSize >= batchBytes) start();
      else if (timer === undefined && writing === undefined) timer = setTimeout(start, intervalMs);
    },
    flush: untilIdle,
    stats: () => ({ ...stats }),
  };
}
