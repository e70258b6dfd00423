/**
 * Runs main.ts with stdout a pipe whose reader stopped after the "listening" line, drives
 * requests at it, reads its health check, then sends SIGTERM and waits (bounded) for the exit.
 * Shared by tests/reliability/stdout_blocked_test.ts and `deno task reliability`.
 */
import type { SinkStats } from "../../telemetry/types.ts";
import { childEnv } from "./child_env.ts";

/** What happened while stdout was stalled. */
export interface BlockedStdoutRun {
  /** Requests answered 200 (the run stops at the first one that fails or times out). */
  served: number;
  /** Why the run stopped early, if it did. */
  failure?: string;
  /** Wall time of the requests, ms. */
  elapsedMs: number;
  healthStatus: number | undefined;
  consoleStats: SinkStats | undefined;
  /** Exit code, or undefined when the process did not exit in time and was killed. */
  exitCode: number | undefined;
  /** SIGTERM to exit, ms. */
  exitMs: number;
  stderr: string;
}

const REQUEST_TIMEOUT_MS = 10_000;
const CONCURRENCY = 8;

/** Options of `blockedStdoutRun`. */
export interface BlockedStdoutOptions {
  requests: number;
  shutdownTimeoutMs: number;
  env?: Record<string, string>;
}

/** Starts main.ts, stalls its stdout, and reports what it still did. */
export async function blockedStdoutRun(options: BlockedStdoutOptions): Promise<BlockedStdoutRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("../..", import.meta.url),
    clearEnv: true,
    env: childEnv({
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      NO_COLOR: "1",
      HEALTH_CHECK_DETAIL: "true",
      DATABASE_URL: "memory:",
      SHUTDOWN_TIMEOUT_MS: String(options.shutdownTimeoutMs),
      ...options.env,
    }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const exited = child.status;
  // Read stdout only until the listening line, then never again: the pipe fills up.
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let head = "";
  let url: string | undefined;
  const readyBy = Date.now() + 30_000;
  while (url === undefined && Date.now() < readyBy) {
    const { value, done } = await reader.read();
    if (done) break;
    head += decoder.decode(value, { stream: true });
    url = /listening on (http:\/\/[^\s"]+)/.exec(head)?.[1];
  }
  if (url === undefined) {
    child.kill("SIGKILL");
    await exited;
    reader.releaseLock();
    await child.stdout.cancel();
    throw new Error(`main.ts did not start:\n${head}\n${await stderr}`);
  }

  let served = 0;
  let failure: string | undefined;
  let next = 0;
  const started = Date.now();
  async function worker(): Promise<void> {
    while (failure === undefined && next < options.requests) {
      next++;
      try {
        const response = await fetch(`${url}/api/activities/home`, {
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        await response.arrayBuffer();
        if (response.status === 200) served++;
        else failure = `status ${response.status}`;
      } catch (error) {
        failure = String(error);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsedMs = Date.now() - started;

  let healthStatus: number | undefined;
  let consoleStats: SinkStats | undefined;
  try {
    const response = await fetch(`${url}/api/health-check`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    healthStatus = response.status;
    const body = await response.json() as { telemetry?: Record<string, SinkStats> };
    consoleStats = body.telemetry?.console;
  } catch {
    // No answer: healthStatus stays undefined.
  }

  const signalled = Date.now();
  child.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = await Promise.race([
    exited.then((status) => status.code),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), options.shutdownTimeoutMs + 10_000);
    }),
  ]);
  clearTimeout(timer);
  const exitMs = Date.now() - signalled;
  if (waited === undefined) child.kill("SIGKILL");
  await exited;
  reader.releaseLock();
  await child.stdout.cancel();
  return {
    served,
    ...(failure !== undefined ? { failure } : {}),
    elapsedMs,
    healthStatus,
    consoleStats,
    exitCode: waited,
    exitMs,
    stderr: await stderr,
  };
}
