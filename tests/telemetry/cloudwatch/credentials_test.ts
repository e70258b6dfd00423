import assert from "node:assert/strict";
import { loadConfig } from "../../../config.ts";
import {
  containerCredentials,
  CredentialsProviderError,
} from "../../../telemetry/cloudwatch/credentials.ts";
import { startCloudWatchStandIn } from "../../support/cloudwatch_standin.ts";
import { buildApp } from "../../support/harness.ts";

/** A container credentials endpoint on 127.0.0.1, as ECS's agent answers it. */
function startCredentialsEndpoint(answer: () => { status?: number; body: unknown }) {
  const calls: Array<{ path: string; authorization: string | null }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    calls.push({
      path: new URL(request.url).pathname,
      authorization: request.headers.get("authorization"),
    });
    const { status = 200, body } = answer();
    return new Response(JSON.stringify(body), { status });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v2/credentials/task-role`,
    calls,
    close: () => server.shutdown(),
  };
}

const hourFromNow = () => new Date(Date.now() + 3600_000).toISOString();

Deno.test("CloudWatch signs with a task role's credentials from the container endpoint, fetched once", async () => {
  const creds = startCredentialsEndpoint(() => ({
    body: {
      AccessKeyId: "AKIDSTANDIN",
      SecretAccessKey: "standin-secret",
      Token: "session-token-1",
      Expiration: hourFromNow(),
    },
  }));
  const cloudwatch = startCloudWatchStandIn();
  const h = await buildApp({
    AWS_REGION: "us-east-1",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: creds.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "container-auth-token",
    CLOUDWATCH_LOG_GROUP: "cruddur",
    CLOUDWATCH_LOG_STREAM: "task",
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: cloudwatch.endpoint,
    CLOUDWATCH_FLUSH_INTERVAL_MS: "20",
    CLOUDWATCH_METRICS_ENABLED: "false",
  });
  try {
    assert.ok(
      h.telemetry.describe().some((l) =>
        l.includes('CloudWatch Logs group "cruddur" (credentials from 127.0.0.1:')
      ),
      h.telemetry.describe().join("\n"),
    );
    for (let i = 0; i < 3; i++) await (await h.app.request("/api/activities/home")).arrayBuffer();
    await h.telemetry.forceFlush(Date.now() + 10_000);
    const access = cloudwatch.events("cruddur", "task").map((e) => JSON.parse(e.message))
      .filter((e) => e.event === "access");
    assert.equal(access.length, 3);
    // The stand-in verifies every signature against standin-secret: all were signed with it.
    assert.ok(cloudwatch.calls.length > 0);
    assert.ok(cloudwatch.calls.every((c) => c.signed && c.status === 200), "every call accepted");
    assert.equal(h.telemetry.stats().cloudwatch?.sent, cloudwatch.events("cruddur", "task").length);
    // One fetch serves the SDK's calls (group, stream) and the direct PutLogEvents alike.
    assert.deepEqual(creds.calls, [{
      path: "/v2/credentials/task-role",
      authorization: "container-auth-token",
    }]);
    const everything = [...h.lines, ...h.diagnostics, ...h.telemetry.describe()].join("\n");
    for (const secret of ["standin-secret", "session-token-1", "container-auth-token"]) {
      assert.ok(!everything.includes(secret), `${secret} must not be logged`);
    }
  } finally {
    await h.close();
    await cloudwatch.close();
    await creds.close();
  }
});

Deno.test("containerCredentials() refreshes before expiry, shares one fetch, and keeps unexpired keys when the endpoint fails", async () => {
  let now = Date.parse("2026-12-07T12:00:00Z");
  let version = 0;
  let failing = false;
  const creds = startCredentialsEndpoint(() =>
    failing ? { status: 500, body: { message: "agent restarting" } } : {
      body: {
        AccessKeyId: `AKID${++version}`,
        SecretAccessKey: "very-secret",
        Token: `token-${version}`,
        Expiration: new Date(now + 15 * 60_000).toISOString(),
      },
    }
  );
  try {
    const provider = containerCredentials({ url: creds.url }, { now: () => now });
    const [a, b] = await Promise.all([provider(), provider()]);
    assert.equal(a.accessKeyId, "AKID1");
    assert.equal(b, a, "concurrent calls share one fetch");
    assert.equal(creds.calls.length, 1);
    assert.equal(creds.calls[0]!.authorization, null, "no token configured, none sent");

    now += 9 * 60_000; // 6 min left: still used
    assert.equal((await provider()).accessKeyId, "AKID1");
    assert.equal(creds.calls.length, 1);
    now += 2 * 60_000; // 4 min left: inside the 5 min margin, fetched again
    const c = await provider();
    assert.equal(c.accessKeyId, "AKID2");
    assert.equal(c.sessionToken, "token-2");
    assert.equal(creds.calls.length, 2);

    failing = true;
    now += 11 * 60_000; // 4 min left of AKID2: the refresh fails, the old keys still sign
    assert.equal((await provider()).accessKeyId, "AKID2");
    now += 5 * 60_000; // expired: the failure is the caller's, without the body or secrets
    await assert.rejects(provider(), (error: unknown) => {
      assert.ok(error instanceof CredentialsProviderError);
      assert.equal(error.message, "container credentials endpoint answered HTTP 500");
      return true;
    });
  } finally {
    await creds.close();
  }
});

Deno.test("containerCredentials() refuses an answer without keys, naming the field, never its value", async () => {
  const creds = startCredentialsEndpoint(() => ({
    body: { AccessKeyId: "AKID", SecretAccessKey: "", Token: "secret-token" },
  }));
  try {
    await assert.rejects(
      containerCredentials({ url: creds.url })(),
      /^CredentialsProviderError: container credentials answer has no SecretAccessKey$/,
    );
  } finally {
    await creds.close();
  }
});

Deno.test("containerCredentials() reads the token file at every fetch (EKS rotates it)", async () => {
  const creds = startCredentialsEndpoint(() => ({
    body: { AccessKeyId: "AKID", SecretAccessKey: "s", Expiration: hourFromNow() },
  }));
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "token-from-file\n");
    await containerCredentials({ url: creds.url, authorizationTokenFile: file })();
    assert.equal(creds.calls[0]!.authorization, "token-from-file");
  } finally {
    await creds.close();
    await Deno.remove(file);
  }
});

Deno.test("loadConfig(): environment keys win; a container URI alone turns AWS on; an unsafe one is refused", () => {
  const relative = loadConfig({
    AWS_REGION: "us-east-1",
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/abc",
  });
  assert.deepEqual(relative.aws, {
    region: "us-east-1",
    container: { url: "http://169.254.170.2/v2/credentials/abc" },
  });
  const keys = loadConfig({
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKID",
    AWS_SECRET_ACCESS_KEY: "s",
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/abc",
  });
  assert.deepEqual(keys.aws?.credentials, { accessKeyId: "AKID", secretAccessKey: "s" });
  assert.equal(keys.aws?.container, undefined);
  assert.equal(
    loadConfig({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/x" }).aws,
    undefined,
    "no region, no AWS",
  );
  const eks = loadConfig({
    AWS_REGION: "us-east-1",
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.23/v1/credentials",
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/secrets/token",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "ignored-when-a-file-is-named",
  });
  assert.deepEqual(eks.aws?.container, {
    url: "http://169.254.170.23/v1/credentials",
    authorizationTokenFile: "/var/run/secrets/token",
  });
  for (const full of ["http://10.0.0.5/creds", "ftp://127.0.0.1/creds", "not a url"]) {
    assert.throws(
      () => loadConfig({ AWS_REGION: "us-east-1", AWS_CONTAINER_CREDENTIALS_FULL_URI: full }),
      /AWS_CONTAINER_CREDENTIALS_FULL_URI/,
      full,
    );
  }
  assert.ok(
    loadConfig({
      AWS_REGION: "us-east-1",
      AWS_CONTAINER_CREDENTIALS_FULL_URI: "https://creds.example.com/x",
    }).aws?.container,
  );
  assert.throws(
    () => loadConfig({ AWS_REGION: "us-east-1", AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "v2" }),
    /AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/,
  );
});
