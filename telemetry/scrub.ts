/**
 * The one scrubbing policy every sink applies (OTLP span attributes, X-Ray segments, the
 * console and CloudWatch log, Rollbar items): which names are secret (by pattern), which values
 * are secret whatever their name (JWTs, Bearer/Basic credentials, AWS access keys), how a URL
 * and a Referer are redacted, and how values seen in secret places are removed wherever they
 * are echoed. Scrubbing replaces values, never structure: keys stay, so a record stays valid.
 */

/** The replacement written where a secret was. */
export const REDACTED = "REDACTED";

/**
 * Header and field names whose values are secret (lower case). Rollbar's own defaults are added
 * by the Rollbar sink; these are the ones our stack adds (OpenTelemetry's URL conventions list
 * the signature parameters).
 */
export const SECRET_NAMES: readonly string[] = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api_key",
  "apikey",
  "password",
  "passwd",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "secret",
  "client_secret",
  "sig",
  "signature",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "awsaccesskeyid",
  "x-goog-signature",
  "x-honeycomb-team",
  "x-rollbar-access-token",
  "x-csrf-token",
  "x-access-token",
];

/** Headers that carry the client's address; a proxy chain is personal data, never forwarded. */
export const CLIENT_ADDRESS_HEADERS: readonly string[] = [
  "x-forwarded-for",
  "x-real-ip",
  "forwarded",
  "true-client-ip",
  "cf-connecting-ip",
  "x-client-ip",
];

/** Shorter values are not scrubbed as substrings: they would mangle ordinary text. */
export const MIN_SECRET_LENGTH = 6;

const SECRET_NAME_SET = new Set(SECRET_NAMES);
/**
 * Names that are secret whatever their prefix or suffix (`x-goog-iap-jwt-assertion`,
 * `x-hub-signature-256`, `x-oauth`, `x-private-key`, `githubToken`); `email` is personal data.
 */
const SECRET_PART =
  /auth|token|secret|key|signature|pass(?:wd|word)|jwt|session|credential|cookie|email/i;

/** Values that are secret whatever their name. */
const SECRET_SHAPES: ReadonlyArray<[RegExp, string]> = [
  // A JWT (JWS compact form): three base64url parts, the first an encoded JSON header.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // HTTP credentials: the scheme is kept, the credential goes.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // AWS access key ids (long-term AKIA, temporary ASIA, and the other documented prefixes).
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g, REDACTED],
];
/** A cheap test run first: most text has none of the shapes and skips the expressions. */
const MAYBE_SHAPED = /eyJ|bearer|basic|A[GIKNRS][DGINPV]A/i;

/**
 * Matches text that is not plain: it may hold a secret shape (MAYBE_SHAPED's test), or it has
 * a character JSON escapes (a quote, a backslash, a control character, a surrogate). Text it
 * does not match is its own scrubbed form and, quoted, its own JSON string.
 */
export const NOT_PLAIN = new RegExp(
  String.raw`${MAYBE_SHAPED.source}|["\\\u0000-\u001f\ud800-\udfff]`,
  "i",
);

/** Whether a header or field name holds a secret (case-insensitive). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_SET.has(name.toLowerCase()) || SECRET_PART.test(name);
}

/** Replaces every query value with REDACTED, keeping the keys (OpenTelemetry's url rules). */
export function redactQuery(search: string): string {
  const body = search.startsWith("?") ? search.slice(1) : search;
  if (body === "") return "";
  const parts = body.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    return eq === -1 ? pair : `${pair.slice(0, eq)}=${REDACTED}`;
  });
  return `?${parts.join("&")}`;
}

/** Adds the values of secret-named fields of a parsed JSON body (any depth) to `secrets`. */
export function collectBodySecrets(body: unknown, secrets: Set<string>, depth = 0): void {
  if (depth > 4 || body === null || typeof body !== "object") return;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (isSecretName(key) && (typeof value === "string" || typeof value === "number")) {
      const text = String(value);
      if (text.length >= MIN_SECRET_LENGTH) secrets.add(text);
    } else {
      collectBodySecrets(value, secrets, depth + 1);
    }
  }
}

/** Replaces JWTs, Bearer/Basic credentials and AWS access key ids in `text`. */
export function scrubShapes(text: string): string {
  // The common case, text without credentials, skips the regular expressions.
  if (!MAYBE_SHAPED.test(text)) return text;
  let out = text;
  for (const [shape, replacement] of SECRET_SHAPES) out = out.replace(shape, replacement);
  return out;
}

