/**
 * Deadlines and wake-able sleeps, built on `AbortSignal.timeout`/`AbortSignal.any` like std's
 * `deadline()` and `delay()`. Every sink waits through these, so "wait, but not past the
 * deadline" and "a sleep that shutdown can wake" are written once.
 */

/** Largest delay a timer honours; beyond it setTimeout fires at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A signal that aborts at `deadlineMs` (epoch ms), or at once when that is past. */
export function deadlineSignal(deadlineMs: number, now: () => number = Date.now): AbortSignal {
  const ms = Math.max(0, Math.min(MAX_DELAY_MS, deadlineMs - now()));
  return AbortSignal.timeout(ms);
}

/**
 * Waits for `work` but not past `deadlineMs`: true when it settled in time (fulfilled or
 * rejected: callers only wait, they never see its error), false at the deadline.
 */
export function beforeDeadline(
  work: Promise<unknown>,
  deadlineMs: number,
  now: () => number = Date.now,
): Promise<boolean> {
  return settledBefore(work, deadlineSignal(deadlineMs, now));
}

/** Waits for `work` until `signal` aborts: true when it settled first. */
export function settledBefore(work: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(finish, finish);
    function finish(): void {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }
  });
}

/**
 * Sleeps `ms`, waking early (without error) when `signal` aborts. A sink passes its own
 * shutdown signal, so one `abort()` wakes every sleeper at once.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, Math.min(MAX_DELAY_MS, ms)));
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The signal for one outbound call: its own timeout, or the sink's shutdown, whichever first. */
export function callSignal(timeoutMs: number, shutdown?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(0, Math.min(MAX_DELAY_MS, timeoutMs)));
  return shutdown ? AbortSignal.any([timeout, shutdown]) : timeout;
}
