/**
 * The console writer: log lines are batched and written to stdout asynchronously, one write in
 * flight at a time, at most one write per interval unless a full batch is waiting, behind a
 * bounded buffer. A synchronous write to a pipe whose reader stopped
 * blocks the whole process (requests, health checks, SIGTERM); an asynchronous one only waits
 * on Deno's blocking-I/O thread. When the buffer is full, lines are dropped and counted, and
 * the first loss is reported once on the diagnostic channel.
 */
import type { Diagnostic, SinkStats } from "./types.ts";
import { ProtoWriter } from "./otlp/protobuf.ts";

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

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
  /**
   * The waiting lines' UTF-8 bytes, each line encoded when it is written: the line's string
   * dies young instead of waiting up to an interval and being promoted to V8's old generation
   * (which then needs a mark-compact to free it). Two buffers alternate: one in flight, one
   * filling.
   */
  let pending = new ProtoWriter(batchBytes + 1024);
  let pendingLines = 0;
  /** The last written batch's buffer, filled next. */
  let spare: ProtoWriter | undefined;
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

  /** Appends `line` and a newline to `pending`; false (nothing kept) past the bound. */
  function append(line: string): boolean {
    // UTF-8 is never shorter than the UTF-16 length: what cannot fit is refused unencoded.
    const at = pending.pos;
    if (at + line.length + 1 + inFlightBytes > maxBuffered) return false;
    let result = encoder.encodeInto(line, pending.bytes.subarray(at, pending.bytes.length - 1));
    if (result.read < line.length) {
      // At most 3 bytes per UTF-16 unit, and the newline.
      pending.ensure(line.length * 3 + 1);
      result = encoder.encodeInto(line, pending.bytes.subarray(at));
    }
    const end = at + result.written;
    if (end + 1 + inFlightBytes > maxBuffered) return false;
    pending.bytes[end] = NEWLINE;
    pending.pos = end + 1;
    pendingLines++;
    return true;
  }

  /**
   * Writes one batch, all of it, then the next one if a full batch or a flush is waiting; lines
   * that arrived meanwhile otherwise wait for the interval, as the first ones did. Writing them
   * at once kept one write (an encode, an op, a thread hop) per request or two under load.
   */
  async function pump(): Promise<void> {
    while (pendingLines > 0) {
      const lines = pendingLines;
      const buffer = pending;
      const data = buffer.bytes.subarray(0, buffer.pos);
      pending = spare ?? new ProtoWriter(batchBytes + 1024);
      pending.pos = 0;
      spare = undefined;
      pendingLines = 0;
      inFlightBytes = data.length;
      try {
        let offset = 0;
        while (offset < data.length) offset += await output.write(data.subarray(offset));
        stats.sent += lines;
        stalled = false;
      } catch {
        // A closed or broken stdout must not take the server down: the batch is lost, counted.
        drop(lines);
      }
      inFlightBytes = 0;
      // A buffer grown past a few batches (a stall) is not kept.
      if (buffer.bytes.length <= 4 * (batchBytes + 1024)) spare = buffer;
      if (idle.length === 0 && pending.pos < batchBytes) break;
    }
    writing = undefined;
    if (pendingLines > 0) {
      timer ??= setTimeout(start, intervalMs);
      return;
    }
    for (const resolve of idle.splice(0)) resolve();
  }

  function start(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (writing === undefined && pendingLines > 0) writing = pump();
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
      if (!append(line)) {
        drop(1);
        return;
      }
      if (pending.pos >= batchBytes) start();
      else if (timer === undefined && writing === undefined) timer = setTimeout(start, intervalMs);
    },
    flush: untilIdle,
    stats: () => ({ ...stats }),
  };
}
