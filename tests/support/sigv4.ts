/**
 * AWS Signature Version 4 verification for the stand-ins: recomputes the signature of a
 * request from its secret key, as AWS does, so a client that signs one body and sends another
 * fails here the way it would in production (403 InvalidSignatureException).
 */
import { createHash, createHmac } from "node:crypto";

function sha256Hex(data: string): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}

/** Why a request's signature is not valid, or undefined when it is. */
export function sigV4Problem(
  request: Request,
  body: string,
  secrets: ReadonlyMap<string, string>,
): { type: string; message: string } | undefined {
  const auth = request.headers.get("authorization") ?? "";
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/
      .exec(auth);
  if (!match) {
    return { type: "IncompleteSignatureException", message: "Malformed Authorization header" };
  }
  const [, keyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  const secret = secrets.get(keyId!);
  if (secret === undefined) {
    return {
      type: "UnrecognizedClientException",
      message: "The security token included in the request is invalid.",
    };
  }
  const amzDate = request.headers.get("x-amz-date") ?? "";
  if (!amzDate.startsWith(date!)) {
    return { type: "IncompleteSignatureException", message: "Date does not match the scope" };
  }
  const url = new URL(request.url);
  const names = signedHeaders!.split(";");
  const canonicalHeaders = names.map((name) =>
    `${name}:${(request.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`
  ).join("");
  const query = [...url.searchParams].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  const payloadHash = sha256Hex(body);
  const declared = request.headers.get("x-amz-content-sha256");
  if (declared !== null && declared !== "UNSIGNED-PAYLOAD" && declared !== payloadHash) {
    return { type: "InvalidSignatureException", message: "The payload hash does not match" };
  }
  const canonical = [
    request.method,
    url.pathname,
    query,
    canonicalHeaders,
    signedHeaders,
    declared ?? payloadHash,
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
  let key = hmac(`AWS4${secret}`, date!);
  for (const part of [region!, service!, "aws4_request"]) key = hmac(key, part);
  const expected = createHmac("sha256", key).update(toSign).digest("hex");
  return expected === signature ? undefined : {
    type: "InvalidSignatureException",
    message: "The request signature we calculated does not match the signature you provided.",
  };
}
