import assert from "node:assert/strict";
import { createCentralizedSampler } from "../../../telemetry/xray/centralized.ts";
import type { SamplingRequest } from "../../../telemetry/xray/sampling.ts";
import { buildApp } from "../../support/harness.ts";
import { startUdpListener } from "../../support/udp_listener.ts";

/** A rule as GetSamplingRules returns it. */
function remoteRule(fields: Record<string, unknown>) {
  return {
    SamplingRule: {
      RuleName: "Default",
      RuleARN: "arn:aws:xray:us-east-1:123456789012:sampling-rule/Default",
      ResourceARN: "*",
      Priority: 10000,
      FixedRate: 0.05,
      ReservoirSize: 1,
      ServiceName: "*",
      ServiceType: "*",
      Host: "*",
      HTTPMethod: "*",
      URLPath: "*",
      Version: 1,
      Attributes: {},
      ...fields,
    },
    CreatedAt: 1.7e9,
    ModifiedAt: 1.7e9,
  };
}

/** The daemon's TCP proxy on 127.0.0.1: the two sampling calls, recorded. */
function startDaemonProxy(
  rules: unknown[],
  targets: (stats: Array<Record<string, unknown>>) => unknown[] = () => [],
) {
  const statistics: Array<Array<Record<string, unknown>>> = [];
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    paths.push(path);
    const body = await req.json();
    if (path === "/GetSamplingRules") return Response.json({ SamplingRuleRecords: rules });
    if (path === "/SamplingTargets") {
      const docs = body.SamplingStatisticsDocuments as Array<Record<string, unknown>>;
      statistics.push(docs);
      return Response.json({
        SamplingTargetDocuments: targets(docs),
        LastRuleModification: 1.7e9,
        UnprocessedStatistics: [],
      });
    }
    return new Response("{}", { status: 404 });
  });
  return {
    port: server.addr.port,
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    statistics,
    paths,
    close: () => server.shutdown(),
  };
}

const request = (path: string): SamplingRequest => ({
  serviceName: "backend-deno",
  host: "localhost:4567",
  method: "GET",
  path,
});

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("centralized sampling: the service's rules by priority, a borrowed request a second, then the reservoir quota the targets give", async () => {
  let now = Date.parse("2026-12-07T12:00:00.100Z");
  const proxy = startDaemonProxy([
    remoteRule({}),
    remoteRule({
      RuleName: "NoHealth",
      Priority: 1,
      FixedRate: 0,
      ReservoirSize: 0,
      URLPath: "/api/health-check",
    }),
    // Not applicable here (attributes, a resource): left out, so they decide nothing.
    remoteRule({ RuleName: "Attrs", Priority: 0, FixedRate: 1, Attributes: { tier: "gold" } }),
    remoteRule({ RuleName: "Lambda", Priority: 0, FixedRate: 1, ResourceARN: "arn:aws:lambda:x" }),
  ], (docs) =>
    docs.filter((d) => d.RuleName === "Default").map(() => ({
      RuleName: "Default",
      FixedRate: 0,
      ReservoirQuota: 3,
      ReservoirQuotaTTL: now / 1000 + 60,
      Interval: 10,
    })));
  const sampler = createCentralizedSampler({
    endpoint: proxy.endpoint,
    fallback: () => true,
    diagnostic: (message) => assert.fail(`unexpected diagnostic: ${message}`),
    now: () => now,
    random: () => 0.5,
    clientId: "0123456789abcdef01234567",
    targetsIntervalMs: 20,
  });
  try {
    assert.equal(
      sampler.sample(request("/api/activities/home")),
      true,
      "the fallback, before rules",
    );
    await sampler.start();
    assert.equal(sampler.ruleCount(), 2);
    assert.equal(sampler.sample(request("/api/health-check")), false, "rate 0, nothing to borrow");
    assert.equal(sampler.sample(request("/api/activities/home")), true, "borrowed: no quota yet");
    assert.equal(sampler.sample(request("/api/activities/home")), false, "0.5 ≥ 5%");

    await until("a statistics report", () => proxy.statistics.length > 0);
    const [first] = proxy.statistics;
    const byName = new Map(first!.map((d) => [d.RuleName, d]));
    assert.deepEqual(
      { ...byName.get("Default"), Timestamp: 0 },
      {
        RuleName: "Default",
        ClientID: "0123456789abcdef01234567",
        Timestamp: 0,
        RequestCount: 2,
        SampledCount: 1,
        BorrowCount: 1,
      },
    );
    assert.equal(byName.get("NoHealth")?.RequestCount, 1);
    assert.equal(byName.get("NoHealth")?.SampledCount, 0);
    assert.equal(byName.has("Attrs"), false);

    // The quota (3 a second until the TTL) replaces borrowing; the target's rate 0 the rest.
    await until("the quota applied", () => {
      now += 1000; // a fresh second per try, so the quota is whole
      return sampler.sample(request("/api/activities/home")) &&
        sampler.sample(request("/api/activities/home")) &&
        sampler.sample(request("/api/activities/home")) &&
        !sampler.sample(request("/api/activities/home"));
    });
    await until("the next report", () => proxy.statistics.length > 2);
    const later = proxy.statistics.at(-1)!.find((d) => d.RuleName === "Default")!;
    assert.equal(later.BorrowCount, 0, "each report counts only what followed the last one");
  } finally {
    sampler.stop();
    await proxy.close();
  }
});

