/**
 * The HTTP request methods the semantic conventions know (RFC 9110 and PATCH). A method is
 * untrusted input: any other is recorded as `_OTHER`, so spans and metric series stay bounded.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE",
]);

/** True for a method the conventions name. */
export function isKnownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/** The method as `http.request.method` records it: itself, or `_OTHER`. */
export function semconvMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "_OTHER";
}
