/**
 * Helpers shared by the reliability suite and its report: request latency percentiles, a
 * polling wait, and the account identity every sink keeps.
 */
import type { Hono } from "hono";
import type { SinkStats } from "../../telemetry/types.ts";

/** The AWS settings the CloudWatch stand-in accepts. */
export const AWS_ENV = {
  AWS_REGION: "ca-central-1",
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

/** Polls `check` every 5 ms until it holds; throws after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sends `n` requests one after another; returns every status and the latencies (ms). */
export async function drive(
  app: Hono,
  n: number,
  path = "/api/activities/home",
): Promise<{ statuses: number[]; latencies: number[] }> {
  const statuses: number[] = [];
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await app.request(path);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    statuses.push(res.status);
  }
  return { statuses, latencies };
}

/** The p-th percentile (0..100) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** queued - (sent + dropped + rejected + failed): what is still pending. */
export function pendingOf(stats: SinkStats | undefined): number {
  if (!stats) return 0;
  return stats.queued - (stats.sent + stats.dropped + stats.rejected + stats.failed);
}