/** The credential-shaped substrings of `text` (to scrub them wherever else they appear). */
function shapedSecrets(text: string): string[] {
  if (!MAYBE_SHAPED.test(text)) return [];
  const found: string[] = [];
  for (const [shape] of SECRET_SHAPES) {
    for (const match of text.matchAll(shape)) {
      // For a credential the scheme is not the secret: keep what follows it.
      found.push(match[1] ? match[0].slice(match[1].length).trim() : match[0]);
    }
  }
  return found;
}

/**
 * A request header's value as every sink records it: REDACTED for a secret name, the Referer
 * with its query values redacted (like `url.query`), any other value with its secret shapes
 * scrubbed.
 */
export function scrubHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (isSecretName(lower)) return REDACTED;
  if (lower === "referer") return scrubShapes(redactUrl(value));
  return scrubShapes(value);
}

/** Replaces each known secret, and any secret-shaped value, in `text`. */
export function scrubText(text: string, secrets: ReadonlySet<string> | undefined): string {
  const out = scrubShapes(text);
  if (!secrets || secrets.size === 0) return out;
  // Longest first, so a value that contains another is removed whole.
  return redactString(out, [...secrets].sort((a, b) => b.length - a.length));
}

/**
 * Replaces every query value with REDACTED (keys kept), credentials with
 * `REDACTED:REDACTED@`, and drops the fragment. Works on absolute and relative URLs.
 */
export function redactUrl(raw: string): string {
  const hash = raw.indexOf("#");
  const noFragment = hash === -1 ? raw : raw.slice(0, hash);
  const q = noFragment.indexOf("?");
  let base = q === -1 ? noFragment : noFragment.slice(0, q);
  base = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, `$1${REDACTED}:${REDACTED}@`);
  return q === -1 ? base : `${base}${redactQuery(noFragment.slice(q))}`;
}

/** How a request header's name decides where its value's secrets are. */
const enum NameKind {
  Other,
  ClientAddress,
  Authorization,
  Cookie,
  Secret,
  Referer,
}

/**
 * Header names seen, by kind: a request's names recur (user-agent, accept, host, ...), and a
 * look-up is cheaper than the pattern test and the list scans (callgrind: ~2k instructions a
 * request of five headers). Bounded: past it a name is classified each time.
 */
const nameKinds = new Map<string, NameKind>();
const MAX_KEPT_NAMES = 512;

function nameKind(lower: string): NameKind {
  let kind = nameKinds.get(lower);
  if (kind !== undefined) return kind;
  kind = CLIENT_ADDRESS_HEADERS.includes(lower)
    ? NameKind.ClientAddress
    : lower === "authorization" || lower === "proxy-authorization"
    ? NameKind.Authorization
    : lower === "cookie" || lower === "set-cookie"
    ? NameKind.Cookie
    : isSecretName(lower)
    ? NameKind.Secret
    : lower === "referer"
    ? NameKind.Referer
    : NameKind.Other;
  if (nameKinds.size < MAX_KEPT_NAMES) nameKinds.set(lower, kind);
  return kind;
}

/**
 * The headers every request's telemetry reads, taken in the same pass as its secrets (null:
 * absent; a repeated header's values combined, as `Headers.get` gives them).
 */
export interface RequestHeaderScan {
  userAgent: string | null;
  forwardedFor: string | null;
  /** For the CORS check, which would otherwise look it up again. */
  origin: string | null;
  host: string | null;
  /** The trace context a caller sent: W3C's, then X-Ray's. */
  traceparent: string | null;
  tracestate: string | null;
  baggage: string | null;
  amznTraceId: string | null;
  contentLength: string | null;
  /** A CORS preflight's method. */
  corsRequestMethod: string | null;
}

/**
 * Adds to `secrets` the values a request carries in secret places — secret headers (and the
 * parts of `Authorization` and cookies), every query value, the client-address headers — so
 * they can be removed wherever they are echoed, for instance in an error message. Returns the
 * values the telemetry reads (RequestHeaderScan) taken on the way: one pass over the header
 * list instead of a look-up each afterwards (each ~4k instructions once the list is read; a
 * traced request read six: Host, traceparent, X-Amzn-Trace-Id twice, baggage, X-Forwarded-For).
 */
