/**
 * One diagnostic channel per sink, throttled: each kind of trouble is reported at most once
 * per interval, with the number of repeats it swallowed, so an outage costs a few lines.
 */
import type { Diagnostic } from "../types.ts";

/** Reports `message` under `kind`; repeats of a kind within the interval are counted, not printed. */
export type Report = (kind: string, message: string) => void;

/** Options of {@linkcode throttledDiagnostic}. */
export interface ThrottleOptions {
  /** Prefix of every line, e.g. "cloudwatch". */
  prefix: string;
  /** Minimum time between two lines of one kind. Default 60 s. */
  intervalMs?: number;
  now?: () => number;
}

/** Wraps `diagnostic` so each kind is printed at most once per interval and never throws. */
export function throttledDiagnostic(diagnostic: Diagnostic, options: ThrottleOptions): Report {
  const intervalMs = options.intervalMs ?? 60_000;
  const now = options.now ?? Date.now;
  const last = new Map<string, { at: number; suppressed: number }>();
  return function report(kind: string, message: string): void {
    const at = now();
    const seen = last.get(kind);
    if (seen !== undefined && at - seen.at < intervalMs && at >= seen.at) {
      seen.suppressed++;
      return;
    }
    const more = seen !== undefined && seen.suppressed > 0
      ? ` (${seen.suppressed} similar since the last report)`
      : "";
    last.set(kind, { at, suppressed: 0 });
    try {
      diagnostic(`${options.prefix}: ${message}${more}`);
    } catch {
      // A broken diagnostic channel must not break the sink.
    }
  };
}

/** Writes diagnostics to stderr synchronously (they are rare and throttled). */
export function stderrDiagnostic(): Diagnostic {
  const encoder = new TextEncoder();
  return (message) => {
    try {
      Deno.stderr.writeSync(encoder.encode(`[telemetry] ${message}\n`));
    } catch {
      // Nowhere left to report.
    }
  };
}
