import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { AwsServiceError, createPutLogEvents } from "../../../telemetry/cloudwatch/put.ts";
import { sigV4Problem } from "../../support/sigv4.ts";

const SECRETS = new Map([["AKIDSTANDIN", "standin-secret"]]);

interface Seen {
  headers: Headers;
  problem: string | undefined;
  body: string;
}

/** A loopback endpoint that verifies each request's SigV4 and answers `answer(n)`. */
function endpoint(answer: (n: number) => Response) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.text();
    seen.push({
      headers: request.headers,
      problem: sigV4Problem(request, body, SECRETS)?.type,
      body,
    });
    return answer(seen.length);
  });
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/`),
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const BODY = new TextEncoder().encode(
  '{"logGroupName":"g","logStreamName":"s","logEvents":[{"timestamp":1,"message":"m"}]}',
);
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/x-amz-json-1.1", ...headers },
  });

Deno.test("createPutLogEvents() signs the body it sends, a session token included", async () => {
  await using target = endpoint(() =>
    json(200, { rejectedLogEventsInfo: { tooOldLogEventEndIndex: 0 } })
  );
  const put = createPutLogEvents({
    endpoint: target.url,
    region: "ca-central-1",
    credentials: {
      accessKeyId: "AKIDSTANDIN",
      secretAccessKey: "standin-secret",
      sessionToken: "session-token",
    },
    maxResponseBytes: 1024,
  });
  const output = await put(BODY, AbortSignal.timeout(5000));
  assertEquals(output, { rejectedLogEventsInfo: { tooOldLogEventEndIndex: 0 } });
  const [call] = target.seen;
  assertEquals(call?.problem, undefined);
  assertEquals(call?.body, new TextDecoder().decode(BODY));
  assertEquals(call?.headers.get("x-amz-target"), "Logs_20140328.PutLogEvents");
  assertEquals(call?.headers.get("x-amz-security-token"), "session-token");
  assert(/SignedHeaders=[^,]*x-amz-security-token/.test(call?.headers.get("authorization") ?? ""));
  assert(call?.headers.get("authorization")?.includes("/ca-central-1/logs/aws4_request"));
});

Deno.test("createPutLogEvents() names errors as the SDK does, with the HTTP status", async () => {
  await using target = endpoint((n) =>
    n === 1
      ? json(400, { message: "Rate exceeded" }, {
        "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/",
      })
      : n === 2
      ? json(503, { __type: "com.amazonaws.logs#ServiceUnavailableException", message: "down" })
      : new Response("<html>bad gateway</html>", { status: 502 })
  );
  const put = createPutLogEvents({
    endpoint: target.url,
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDSTANDIN", secretAccessKey: "standin-secret" },
    maxResponseBytes: 1024,
  });
  const errors: AwsServiceError[] = [];
  for (let i = 0; i < 3; i++) {
    await put(BODY, AbortSignal.timeout(5000)).then(
      () => assert(false, "should have failed"),
      (error) => errors.push(error),
    );
  }
  assertEquals(
    errors.map((e) => [e.name, e.$metadata.httpStatusCode, e.message]),
    [
      ["ThrottlingException", 400, "Rate exceeded"],
      ["ServiceUnavailableException", 503, "down"],
      ["HTTP502", 502, "HTTP502 (HTTP 502)"],
    ],
  );
});

Deno.test("createPutLogEvents() corrects its clock by the service's Date when they differ by 5 min", async () => {
  const skew = 60 * 60 * 1000; // the service is an hour ahead of us
  await using target = endpoint(() =>
    json(400, { __type: "InvalidSignatureException", message: "Signature expired" }, {
      date: new Date(Date.now() + skew).toUTCString(),
    })
  );
  const put = createPutLogEvents({
    endpoint: target.url,
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDSTANDIN", secretAccessKey: "standin-secret" },
    maxResponseBytes: 1024,
  });
  for (let i = 0; i < 2; i++) await put(BODY, AbortSignal.timeout(5000)).catch(() => {});
  const dates = target.seen.map((s) => {
    const d = s.headers.get("x-amz-date")!;
    return Date.parse(
      `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:` +
        `${d.slice(11, 13)}:${d.slice(13, 15)}Z`,
    );
  });
  assert(Math.abs(dates[0]! - Date.now()) < skew / 2, "the first call uses our clock");
  assert(Math.abs(dates[1]! - (Date.now() + skew)) < skew / 2, "the second, the service's");
  assert(target.seen.every((s) => s.problem === undefined));
});
