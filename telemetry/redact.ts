/**
 * Privacy rules shared by every sink: query values are redacted, secret-bearing headers never
 * leave the process, and values a request marked secret are scrubbed from any text (error
 * messages, stack traces) before it reaches a span, a segment, a log event or a Rollbar item.
 */

/** The replacement for a redacted value. */
export const REDACTED = "REDACTED";

/** Names of fields, headers and query keys whose values are secret. */
export const SECRET_NAME =
  /pass(?:word)?|passwd|pwd|secret|token|auth|cookie|session|api[-_]?key|signature|^sig$|credential|csrf|x-honeycomb-team/i;

const MIN_SECRET_LENGTH = 4;
const MAX_SECRETS = 64;

/** Replaces every query value with REDACTED, keeping the keys (OpenTelemetry's url rules). */
export function redactQuery(search: string): string {
  if (search === "" || search === "?") return "";
  const body = search.startsWith("?") ? search.slice(1) : search;
  const parts = body.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    return eq < 0 ? pair : `${pair.slice(0, eq)}=${REDACTED}`;
  });
  return `?${parts.join("&")}`;
}

/** A URL without credentials and with its query values redacted. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    const auth = url.username || url.password ? `${REDACTED}:${REDACTED}@` : "";
    return `${url.protocol}//${auth}${url.host}${url.pathname}${redactQuery(url.search)}`;
  } catch {
    return REDACTED;
  }
}

/** Headers as a plain object with secret-bearing values replaced; forwarding headers dropped. */
export function scrubHeaders(headers: Headers): Record<string, string> {
  const result: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name === "x-forwarded-for" || name === "forwarded" || name === "x-real-ip") return;
    result[name] = SECRET_NAME.test(name) ? REDACTED : value;
  });
  return result;
}

/** Collects the secret values a request carries, so they can be scrubbed from any text. */
export function requestSecrets(headers: Headers, search: string): Set<string> {
  const secrets = new Set<string>();
  const authorization = headers.get("authorization");
  if (authorization) {
    secrets.add(authorization);
    const space = authorization.indexOf(" ");
    if (space > 0) secrets.add(authorization.slice(space + 1).trim());
  }
  const cookie = headers.get("cookie");
  if (cookie) {
    for (const part of cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0) secrets.add(part.slice(eq + 1).trim());
    }
  }
  headers.forEach((value, name) => {
    if (name !== "authorization" && name !== "cookie" && SECRET_NAME.test(name)) {
      secrets.add(value);
    }
  });
  if (search.length > 1) {
    for (const [key, value] of new URLSearchParams(search)) {
      if (SECRET_NAME.test(key)) secrets.add(value);
    }
  }
  return secrets;
}

/** Adds the values of secret-named fields of a parsed JSON body (any depth) to `secrets`. */
export function collectBodySecrets(body: unknown, secrets: Set<string>, depth = 0): void {
  if (depth > 4 || body === null || typeof body !== "object") return;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (SECRET_NAME.test(key) && (typeof value === "string" || typeof value === "number")) {
      secrets.add(String(value));
    } else {
      collectBodySecrets(value, secrets, depth + 1);
    }
  }
}

/** Replaces each known secret (and any bearer token) in `text` with REDACTED. */
export function scrubText(text: string, secrets: ReadonlySet<string> | undefined): string {
  let result = text.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`);
  if (!secrets) return result;
  let count = 0;
  for (const secret of secrets) {
    if (++count > MAX_SECRETS) break;
    if (secret.length >= MIN_SECRET_LENGTH && result.includes(secret)) {
      result = result.split(secret).join(REDACTED);
    }
  }
  return result;
}
