/**
 * `deno task reliability`: runs the main fault scenarios once, through the real app and the
 * stand-ins, and prints a markdown table of what was generated, delivered and lost.
 */
import { buildApp } from "../support/harness.ts";
import { startOtlpReceiver } from "../support/otlp_receiver.ts";
import { drive, pendingOf, percentile, until } from "../support/faults.ts";
import { blockedStdoutRun } from "../support/blocked_stdout.ts";
import { descriptorRows } from "./descriptors.ts";
import { hostileSinkRows } from "./hostile_sinks.ts";

interface Row {
  scenario: string;
  generated: number;
  delivered: number;
  dropped: number;
  retried: number;
  rejectedFailed: string;
  recoveryMs: string;
  p99: string;
}

const FAST = { OTEL_BSP_SCHEDULE_DELAY: "10", OTEL_EXPORTER_OTLP_TIMEOUT: "300" };

async function healthyP99(): Promise<number> {
  const receiver = startOtlpReceiver();
  const h = await buildApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...FAST });
  await drive(h.app, 20);
  const p99 = percentile((await drive(h.app, 200)).latencies, 99);
  await h.close();
  await receiver.close();
  return p99;
}

async function scenario(
  name: string,
  env: Record<string, string>,
  fault: (r: ReturnType<typeof startOtlpReceiver>) => void,
  healthy: number,
): Promise<Row> {
  const receiver = startOtlpReceiver();
  const h = await buildApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...FAST, ...env });
  fault(receiver);
  const { latencies } = await drive(h.app, 200);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  receiver.answer({ kind: "ok" });
  let recovery = "n/a";
  try {
    await until(() => pendingOf(h.telemetry.stats().traces) === 0, 5000);
    recovery = `${Date.now() - started} ms`;
  } catch {
    recovery = "not within 5 s";
  }
  await h.telemetry.shutdown(Date.now() + 1000);
  const s = h.telemetry.stats().traces!;
  await receiver.close();
  return {
    scenario: name,
    generated: h.exporter.spans.length,
    delivered: receiver.spans().length,
    dropped: s.dropped,
    retried: s.retried,
    rejectedFailed: `${s.rejected}/${s.failed}`,
    recoveryMs: recovery,
    p99: `${healthy.toFixed(2)} / ${percentile(latencies, 99).toFixed(2)} ms`,
  };
}

const healthy = await healthyP99();
const rows = [
  await scenario("OTLP healthy", {}, () => {}, healthy),
  await scenario(
    "OTLP 503 then recovery",
    {},
    (r) => r.answer({ kind: "status", status: 503 }),
    healthy,
  ),
  await scenario(
    "OTLP 503, buffer 100 spans",
    { OTEL_BSP_MAX_QUEUE_SIZE: "100" },
    (r) => r.answer({ kind: "status", status: 503 }),
    healthy,
  ),
  await scenario(
    "OTLP 400 (not retried)",
    {},
    (r) => r.answer({ kind: "status", status: 400 }),
    healthy,
  ),
  await scenario(
    "OTLP partial success (2/batch)",
    {},
    (r) => r.answer({ kind: "partial", rejected: 2 }),
    healthy,
  ),
  await scenario(
    "OTLP black hole, then recovery",
    {},
    (r) => r.answer({ kind: "blackhole" }),
    healthy,
  ),
];
const header = "| scenario | generated | delivered | dropped | retried | rejected/failed | " +
  "recovery | request p99 healthy / failing |";
const lines = [header, "|---|---|---|---|---|---|---|---|"];
for (const r of rows) {
  lines.push(
    `| ${r.scenario} | ${r.generated} | ${r.delivered} | ${r.dropped} | ${r.retried} | ${r.rejectedFailed} | ${r.recoveryMs} | ${r.p99} |`,
  );
}
// Issue 13.1: stdout a pipe whose reader stopped after the startup line.
const stalled = await blockedStdoutRun({ requests: 2500, shutdownTimeoutMs: 2000 });
const c = stalled.consoleStats;
lines.push(
  "",
  "| stdout blocked (reader stopped) | requests served | health check | console lines written / dropped | SIGTERM → exit |",
  "|---|---|---|---|---|",
  `| main.ts, 2,500 GETs, 8 at a time | ${stalled.served} of 2500 in ${stalled.elapsedMs} ms` +
    `${stalled.failure ? ` (stopped: ${stalled.failure})` : ""} | ${
      stalled.healthStatus ?? "no answer"
    } | ` +
    `${c ? `${c.sent} / ${c.dropped} of ${c.queued}` : "n/a"} | ` +
    `${
      stalled.exitCode === undefined ? "killed: no exit" : `exit ${stalled.exitCode}`
    } after ${stalled.exitMs} ms ` +
    "(deadline 2000 ms) |",
);
// Issue 13.2: out of file descriptors, then descriptors free again.
lines.push(...await descriptorRows());
// Issue 13.3-5: hostile sink answers, a dead resolver, large values with a failing collector.
lines.push(...await hostileSinkRows());
// deno-lint-ignore no-console
console.log(lines.join("\n"));
