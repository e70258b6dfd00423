import assert from "node:assert/strict";
import { createCloudWatchSink } from "../../../telemetry/cloudwatch/sink.ts";
import { startCloudWatchStandIn } from "../../support/cloudwatch_standin.ts";

async function deliver(credentials: { accessKeyId: string; secretAccessKey: string }) {
  const standin = startCloudWatchStandIn();
  const sink = createCloudWatchSink({
    logGroup: "cruddur",
    logStream: "signatures",
    region: "ca-central-1",
    credentials,
    endpoint: standin.endpoint,
    flushIntervalMs: 10,
    retry: { baseMs: 1, maxMs: 2, maxAttempts: 2 },
    diagnostic: () => {},
  });
  try {
    sink.push({ timestamp: Date.now(), message: '{"message":"signed"}' });
    await sink.forceFlush(Date.now() + 2000);
    return {
      stats: sink.stats(),
      stored: standin.events("cruddur", "signatures").length,
      errors: standin.calls.map((c) => c.errorType).filter((t) => t !== undefined),
    };
  } finally {
    await sink.shutdown(Date.now() + 1000);
    await standin.close();
  }
}

Deno.test("the CloudWatch stand-in accepts the SDK's SigV4 signature made with the right secret", async () => {
  const result = await deliver({ accessKeyId: "AKIDSTANDIN", secretAccessKey: "standin-secret" });
  assert.equal(result.stored, 1);
  assert.equal(result.stats.sent, 1);
  assert.deepEqual(result.errors, []);
});

Deno.test("a request signed with the wrong secret is refused as AWS would, and counted failed", async () => {
  const result = await deliver({ accessKeyId: "AKIDSTANDIN", secretAccessKey: "not-the-secret" });
  assert.equal(result.stored, 0);
  assert.equal(result.stats.failed, 1);
  assert.ok(result.errors.includes("InvalidSignatureException"), result.errors.join(","));
});

Deno.test("an unknown access key is refused as an unrecognised client", async () => {
  const result = await deliver({ accessKeyId: "AKIDUNKNOWN", secretAccessKey: "whatever" });
  assert.equal(result.stored, 0);
  assert.ok(result.errors.includes("UnrecognizedClientException"), result.errors.join(","));
});
