/**
 * The router: Hono's TrieRouter, with the match of a path that names a static route kept.
 * Our routes put static segments and parameters side by side (`/api/activities/home` next to
 * `/api/activities/:uuid`), which Hono's RegExpRouter refuses (UnsupportedPathError), so
 * Hono's default SmartRouter falls back to the TrieRouter, which splits and walks the path and
 * tries every pattern on every request. A static path matches the same handlers every time, so
 * its result is computed once per method: a look-up instead of a walk (the home feed, the
 * notifications, search, the health check). Paths with parameters are walked as before.
 */
import type { Result, Router } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";

/** Methods whose static matches are kept; any other is walked (so a client cannot grow it). */
const KEPT_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/** A path with no parameter, wildcard or optional part. */
const STATIC_PATH = /^[^:*?{}]*$/;

/** Hono's TrieRouter with static matches kept (see the module doc). */
export class StaticFirstRouter<T> implements Router<T> {
  readonly name = "StaticFirstRouter";
  readonly #trie = new TrieRouter<T>();
  readonly #staticPaths = new Set<string>();
  /** path → method → the trie's result; only static route paths and KEPT_METHODS. */
  readonly #kept = new Map<string, Map<string, Result<T>>>();

  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (STATIC_PATH.test(path)) this.#staticPaths.add(path);
    // A route added after a match may change what a kept path matches.
    this.#kept.clear();
  }

  match(method: string, path: string): Result<T> {
    if (!KEPT_METHODS.has(method) || !this.#staticPaths.has(path)) {
      return this.#trie.match(method, path);
    }
    let byMethod = this.#kept.get(path);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.#kept.set(path, byMethod);
    }
    let result = byMethod.get(method);
    if (result === undefined) {
      result = this.#trie.match(method, path);
      byMethod.set(method, result);
    }
    return result;
  }
}
