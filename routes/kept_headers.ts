/**
 * A header set built once and given to many answers. Deno 2.9 copies a `Headers` init from
 * the object's sorted, combined entries (ext/fetch/20_headers.js, `fillHeaderList`), and
 * derives those entries anew on every read unless the object's guard is `immutable`, which no
 * constructor gives: lower-casing, combining and sorting the same names for every answer. A
 * kept set never changes, so a Proxy keeps what the first read of each of Deno's internal
 * (symbol-keyed) properties gave, and its mutating methods throw, since the kept entries could
 * not follow. Callgrind, a plain `Deno.serve` handler answering JSON with our 7 headers:
 * 74k instructions a request with a reused `Headers`, 62k with a kept set (31k with
 * content-type alone, Deno's static fast path).
 */

const READ_ONLY = new Set<PropertyKey>(["append", "set", "delete"]);

function readOnly(): never {
  throw new TypeError("A kept header set is read-only");
}

/** A read-only `Headers` whose derived entries Deno reads once (see the module doc). */
export function keptHeaderSet(init: ReadonlyArray<readonly [string, string]>): Headers {
  const target = new Headers(init as Array<[string, string]>);
  const kept = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(headers, key) {
      if (READ_ONLY.has(key)) return readOnly;
      let value = kept.get(key);
      if (value === undefined && !kept.has(key)) {
        value = Reflect.get(headers, key, headers);
        // Methods run on the real object, so Deno's brand checks see a Headers.
        if (typeof value === "function") value = value.bind(headers);
        kept.set(key, value);
      }
      return value;
    },
    set: readOnly,
    defineProperty: readOnly,
    deleteProperty: readOnly,
    setPrototypeOf: readOnly,
  });
}

/**
 * The property Deno reads a `Headers` init's entries from (its sorted, combined pairs), found
 * by watching what a Response's construction reads; undefined when this runtime reads none.
 */
function findEntriesKey(): symbol | undefined {
  const read: PropertyKey[] = [];
  const target = new Headers([["x-probe", "1"]]);
  const spy = new Proxy(target, {
    get(headers, key) {
      read.push(key);
      const value = Reflect.get(headers, key, headers);
      return typeof value === "function" ? value.bind(headers) : value;
    },
  });
  new Response(null, { headers: spy });
  const found = read.filter((key): key is symbol =>
    typeof key === "symbol" && Array.isArray(Reflect.get(target, key, target))
  );
  return found.length === 1 ? found[0] : undefined;
}

/** A header value that needs no check from Deno: printable ASCII and tabs, no CR, LF or NUL. */
const SAFE_VALUE = /^[\t\x20-\x7e]*$/;
/** A lowercase header name (an HTTP token). */
const SAFE_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Names that passed: the same few recur on every answer. */
const safeNames = new Set<string>();

function safeName(name: string): boolean {
  if (safeNames.has(name)) return true;
  if (!SAFE_NAME.test(name)) return false;
  if (safeNames.size < 64) safeNames.add(name);
  return true;
}

/**
 * The property {@linkcode keptHeaderSetWith} sets, or undefined when this runtime does not
 * take it (checked once at startup: an answer built with it must carry every header).
 */
const ENTRIES_KEY: symbol | undefined = (() => {
  const key = findEntriesKey();
  if (key === undefined) return undefined;
  const probe = extendWith(key, keptHeaderSet([["x-kept", "1"]]), [["x-extra", "2"]]);
  if (probe === undefined) return undefined;
  const seen = [...new Response(null, { headers: probe }).headers];
  return seen.length === 2 && seen[0]?.[0] === "x-extra" && seen[1]?.[1] === "1" ? key : undefined;
})();

function extendWith(
  key: symbol,
  kept: Headers,
  extra: ReadonlyArray<readonly [string, string]>,
): Headers | undefined {
  const entries = Reflect.get(kept, key) as Array<[string, string]> | undefined;
  if (!Array.isArray(entries)) return undefined;
  // An object of Headers' prototype whose own entries shadow the derived ones: Deno copies
  // them as they are, so the values are checked here, as Deno would have.
  const all = entries.slice();
  for (const [name, value] of extra) {
    if (!safeName(name) || !SAFE_VALUE.test(value)) return undefined;
    all.push([name, value]);
  }
  // A literal, not Object.create with a descriptor: a fifth of the time.
  return { __proto__: Headers.prototype, [key]: all } as unknown as Headers;
}

/**
 * `kept` plus per-request headers whose names are lowercase and not in `kept` nor repeated
 * (the caller's rule), given to `new Response` without Deno converting the kept entries again;
 * undefined when a name or value does not qualify or the runtime does not take such a set (the
 * caller then builds a plain object). For `new Response(body, { headers })` only.
 */
export function keptHeaderSetWith(
  kept: Headers,
  extra: ReadonlyArray<readonly [string, string]>,
): Headers | undefined {
  return ENTRIES_KEY === undefined ? undefined : extendWith(ENTRIES_KEY, kept, extra);
}
