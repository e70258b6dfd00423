/**
 * PutLogEvents as one signed fetch: the body the queue wrote, signed with SigV4 (the SDK's
 * algorithm, verified by the stand-in), sent, and its answer read within bounds. The SDK's
 * per-call pipeline around the same request (schema, endpoint rules, user agent, retry and
 * auth middleware, header copies) cost ~1 ms of CPU per call on top of hashing and sending the
 * body; the sink makes one call per 1 MB batch. The rare calls (describing and creating the
 * group and stream) still go through the SDK client, which also resolves the endpoint once.
 */
import { createHash, createHmac } from "node:crypto";
import type { RejectedInfo } from "./batch.ts";
import { ResponseTooLargeError } from "./client.ts";
import { readBounded } from "../util/body.ts";
import { credentialsProvider, type CredentialsSource } from "./credentials.ts";

/** What a PutLogEvents answer says that the sink reads. */
export interface PutLogEventsOutput {
  rejectedLogEventsInfo?: RejectedInfo | undefined;
}

/** Sends one PutLogEvents body; throws what the SDK would (a named error with the status). */
export type PutLogEvents = (body: Uint8Array, signal: AbortSignal) => Promise<PutLogEventsOutput>;

/** Options of {@linkcode createPutLogEvents}. */
export interface PutLogEventsOptions {
  /** The endpoint the SDK resolves for the region (or the configured one). */
  endpoint: URL;
  region: string;
  /** Keys, or a provider asked before every call (container credentials rotate). */
  credentials: CredentialsSource;
  maxResponseBytes: number;
  now?: () => number;
}

/** An AWS error as the SDK raises it: `name` is the error code, with the HTTP status. */
export class AwsServiceError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(name: string, message: string, status: number) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
  }
}

const SERVICE = "logs";
const TARGET = "Logs_20140328.PutLogEvents";
const CONTENT_TYPE = "application/x-amz-json-1.1";
/** The SDK corrects its clock when the service's differs by this much (as it does). */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const decoder = new TextDecoder();

/** Creates the direct PutLogEvents call; see the module comment. */
export function createPutLogEvents(options: PutLogEventsOptions): PutLogEvents {
  const { endpoint, region, maxResponseBytes } = options;
  const credentials = credentialsProvider(options.credentials);
  const now = options.now ?? Date.now;
  const url = endpoint.href;
  const host = endpoint.host;
  const path = endpoint.pathname || "/";
  let clockOffset = 0;
  let keyDate = "";
  let keySecret = "";
  let signingKey: Uint8Array = new Uint8Array(0);

  function keyFor(date: string, secret: string): Uint8Array {
    if (date !== keyDate || secret !== keySecret) {
      // Derived once a day (and per key): the chain depends on the date, region and service.
      let key = hmac(`AWS4${secret}`, date);
      for (const part of [region, SERVICE, "aws4_request"]) key = hmac(key, part);
      signingKey = key;
      keyDate = date;
      keySecret = secret;
    }
    return signingKey;
  }

  return async (body, signal) => {
    const { accessKeyId, secretAccessKey, sessionToken: token } = await credentials();
    if (signal.aborted) throw signal.reason;
    // Signed headers, sorted by name as SigV4 wants them.
    const signedHeaders = token === undefined
      ? "content-type;host;x-amz-date;x-amz-target"
      : "content-type;host;x-amz-date;x-amz-security-token;x-amz-target";
    const amzDate = new Date(now() + clockOffset).toISOString().replace(/[-:]|\.\d{3}/g, "");
    const date = amzDate.slice(0, 8);
    const canonicalHeaders = `content-type:${CONTENT_TYPE}\nhost:${host}\nx-amz-date:${amzDate}\n` +
      (token === undefined ? "" : `x-amz-security-token:${token}\n`) + `x-amz-target:${TARGET}\n`;
    const payloadHash = createHash("sha256").update(body).digest("hex");
    const canonical = `POST\n${path}\n\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    const scope = `${date}/${region}/${SERVICE}/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
    const signature = createHmac("sha256", keyFor(date, secretAccessKey)).update(toSign).digest(
      "hex",
    );
    const headers: Record<string, string> = {
      "content-type": CONTENT_TYPE,
      "x-amz-date": amzDate,
      "x-amz-target": TARGET,
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, ` +
        `SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
    if (token !== undefined) headers["x-amz-security-token"] = token;
    // fetch sets Host itself, to the same host:port the signature covers.
    const response = await fetch(url, { method: "POST", headers, body: body as BodyInit, signal });
    const serverDate = Date.parse(response.headers.get("date") ?? "");
    if (Math.abs(serverDate - (now() + clockOffset)) >= CLOCK_SKEW_MS) {
      clockOffset = serverDate - now();
    }
    const { bytes, truncated } = await readBounded(response, maxResponseBytes, signal);
    if (signal.aborted) throw signal.reason;
    if (truncated) {
      throw new ResponseTooLargeError(`CloudWatch answered more than ${maxResponseBytes} bytes`);
    }
    const text = decoder.decode(bytes);
    if (response.status >= 300) throw serviceError(response, text);
    return text.length === 0 ? {} : JSON.parse(text) as PutLogEventsOutput;
  };
}

/** The error code the way the SDK reads it from an AWS JSON 1.1 error answer. */
function serviceError(response: Response, text: string): AwsServiceError {
  let parsed: { __type?: unknown; code?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    parsed = JSON.parse(text) ?? {};
  } catch {
    // Not JSON: the header or the status alone names the error.
  }
  const raw = response.headers.get("x-amzn-errortype") ?? parsed.__type ?? parsed.code;
  // "aws.protocoltests#ThrottlingException:http://..." → "ThrottlingException"
  const code = typeof raw === "string" && raw.length > 0
    ? raw.split(":")[0]!.split("#").pop()!
    : `HTTP${response.status}`;
  const message = parsed.message ?? parsed.Message;
  return new AwsServiceError(
    code,
    typeof message === "string" ? message : `${code} (HTTP ${response.status})`,
    response.status,
  );
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}

function sha256Hex(data: string): string {
  return createHash("sha256").update(data).digest("hex");
}
