/**
 * The request target, not the Host header, decides the route. Deno.serve builds `request.url`
 * by concatenating the scheme, the Host header and the target, so `Host: x/rollbar/test?`
 * turns `GET /api/activities/home` into `http://x/rollbar/test?/api/activities/home`. A Host
 * that is not `host[:port]` is swapped for the reserved `host.invalid` (RFC 2606) before
 * Hono sees the request, so routing, logs and spans all read the real target, and the request
 * is answered 400 `invalid_host` (RFC 9112 §3.2).
 */

/** A registered name, IPv4 or bracketed IPv6 literal, with an optional port. */
const VALID_HOST =
  /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}))(?::\d{1,5})?$/;

/** The placeholder authority for a request whose Host was not a valid host[:port]. */
export const INVALID_HOST = "host.invalid";

const rewritten = new WeakSet<Request>();

/** Whether `host` (a Host header value) is a syntactically valid `host[:port]`. */
export function isValidHost(host: string): boolean {
  return VALID_HOST.test(host);
}

/**
 * Returns `request` unchanged when its Host is valid or absent; otherwise a copy whose URL is
 * the real target under `host.invalid` (the body is not carried: the answer is a 400).
 */
export function fromRequestTarget(request: Request): Request {
  const host = request.headers.get("host");
  if (host === null || host === "" || isValidHost(host)) return request;
  const url = request.url;
  const scheme = url.startsWith("https://") ? "https://" : "http://";
  // Origin-form targets were appended to the Host value; an absolute-form target (the URL's
  // authority came from the request line) is already right.
  const target = url.startsWith(scheme + host) ? url.slice(scheme.length + host.length) : "";
  const path = target.startsWith("/") ? target : target === "" ? new URL(url).pathname : "/";
  const headers = new Headers(request.headers);
  headers.set("host", INVALID_HOST);
  const copy = new Request(`${scheme}${INVALID_HOST}${path}`, {
    method: request.method,
    headers,
  });
  rewritten.add(copy);
  return copy;
}

/** Whether `fromRequestTarget` rewrote `request` (it is answered 400 `invalid_host`). */
export function hasInvalidHost(request: Request): boolean {
  return rewritten.has(request);
}