Deno.test("centralized sampling: an unreachable daemon leaves the local rule deciding, said once", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const diagnostics: string[] = [];
  const sampler = createCentralizedSampler({
    endpoint: `http://127.0.0.1:${port}`,
    fallback: (r) => r.path === "/yes",
    diagnostic: (message) => diagnostics.push(message),
    rulesIntervalMs: 10,
  });
  try {
    await sampler.start();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(sampler.ruleCount(), 0);
    assert.equal(sampler.sample(request("/yes")), true);
    assert.equal(sampler.sample(request("/no")), false);
    assert.equal(diagnostics.length, 1, diagnostics.join("\n"));
    assert.match(
      diagnostics[0]!,
      /^xray: centralized sampling unavailable .*the local rule decides$/,
    );
  } finally {
    sampler.stop();
  }
});

Deno.test("AWS_XRAY_SAMPLING=centralized: the app samples by the service's rules, polled through the daemon's TCP address", async () => {
  const listener = await startUdpListener();
  const proxy = startDaemonProxy([
    remoteRule({
      RuleName: "NoFeed",
      Priority: 1,
      FixedRate: 0,
      ReservoirSize: 0,
      URLPath: "/api/activities/home",
    }),
    remoteRule({ FixedRate: 1 }),
  ]);
  const h = await buildApp({
    AWS_XRAY_DAEMON_ADDRESS: `udp:127.0.0.1:${listener.port} tcp:127.0.0.1:${proxy.port}`,
    AWS_XRAY_SAMPLING: "centralized",
  });
  try {
    assert.ok(
      h.telemetry.describe().some((l) =>
        l.includes(`sampling rules from X-Ray via ${proxy.endpoint} (aws/json/xray.json until`)
      ),
      h.telemetry.describe().join("\n"),
    );
    await until("the rules", () => h.telemetry.details().xray?.sampling_rules === 2);
    const feed = await h.app.request("/api/activities/home");
    await feed.arrayBuffer();
    // The shipped rule would sample this first request (its reservoir is 5 a second).
    assert.equal(h.telemetry.details().xray?.unsampled_requests, 1);
    assert.equal(h.telemetry.details().xray?.sampled_requests, 0);
    const notifications = await h.app.request("/api/activities/notifications");
    await notifications.arrayBuffer();
    assert.equal(h.telemetry.details().xray?.sampled_requests, 1);
    await h.telemetry.forceFlush(Date.now() + 10_000);
    await listener.waitFor(1);
    assert.deepEqual(
      listener.documents.map((d) => new URL(d.doc.http.request.url).pathname),
      ["/api/activities/notifications"],
    );
  } finally {
    await h.close();
    await proxy.close();
    await listener.close();
  }
});

Deno.test("centralized sampling: a proxy answering more rules than X-Ray allows keeps the first 100 by priority", async () => {
  const many = Array.from(
    { length: 150 },
    (_, i) => remoteRule({ RuleName: `r${i}`, Priority: 150 - i, URLPath: `/only/${i}` }),
  );
  const proxy = startDaemonProxy(many);
  const diagnostics: string[] = [];
  const sampler = createCentralizedSampler({
    endpoint: proxy.endpoint,
    fallback: () => false,
    diagnostic: (message) => diagnostics.push(message),
    random: () => 0.99,
  });
  try {
    await sampler.start();
    assert.equal(sampler.ruleCount(), 100);
    assert.deepEqual(diagnostics, [
      "xray: 150 sampling rules; the first 100 by priority apply",
    ]);
    // r149 has priority 1 (kept: borrows its first request); r0, priority 150, was left out.
    assert.equal(sampler.sample(request("/only/149")), true);
    assert.equal(sampler.sample(request("/only/0")), false, "the fallback decides");
  } finally {
    sampler.stop();
    await proxy.close();
  }
});

Deno.test("centralized sampling: a rule is reported as often as its target's Interval asks", async () => {
  const proxy = startDaemonProxy(
    [remoteRule({}), remoteRule({ RuleName: "Every", Priority: 1, URLPath: "/every" })],
    (docs) =>
      docs.filter((d) => d.RuleName === "Default").map(() => ({
        RuleName: "Default",
        FixedRate: 0.05,
        Interval: 20, // every other 10 s round
      })),
  );
  const sampler = createCentralizedSampler({
    endpoint: proxy.endpoint,
    fallback: () => false,
    diagnostic: (message) => assert.fail(message),
    targetsIntervalMs: 10,
  });
  try {
    await sampler.start();
    await until("six reports", () => proxy.statistics.length >= 6);
    const named = proxy.statistics.slice(0, 6).map((docs) => docs.map((d) => d.RuleName).sort());
    // The first report has both; after it Default's target asks for every other round.
    assert.deepEqual(named, [
      ["Default", "Every"],
      ["Every"],
      ["Default", "Every"],
      ["Every"],
      ["Default", "Every"],
      ["Every"],
    ]);
  } finally {
    sampler.stop();
    await proxy.close();
  }
});
