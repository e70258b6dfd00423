import assert from "node:assert/strict";
import { CONFIG_VARIABLES, ConfigError, DEFAULT_OTLP_PROTOCOL, loadConfig } from "../config.ts";
import { childEnv } from "./support/child_env.ts";

function rejects(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${variable}: ${error}`);
      assert.ok(error.message.includes(variable), `"${error.message}" names ${variable}`);
      assert.ok(!error.message.includes("\n"), "one line");
      return true;
    },
  );
}

Deno.test("loadConfig() with an empty environment uses the documented defaults", () => {
  const config = loadConfig({});
  assert.equal(config.port, 4567);
  assert.equal(config.hostname, "0.0.0.0");
  assert.equal(config.bodyLimitBytes, 65_536);
  assert.equal(config.shutdownTimeoutMs, 10_000);
  assert.equal(config.traceDemo, false);
  assert.equal(config.healthDetail, false);
  assert.equal(config.serviceName, "backend-deno");
  assert.equal(config.environment, "development");
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "auto");
  assert.equal(config.otel.mode, "sdk");
  assert.deepEqual(config.otel.exporters, []);
  assert.equal(config.otel.tracesEndpoint, undefined);
  assert.deepEqual(config.otel.headers, {});
  assert.equal(config.otel.sampler, "parentbased_always_on");
  assert.equal(config.xray.enabled, false);
  assert.equal(config.xray.daemonAddress, "127.0.0.1:2000");
  assert.equal(config.frontendUrl, undefined);
  assert.equal(config.aws, undefined);
  assert.equal(config.cloudwatch, undefined);
  assert.equal(config.rollbar, undefined);
});

Deno.test("loadConfig() rejects each bad value with a ConfigError naming the variable", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: "abc" }, "PORT"],
    [{ PORT: "65536" }, "PORT"],
    [{ PORT: "-1" }, "PORT"],
    [{ PORT: "80.5" }, "PORT"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=%zz" }, "OTEL_EXPORTER_OTLP_HEADERS"],
    [{ AWS_XRAY_DAEMON_ADDRESS: "bad" }, "AWS_XRAY_DAEMON_ADDRESS"],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT"],
    [{ OTEL_TRACES_SAMPLER_ARG: "2" }, "OTEL_TRACES_SAMPLER_ARG"],
    [{ OTEL_TRACES_SAMPLER_ARG: "half" }, "OTEL_TRACES_SAMPLER_ARG"],
    [{ OTEL_TRACES_SAMPLER: "sometimes" }, "OTEL_TRACES_SAMPLER"],
    [{ FRONTEND_URL: "notaurl" }, "FRONTEND_URL"],
    [{ BACKEND_URL: "ftp://example.com" }, "BACKEND_URL"],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
    [{ OTEL_TRACES_EXPORTER: "zipkin" }, "OTEL_TRACES_EXPORTER"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "api.honeycomb.io" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "OTEL_EXPORTER_OTLP_PROTOCOL"],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf2" }, "OTEL_EXPORTER_OTLP_PROTOCOL"],
    [{ OTEL_EXPORTER_OTLP_HEADERS: "=nokey" }, "OTEL_EXPORTER_OTLP_HEADERS"],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: "0" }, "OTEL_EXPORTER_OTLP_TIMEOUT"],
    [{ OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "0" }, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"],
    [{ OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "soon" }, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"],
    [{ OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: "-1" }, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"],
    [
      { OTEL_EXPORTER_OTLP_TIMEOUT: "x", OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: "100" },
      "OTEL_EXPORTER_OTLP_TIMEOUT",
    ],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: "many" }, "OTEL_BSP_MAX_QUEUE_SIZE"],
    [{ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "4096" }, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
    [
      { OTEL_BSP_MAX_QUEUE_SIZE: "100", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "101" },
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ],
    [{ OTLP_MAX_CONCURRENT_EXPORTS: "0" }, "OTLP_MAX_CONCURRENT_EXPORTS"],
    [{ OTLP_MAX_CONCURRENT_EXPORTS: "33" }, "OTLP_MAX_CONCURRENT_EXPORTS"],
    [{ OTEL_SPAN_EVENT_COUNT_LIMIT: "lots" }, "OTEL_SPAN_EVENT_COUNT_LIMIT"],
    [{ OTEL_ATTRIBUTE_COUNT_LIMIT: "-1" }, "OTEL_ATTRIBUTE_COUNT_LIMIT"],
    [{ TRACE_DEMO: "maybe" }, "TRACE_DEMO"],
    [{ AWS_XRAY_ENABLED: "sure" }, "AWS_XRAY_ENABLED"],
    [{ BODY_LIMIT_BYTES: "0" }, "BODY_LIMIT_BYTES"],
    [{ SHUTDOWN_TIMEOUT_MS: "soon" }, "SHUTDOWN_TIMEOUT_MS"],
    [{ CLOUDWATCH_LOG_GROUP: "cruddur", CLOUDWATCH_FLUSH_INTERVAL_MS: "5" }, "CLOUDWATCH_FLUSH"],
    // Below one largest event (1 MiB + 26 bytes would not fit), or not a number of bytes.
    [{ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_QUEUE_BYTES: "1048575" }, "CLOUDWATCH_MAX_QUEUE"],
    [{ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_QUEUE_BYTES: "2MiB" }, "CLOUDWATCH_MAX_QUEUE"],
    [{ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_CONCURRENT_PUTS: "0" }, "CLOUDWATCH_MAX_CONC"],
    [{ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_CONCURRENT_PUTS: "17" }, "CLOUDWATCH_MAX_CONC"],
    [{ ROLLBAR_ACCESS_TOKEN: "t", ROLLBAR_ITEMS_PER_MINUTE: "x" }, "ROLLBAR_ITEMS_PER_MINUTE"],
    [{ ROLLBAR_ENDPOINT: "nope" }, "ROLLBAR_ENDPOINT"],
    [{ OTEL_METRICS_EXPORTER: "prometheus" }, "OTEL_METRICS_EXPORTER"],
    [{ OTEL_METRICS_EXPORTER: "otlp" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
    [{ OTEL_LOGS_EXPORTER: "syslog" }, "OTEL_LOGS_EXPORTER"],
    [{ OTEL_LOGS_EXPORTER: "otlp" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
    [{ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "nope" }, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"],
    [{ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "nope" }, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"],
    [{ OTEL_EXPORTER_OTLP_METRICS_HEADERS: "=x" }, "OTEL_EXPORTER_OTLP_METRICS_HEADERS"],
    [{ OTEL_EXPORTER_OTLP_LOGS_HEADERS: "=x" }, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"],
    [{ OTEL_METRIC_EXPORT_INTERVAL: "10" }, "OTEL_METRIC_EXPORT_INTERVAL"],
    [{ OTEL_METRIC_EXPORT_TIMEOUT: "0" }, "OTEL_METRIC_EXPORT_TIMEOUT"],
    [{ AWS_XRAY_SAMPLING: "remote" }, "AWS_XRAY_SAMPLING"],
    [
      { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "deltas" },
      "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    ],
    [{ OTEL_BLRP_SCHEDULE_DELAY: "-1" }, "OTEL_BLRP_SCHEDULE_DELAY"],
    [{ OTEL_BLRP_SCHEDULE_DELAY: "1s" }, "OTEL_BLRP_SCHEDULE_DELAY"],
    [{ OTEL_BLRP_EXPORT_TIMEOUT: "-5" }, "OTEL_BLRP_EXPORT_TIMEOUT"],
    [{ OTEL_BLRP_EXPORT_TIMEOUT: String(2 ** 31) }, "OTEL_BLRP_EXPORT_TIMEOUT"],
    [{ OTEL_BLRP_MAX_QUEUE_SIZE: "0" }, "OTEL_BLRP_MAX_QUEUE_SIZE"],
    [{ OTEL_BLRP_MAX_QUEUE_SIZE: "many" }, "OTEL_BLRP_MAX_QUEUE_SIZE"],
    [{ OTEL_BLRP_MAX_QUEUE_SIZE: "2000000" }, "OTEL_BLRP_MAX_QUEUE_SIZE"],
    [{ OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: "0" }, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"],
    [{ OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: "4096" }, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"],
    [
      { OTEL_BLRP_MAX_QUEUE_SIZE: "100", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: "101" },
      "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    ],
    [{ OTEL_EXPORTER_OTLP_LOGS_HEADERS: "x-a=b%0Ac" }, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"],
    [{ OTEL_EXPORTER_OTLP_METRICS_HEADERS: "bad key=v" }, "OTEL_EXPORTER_OTLP_METRICS_HEADERS"],
    [
      { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_METRICS_NAMESPACE: "AWS/EC2" },
      "CLOUDWATCH_METRICS_NAMESPACE",
    ],
    [
      { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_METRICS_NAMESPACE: "a{b}" },
      "CLOUDWATCH_METRICS_NAMESPACE",
    ],
    [
      { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_METRICS_ENABLED: "perhaps" },
      "CLOUDWATCH_METRICS_ENABLED",
    ],
    [
      { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_METRICS_INTERVAL_MS: "10" },
      "CLOUDWATCH_METRICS_INTERVAL_MS",
    ],
  ];
  for (const [env, variable] of cases) rejects(env, variable);
});

Deno.test("span count limits default to 128; the span attribute limit falls back to the general one", () => {
  assert.deepEqual(loadConfig({}).otel.spanCountLimits, {
    attributeCountLimit: 128,
    eventCountLimit: 128,
    linkCountLimit: 128,
    attributePerEventCountLimit: 128,
    attributePerLinkCountLimit: 128,
  });
  const general = loadConfig({ OTEL_ATTRIBUTE_COUNT_LIMIT: "7", OTEL_SPAN_LINK_COUNT_LIMIT: "0" });
  assert.equal(general.otel.spanCountLimits.attributeCountLimit, 7);
  assert.equal(general.otel.spanCountLimits.linkCountLimit, 0);
  const span = loadConfig({
    OTEL_ATTRIBUTE_COUNT_LIMIT: "7",
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: "9",
  });
  assert.equal(span.otel.spanCountLimits.attributeCountLimit, 9);
});

Deno.test("metrics and logs follow the OTLP endpoint by default, each with its own URL and headers", () => {
  const off = loadConfig({});
  assert.deepEqual(off.metrics.exporters, []);
  assert.deepEqual(off.logs.exporters, []);
  assert.equal(off.metrics.intervalMs, 60_000);
  assert.equal(off.metrics.timeoutMs, 30_000);
  assert.equal(off.metrics.temporality, "cumulative");
  assert.equal(
    loadConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "LowMemory" }).metrics
      .temporality,
    "lowmemory",
  );
  const on = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "https://api.honeycomb.io/",
    OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=key",
    OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x-honeycomb-dataset=cruddur-metrics",
    OTEL_METRIC_EXPORT_INTERVAL: "10000",
  });
  assert.deepEqual(on.metrics.exporters, ["otlp"]);
  assert.equal(on.metrics.endpoint, "https://api.honeycomb.io/v1/metrics");
  assert.deepEqual(on.metrics.headers, {
    "x-honeycomb-team": "key",
    "x-honeycomb-dataset": "cruddur-metrics",
  });
  assert.equal(on.metrics.timeoutMs, 10_000, "the timeout fits in the interval");
  assert.deepEqual(on.logs.exporters, ["otlp"]);
  assert.equal(on.logs.endpoint, "https://api.honeycomb.io/v1/logs");
  assert.deepEqual(on.logs.headers, { "x-honeycomb-team": "key" });
  assert.equal(on.otel.headers["x-honeycomb-dataset"], undefined, "the dataset is for metrics");
  const own = loadConfig({
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "http://127.0.0.1:4318/custom/logs",
    OTEL_METRICS_EXPORTER: "console",
  });
  assert.equal(own.logs.endpoint, "http://127.0.0.1:4318/custom/logs");
  assert.deepEqual(own.logs.exporters, ["otlp"]);
  assert.deepEqual(own.metrics.exporters, ["console"]);
  assert.deepEqual(off.logs.batch, {
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 1000,
    exportTimeoutMillis: 30_000,
    maxConcurrentExports: 4,
  }, "the specification's OTEL_BLRP_* defaults, and four batches out at once");
  assert.deepEqual(
    loadConfig({
      OTEL_BLRP_MAX_QUEUE_SIZE: "100",
      OTEL_BLRP_SCHEDULE_DELAY: "0",
      OTEL_BLRP_EXPORT_TIMEOUT: "0",
    }).logs.batch,
    {
      maxQueueSize: 100,
      maxExportBatchSize: 100,
      scheduledDelayMillis: 0,
      exportTimeoutMillis: 2 ** 31 - 1,
      maxConcurrentExports: 4,
    },
    "an unset batch size shrinks to the queue; a 0 timeout means no limit",
  );
  assert.equal(
    loadConfig({ OTEL_BLRP_MAX_QUEUE_SIZE: "64", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: "64" }).logs
      .batch.maxExportBatchSize,
    64,
  );
  const cw = loadConfig({ CLOUDWATCH_LOG_GROUP: "cruddur" });
  assert.deepEqual(cw.cloudwatch?.metrics, {
    enabled: true,
    namespace: "Cruddur",
    intervalMs: 60_000,
  });
});

Deno.test("loadConfig() quotes the bad value so the operator sees what was set", () => {
  assert.throws(
    () => loadConfig({ PORT: "abc" }),
    /PORT must be an integer from 0 to 65535, got "abc"/,
  );
});

Deno.test("loadConfig() appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT and turns otlp on", () => {
  for (const base of ["https://api.honeycomb.io", "https://api.honeycomb.io/"]) {
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: base });
    assert.equal(config.otel.tracesEndpoint, "https://api.honeycomb.io/v1/traces", base);
    assert.deepEqual(config.otel.exporters, ["otlp"]);
  }
  // The signal-specific variable is used as is and wins.
  const specific = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "https://api.honeycomb.io",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/custom",
  });
  assert.equal(specific.otel.tracesEndpoint, "http://127.0.0.1:4318/custom");
  // An explicit exporter list overrides the default.
  const both = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "https://api.honeycomb.io",
    OTEL_TRACES_EXPORTER: "otlp,console",
  });
  assert.deepEqual(both.otel.exporters, ["otlp", "console"]);
  const none = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "https://api.honeycomb.io",
    OTEL_TRACES_EXPORTER: "none",
  });
  assert.deepEqual(none.otel.exporters, []);
});

Deno.test("loadConfig() parses OTLP headers, decoding values and letting traces headers win", () => {
  const config = loadConfig({
    OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=abc123, x-honeycomb-dataset=cruddur%20dev",
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-honeycomb-team=traces-key",
    OTEL_RESOURCE_ATTRIBUTES: "team=bootcamp,region=ca-central-1",
  });
  assert.deepEqual(config.otel.headers, {
    "x-honeycomb-team": "traces-key",
    "x-honeycomb-dataset": "cruddur dev",
  });
  assert.deepEqual(config.otel.resourceAttributes, { team: "bootcamp", region: "ca-central-1" });
  // The seed's compose file with HONEYCOMB_API_KEY unset yields an empty value, not an error.
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=" }).otel.headers, {
    "x-honeycomb-team": "",
  });
});

Deno.test("loadConfig() builds AWS settings only with a region and both keys", () => {
  const keys = { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret" };
  assert.equal(loadConfig(keys).aws, undefined);
  assert.equal(loadConfig({ AWS_DEFAULT_REGION: "ca-central-1" }).aws, undefined);
  assert.equal(
    loadConfig({ AWS_DEFAULT_REGION: "ca-central-1", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE" }).aws,
    undefined,
  );
  assert.equal(loadConfig({ ...keys, AWS_DEFAULT_REGION: " " }).aws, undefined);
  assert.deepEqual(loadConfig({ ...keys, AWS_DEFAULT_REGION: "ca-central-1" }).aws, {
    region: "ca-central-1",
    credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret" },
  });
  // AWS_REGION wins over AWS_DEFAULT_REGION; a session token is carried when set.
  assert.deepEqual(
    loadConfig({
      ...keys,
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "ca-central-1",
      AWS_SESSION_TOKEN: "tok",
    }).aws,
    {
      region: "us-east-1",
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret", sessionToken: "tok" },
    },
  );
});

Deno.test("loadConfig() turns X-Ray on with a daemon address and keeps the seed's names", () => {
  const config = loadConfig({
    AWS_XRAY_DAEMON_ADDRESS: "xray-daemon:2000",
    AWS_XRAY_URL: "*4567-example.gitpod.io*",
  });
  assert.equal(config.xray.enabled, true);
  assert.equal(config.xray.daemonAddress, "xray-daemon:2000");
  assert.equal(config.xray.dynamicNamingPattern, "*4567-example.gitpod.io*");
  assert.equal(
    loadConfig({ AWS_XRAY_DAEMON_ADDRESS: "xray-daemon:2000", AWS_XRAY_ENABLED: "false" }).xray
      .enabled,
    false,
  );
});

Deno.test("loadConfig() sets CloudWatch and Rollbar up only when their variables are set", () => {
  const config = loadConfig({ CLOUDWATCH_LOG_GROUP: "cruddur", ROLLBAR_ACCESS_TOKEN: "tok" });
  assert.equal(config.cloudwatch?.logGroup, "cruddur");
  assert.equal(config.cloudwatch?.flushIntervalMs, 5000);
  assert.equal(config.cloudwatch?.maxQueueBytes, 2 * 1_048_576);
  assert.equal(config.cloudwatch?.maxConcurrentPuts, 4);
  assert.equal(
    loadConfig({ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_CONCURRENT_PUTS: "1" }).cloudwatch
      ?.maxConcurrentPuts,
    1,
  );
  assert.equal(
    loadConfig({ CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_MAX_QUEUE_BYTES: "8388608" }).cloudwatch
      ?.maxQueueBytes,
    8_388_608,
  );
  assert.equal(config.rollbar?.accessToken, "tok");
  assert.equal(config.rollbar?.environment, "development");
  // Blank is the same as unset (compose passes "" for an unset ${VAR}).
  const blank = loadConfig({ CLOUDWATCH_LOG_GROUP: "", ROLLBAR_ACCESS_TOKEN: "  " });
  assert.equal(blank.cloudwatch, undefined);
  assert.equal(blank.rollbar, undefined);
});

Deno.test("CONFIG_VARIABLES lists each variable once, in upper snake case", () => {
  assert.equal(new Set(CONFIG_VARIABLES).size, CONFIG_VARIABLES.length);
  for (const name of CONFIG_VARIABLES) assert.match(name, /^[A-Z][A-Z0-9_]*$/);
});

Deno.test("CONFIG_VARIABLES names every variable config.ts reads", async () => {
  const source = await Deno.readTextFile(new URL("../config.ts", import.meta.url));
  const read = new Set<string>();
  for (const match of source.matchAll(/\(env, "([A-Z0-9_]+)"/g)) read.add(match[1] as string);
  assert.ok(read.size > 30);
  const listed = new Set<string>(CONFIG_VARIABLES);
  assert.deepEqual([...read].filter((name) => !listed.has(name)), []);
});

Deno.test("main.ts with PORT=abc exits 1 with one clear line naming PORT", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("..", import.meta.url),
    clearEnv: true,
    env: childEnv({
      PORT: "abc",
      NO_COLOR: "1",
    }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 1, stderr);
  const lines = stderr.split("\n").filter((line) => line.trim() !== "");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0] ?? "", /PORT/);
  assert.match(lines[0] ?? "", /"abc"/);
  assert.ok(!stderr.includes("    at "), "no stack trace");
  assert.equal(stdout, "", "nothing was served or logged");
});

Deno.test("loadConfig() refuses what would fail later: hosts, header syntax, Rollbar and CloudWatch limits, timers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const malformed = `${dir}/malformed.json`;
    await Deno.writeTextFile(malformed, "{ not json");
    const misshapen = `${dir}/misshapen.json`;
    await Deno.writeTextFile(misshapen, JSON.stringify({ version: 2, default: {} }));
    const xray = { AWS_XRAY_DAEMON_ADDRESS: "127.0.0.1:2000" };
    const rollbar = { ROLLBAR_ACCESS_TOKEN: "t" };
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ HOST: "exa mple" }, "HOST", /IP address or a host name/],
      [{ HOST: "http://localhost" }, "HOST", /IP address or a host name/],
      [{ HOST: "-bad-.example" }, "HOST", /host name/],
      [
        { OTEL_EXPORTER_OTLP_HEADERS: "x honeycomb team=abc" },
        "OTEL_EXPORTER_OTLP_HEADERS",
        /HTTP token/,
      ],
      [
        { OTEL_EXPORTER_OTLP_HEADERS: "x-team=abc%0D%0AX-Evil: 1" },
        "OTEL_EXPORTER_OTLP_HEADERS",
        /CR, LF/,
      ],
      [
        { OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=a%0Ab" },
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        /CR, LF/,
      ],
      [{ ...rollbar, ROLLBAR_ENVIRONMENT: "e".repeat(256) }, "ROLLBAR_ENVIRONMENT", /255/],
      [{ CLOUDWATCH_LOG_GROUP: "cruddur logs" }, "CLOUDWATCH_LOG_GROUP", /\. _ - \/ #/],
      [{ CLOUDWATCH_LOG_GROUP: "g".repeat(513) }, "CLOUDWATCH_LOG_GROUP", /1-512/],
      [
        { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_LOG_STREAM: "a:b" },
        "CLOUDWATCH_LOG_STREAM",
        /: or \*/,
      ],
      [
        { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_LOG_STREAM: "a*" },
        "CLOUDWATCH_LOG_STREAM",
        /: or \*/,
      ],
      [
        { ...xray, AWS_XRAY_SAMPLING_RULES: `${dir}/missing.json` },
        "AWS_XRAY_SAMPLING_RULES",
        /NotFound/,
      ],
      [{ ...xray, AWS_XRAY_SAMPLING_RULES: malformed }, "AWS_XRAY_SAMPLING_RULES", /JSON/],
      [{ ...xray, AWS_XRAY_SAMPLING_RULES: misshapen }, "AWS_XRAY_SAMPLING_RULES", /SamplingRule/],
      [{ LISTEN_RECOVERY_MS: "-1" }, "LISTEN_RECOVERY_MS", /milliseconds/],
    ];
    for (
      const name of [
        "SHUTDOWN_TIMEOUT_MS",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_EXPORT_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "LISTEN_RECOVERY_MS",
      ]
    ) {
      cases.push([{ [name]: String(2 ** 31) }, name, /2147483647/]);
    }
    cases.push([
      { CLOUDWATCH_LOG_GROUP: "g", CLOUDWATCH_FLUSH_INTERVAL_MS: String(2 ** 31) },
      "CLOUDWATCH_FLUSH_INTERVAL_MS",
      /2147483647/,
    ]);
    for (const [env, variable, rule] of cases) {
      rejects(env, variable);
      assert.throws(() => loadConfig(env), rule, variable);
    }
    // The largest timer is fine, and so are the names and values the services accept.
    const ok = loadConfig({
      SHUTDOWN_TIMEOUT_MS: String(2 ** 31 - 1),
      HOST: "::1",
      OTEL_EXPORTER_OTLP_HEADERS: "x-honeycomb-team=a%20b",
      ...rollbar,
      ROLLBAR_ENVIRONMENT: "e".repeat(255),
      CLOUDWATCH_LOG_GROUP: "/cruddur/backend-flask_#1",
      CLOUDWATCH_LOG_STREAM: "host/2026 [pid 1]",
      ...xray,
    });
    assert.equal(ok.shutdownTimeoutMs, 2 ** 31 - 1);
    assert.equal(ok.hostname, "::1");
    assert.equal(ok.otel.headers["x-honeycomb-team"], "a b");
    assert.equal(loadConfig({ HOST: "[::1]" }).hostname, "::1");
    assert.equal(loadConfig({ HOST: "localhost" }).hostname, "localhost");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs main.ts with `env` (nothing inherited) until it exits. */
async function runMain(env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "main.ts"],
    cwd: new URL("..", import.meta.url),
    clearEnv: true,
    env: childEnv({
      NO_COLOR: "1",
      LOG_FORMAT: "json",
      // The spawn grants no write, so not the default PGlite store.
      DATABASE_URL: "memory:",
      ...env,
    }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  return { code: output.code, stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

Deno.test("main.ts with a port in use, a HOST it cannot bind or a missing rules file: one line, exit 1", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ HOST: "127.0.0.1", PORT: String(taken.addr.port) }, /PORT \d+ is already in use/],
      // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host.
      [{ HOST: "192.0.2.1", PORT: "0" }, /cannot listen on HOST 192\.0\.2\.1/],
      [{ HOST: "bad host", PORT: "0" }, /^startup failed: HOST must be/],
      [
        { PORT: "0", AWS_XRAY_ENABLED: "true", AWS_XRAY_SAMPLING_RULES: "/nonexistent/rules.json" },
        /AWS_XRAY_SAMPLING_RULES/,
      ],
    ];
    for (const [env, line] of cases) {
      const run = await runMain(env);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.lines.length, 1, run.stderr);
      assert.match(run.lines[0] ?? "", line);
      assert.ok(!run.stderr.includes("    at "), "no stack trace");
    }
  } finally {
    taken.close();
  }
});

Deno.test("the startup banner says which origins CORS allows, or which variable to set", async () => {
  const { startBackend } = await import("./support/backend.ts");
  for (
    const [env, expected] of [
      [{}, /^CORS: no cross-origin browser calls are allowed \(set FRONTEND_URL/],
      [
        { FRONTEND_URL: "http://localhost:3000/app" },
        /^CORS: browsers may call from http:\/\/localhost:3000$/,
      ],
    ] as Array<[Record<string, string>, RegExp]>
  ) {
    const backend = await startBackend(env);
    try {
      await backend.waitFor(expected);
    } finally {
      backend.child.kill("SIGTERM");
      await Promise.all([backend.child.status, backend.done, backend.stderr]);
    }
  }
});

Deno.test("README's configuration table lists every variable config.ts reads", () => {
  const readme = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## Data"));
  const rows = table.split("\n").filter((line) => line.startsWith("| `"));
  const documented = new Set(
    rows.flatMap((row) => row.split("|")[1]!.match(/`[A-Z0-9_]+`/g) ?? []),
  );
  const missing = [...CONFIG_VARIABLES].filter((name) => !documented.has(`\`${name}\``));
  assert.deepEqual(missing, []);
});