export function scanRequestHeaders(
  headers: Headers,
  url: string,
  secrets: Set<string>,
): RequestHeaderScan {
  const add = (value: string) => {
    const trimmed = value.trim();
    if (trimmed.length >= MIN_SECRET_LENGTH) secrets.add(trimmed);
    // Only a value with an escape decodes to something else.
    if (!trimmed.includes("%")) return;
    const decoded = safeDecode(trimmed);
    if (decoded.length >= MIN_SECRET_LENGTH) secrets.add(decoded);
  };
  const scan: RequestHeaderScan = {
    userAgent: null,
    forwardedFor: null,
    origin: null,
    host: null,
    traceparent: null,
    tracestate: null,
    baggage: null,
    amznTraceId: null,
    contentLength: null,
    corsRequestMethod: null,
  };
  // forEach, not for..of: Deno 2.9's Headers iterator costs ~8 µs for five headers, forEach
  // ~1.4 µs (the same combined entries, names already lower-cased).
  headers.forEach((value, name) => {
    switch (nameKind(name)) {
      case NameKind.ClientAddress:
        if (name === "x-forwarded-for") scan.forwardedFor = value;
        for (const part of value.split(/[,;]/)) {
          add(part.replace(/^\s*for=/i, "").replace(/"/g, ""));
        }
        return;
      case NameKind.Authorization: {
        add(value);
        const space = value.indexOf(" ");
        if (space !== -1) add(value.slice(space + 1));
        return;
      }
      case NameKind.Cookie:
        add(value);
        for (const part of value.split(/[;,]/)) {
          const eq = part.indexOf("=");
          if (eq !== -1) add(part.slice(eq + 1));
        }
        return;
      case NameKind.Secret:
        add(value);
        return;
      case NameKind.Referer:
        // A Referer's query is the previous page's url.query: its values are secret alike.
        addQueryValues(value, add);
        break;
      default:
        switch (name) {
          case "user-agent":
            scan.userAgent = value;
            break;
          case "origin":
            scan.origin = value;
            break;
          case "host":
            scan.host = value;
            break;
          case "traceparent":
            scan.traceparent = value;
            break;
          case "tracestate":
            scan.tracestate = value;
            break;
          case "baggage":
            scan.baggage = value;
            break;
          case "x-amzn-trace-id":
            scan.amznTraceId = value;
            break;
          case "content-length":
            scan.contentLength = value;
            break;
          case "access-control-request-method":
            scan.corsRequestMethod = value;
        }
    }
    for (const secret of shapedSecrets(value)) add(secret);
  });
  addQueryValues(url, add);
  return scan;
}

/** `scanRequestHeaders`'s secrets alone, longest first (a value containing another goes whole). */
export function collectSecretValues(headers: Headers, url: string): string[] {
  const found = new Set<string>();
  scanRequestHeaders(headers, url, found);
  return [...found].sort((a, b) => b.length - a.length);
}

function addQueryValues(url: string, add: (value: string) => void): void {
  const q = url.indexOf("?");
  if (q === -1) return;
  const hash = url.indexOf("#", q);
  const query = url.slice(q + 1, hash === -1 ? undefined : hash);
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if (eq !== -1) add(pair.slice(eq + 1).replace(/\+/g, " "));
  }
}

/**
 * Replaces every occurrence of each secret, and every secret-shaped value, in every string
 * value of `value`, in place; returns it. Keys are never touched (a query value equal to a
 * payload key must not rename it), nor the values under `keep` at the top level (fields
 * whose value is structure, such as Rollbar's `level` or `environment`).
 */
export function redactSecretValues<T>(
  value: T,
  secrets: readonly string[],
  keep: ReadonlySet<string> = new Set(),
): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return walk(value, secrets, new WeakSet()) as T;
  }
  const seen = new WeakSet<object>([value as object]);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keep.has(key)) record[key] = walk(record[key], secrets, seen);
  }
  return value;
}

function walk(value: unknown, secrets: readonly string[], seen: WeakSet<object>): unknown {
  if (typeof value === "string") return scrubShapes(redactString(value, secrets));
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = walk(value[i], secrets, seen);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = walk(record[key], secrets, seen);
  return value;
}

/** Replaces every occurrence of each secret in `text`. */
export function redactText(text: string, secrets: readonly string[]): string {
  return redactString(text, secrets);
}

function redactString(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
