/**
 * One high-resolution clock for every span we make. The SDK's own span stamps its start with
 * `Date.now()` (whole milliseconds) and its end with start + a `performance.now()` duration,
 * so a child that starts later in the same millisecond as its parent could end up to 1 ms
 * after it. Every time here is `performance.timeOrigin + performance.now()` (microseconds or
 * better, monotonic), so every child stays inside its parent; telemetry/span.ts stamps its
 * start, end and events with it, one `performance.now()` call each.
 */
import type { HrTime, TimeInput } from "@opentelemetry/api";

/** `@opentelemetry/core`'s millisToHrTime: epoch milliseconds as `[seconds, nanos]`. */
export function millisToHrTime(epochMillis: number): HrTime {
  const seconds = Math.trunc(epochMillis / 1000);
  return [seconds, Math.round((epochMillis % 1000) * 1e6)];
}

/** `@opentelemetry/core`'s hrTime(performanceNow): the time origin plus the reading. */
function hrTime(performanceNow: number): HrTime {
  const origin = millisToHrTime(performance.timeOrigin);
  const now = millisToHrTime(performanceNow);
  const out: HrTime = [origin[0] + now[0], origin[1] + now[1]];
  if (out[1] >= 1e9) {
    out[1] -= 1e9;
    out[0] += 1;
  }
  return out;
}

function isTimeInputHrTime(value: unknown): value is HrTime {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === "number" &&
    typeof value[1] === "number";
}

// The origin split once into whole seconds and nanoseconds: adding the small, precise
// `performance.now()` to it keeps sub-microsecond precision that one epoch double would lose.
const ORIGIN = millisToHrTime(performance.timeOrigin);
const ORIGIN_SECONDS = ORIGIN[0];
const ORIGIN_NANOS = ORIGIN[1];

/** A `performance.now()` reading as epoch `[seconds, nanos]` on the process's clock. */
export function hrFromPerformance(ms: number): HrTime {
  const seconds = Math.trunc(ms / 1000);
  let nanos = ORIGIN_NANOS + Math.round((ms - seconds * 1000) * 1e6);
  let whole = ORIGIN_SECONDS + seconds;
  if (nanos >= 1e9) {
    nanos -= 1e9;
    whole++;
  }
  return [whole, nanos];
}

/** Now, on the process's monotonic high-resolution clock, as epoch `[seconds, nanos]`. */
export function hrNow(): HrTime {
  return hrFromPerformance(performance.now());
}

/**
 * A caller's time as `[seconds, nanos]`, read as the SDK reads it: a number not past
 * `performance.now()` is a performance timestamp, a larger one epoch milliseconds.
 */
export function hrFromInput(time: TimeInput): HrTime {
  if (typeof time === "number") {
    return time <= performance.now() ? hrTime(time) : millisToHrTime(time);
  }
  if (time instanceof Date) return millisToHrTime(time.getTime());
  if (isTimeInputHrTime(time)) return time;
  return hrNow();
}