Deno.test("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: an unset batch size shrinks to a smaller queue, an explicit one fits", () => {
  assert.equal(loadConfig({}).otel.bsp.maxExportBatchSize, 512);
  const small = loadConfig({ OTEL_BSP_MAX_QUEUE_SIZE: "100" }).otel.bsp;
  assert.equal(small.maxQueueSize, 100);
  assert.equal(small.maxExportBatchSize, 100);
  assert.equal(
    loadConfig({ OTEL_BSP_MAX_QUEUE_SIZE: "64", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "64" }).otel.bsp
      .maxExportBatchSize,
    64,
  );
  assert.equal(
    loadConfig({ OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2048" }).otel.bsp.maxExportBatchSize,
    2048,
    "equal to the default queue is allowed",
  );
});

Deno.test("OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_TIMEOUT override OTEL_EXPORTER_OTLP_TIMEOUT per signal", () => {
  const defaults = loadConfig({});
  assert.equal(defaults.otel.timeoutMs, 10_000);
  assert.equal(defaults.metrics.otlpTimeoutMs, 10_000);
  assert.equal(defaults.logs.timeoutMs, 10_000);
  const generic = loadConfig({ OTEL_EXPORTER_OTLP_TIMEOUT: "2500" });
  assert.equal(generic.otel.timeoutMs, 2500);
  assert.equal(generic.metrics.otlpTimeoutMs, 2500);
  assert.equal(generic.logs.timeoutMs, 2500);
  const own = loadConfig({
    OTEL_EXPORTER_OTLP_TIMEOUT: "2500",
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "111",
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "222",
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: "333",
  });
  assert.equal(own.otel.timeoutMs, 111);
  assert.equal(own.metrics.otlpTimeoutMs, 222);
  assert.equal(own.metrics.timeoutMs, 30_000, "OTEL_METRIC_EXPORT_TIMEOUT is the reader's own");
  assert.equal(own.logs.timeoutMs, 333);
});

Deno.test("config.ts validates without loading a sink or the store: no npm or node module in its graph", async () => {
  const { npmPackages, staticGraph } = await import("./support/import_graph.ts");
  const graph = await staticGraph("config.ts");
  assert.deepEqual([...npmPackages(graph)], []);
  assert.deepEqual([...graph].filter((s) => s.startsWith("node:")), []);
  for (const heavy of ["/telemetry/xray/mod.ts", "/services/store/mod.ts"]) {
    assert.ok(![...graph].some((s) => s.endsWith(heavy)), `${heavy} is not loaded`);
  }
});

Deno.test("OTEL_EXPORTER_OTLP_PROTOCOL: SDK mode encodes traces and logs as http/protobuf or http/json, native mode leaves it to Deno", () => {
  const sdk = loadConfig({});
  assert.equal(sdk.otel.protocol, DEFAULT_OTLP_PROTOCOL);
  assert.equal(sdk.logs.protocol, DEFAULT_OTLP_PROTOCOL);
  for (const protocol of ["http/protobuf", "http/json"] as const) {
    const config = loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
    assert.equal(config.otel.protocol, protocol);
    assert.equal(config.logs.protocol, protocol);
  }
  // Deno's own exporter also speaks grpc; the variable is Deno's to read.
  assert.equal(
    loadConfig({ OTEL_DENO: "true", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }).otel.mode,
    "native",
  );
});

Deno.test("OTLP_MAX_CONCURRENT_EXPORTS: one setting for the span and the log record batches", () => {
  const set = loadConfig({ OTLP_MAX_CONCURRENT_EXPORTS: "1" });
  assert.equal(set.otel.bsp.maxConcurrentExports, 1, "the SDK's one batch at a time");
  assert.equal(set.logs.batch.maxConcurrentExports, 1);
  assert.equal(loadConfig({}).otel.bsp.maxConcurrentExports, 4);
});
