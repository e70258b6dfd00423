/**
 * A stdout pipe whose reader stopped (a log shipper that hung): main.ts keeps serving, its
 * health check answers, the lost lines are counted and reported once on stderr, and SIGTERM
 * still ends the process by its deadline.
 */
import assert from "node:assert/strict";
import { blockedStdoutRun } from "../support/blocked_stdout.ts";

// Enough log lines (two per request) to overflow the pipe and the 1 MiB console buffer.
const REQUESTS = 2500;
const SHUTDOWN_TIMEOUT_MS = 2000;

Deno.test("main.ts with a stdout nobody reads serves every request and exits on SIGTERM", async () => {
  const run = await blockedStdoutRun({
    requests: REQUESTS,
    shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
  });
  assert.equal(run.served, REQUESTS, `served ${run.served} of ${REQUESTS} (${run.failure ?? ""})`);
  assert.equal(run.healthStatus, 200, "the health check answers while stdout is stalled");
  assert.ok(
    run.consoleStats !== undefined && run.consoleStats.dropped > 0,
    `the console counts the lines it could not write: ${JSON.stringify(run.consoleStats)}`,
  );
  assert.equal(run.exitCode, 0, `SIGTERM ends the process by its deadline (${run.exitCode})`);
  const reports = run.stderr.split("\n").filter((line) => /stdout is not keeping up/.test(line));
  assert.equal(reports.length, 1, `the loss is reported once on stderr:\n${run.stderr}`);
});
