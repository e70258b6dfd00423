/**
 * Where the active OpenTelemetry context lives. SDK mode keeps it in our own
 * AsyncLocalStorage (never registered globally, so tests and apps do not share it): what
 * `@opentelemetry/context-async-hooks`' manager does, without its layer (a bound function
 * per call, an event-emitter patcher) or its load before the server listens. Native mode uses
 * Deno's, found in the API's global registry, where Deno puts it (telemetry/otel_api.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Context } from "@opentelemetry/api";
import { createContextKey, globalContext } from "./otel_api.ts";

/** The two operations the telemetry module needs from a context manager. */
export interface ContextStore {
  active(): Context;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F>;
  /** Releases the storage (SDK mode). */
  disable(): void;
}

/**
 * An OpenTelemetry Context as a chain of (key, value) links. The API's own context copies its
 * whole Map on every `setValue`, and a request sets four or five values (the remote parent,
 * the SERVER span, its secrets, the service span): a link is one small object, and a look-up
 * walks a chain that short.
 */
class LinkedContext implements Context {
  constructor(
    private readonly parent: LinkedContext | undefined,
    private readonly key: symbol | undefined,
    private readonly value: unknown,
    /** A `deleteValue` link: the key reads as unset from here on. */
    private readonly deleted = false,
  ) {}
  getValue(key: symbol): unknown {
    if (this.key === key) return this.deleted ? undefined : this.value;
    return this.parent?.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context {
    return new LinkedContext(this, key, value);
  }
  deleteValue(key: symbol): Context {
    return new LinkedContext(this, key, undefined, true);
  }
}

/** The empty context requests start from (see LinkedContext). */
export const REQUEST_ROOT_CONTEXT: Context = new LinkedContext(undefined, undefined, undefined);

/** Secret values seen in the current request, scrubbed from every text that leaves. */
export const SECRETS_KEY = createContextKey("cruddur.request.secrets");

/** Creates the context store for a tracing mode. */
export function createContextStore(mode: "sdk" | "native" | "disabled"): ContextStore {
  if (mode === "native") {
    return {
      active: () => globalContext.active(REQUEST_ROOT_CONTEXT),
      with: (ctx, fn, thisArg, ...args) => globalContext.with(ctx, fn, thisArg, ...args),
      disable() {},
    };
  }
  const storage = new AsyncLocalStorage<Context>();
  return {
    active: () => storage.getStore() ?? REQUEST_ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) =>
      storage.run(ctx, thisArg === undefined ? fn : fn.bind(thisArg), ...args),
    disable: () => storage.disable(),
  };
}

/** The secrets of the active request, if any. */
export function activeSecrets(store: ContextStore): Set<string> | undefined {
  return store.active().getValue(SECRETS_KEY) as Set<string> | undefined;
}

/**
 * Set when the request's trace id carries W3C Level 2's random-trace-id flag. The SDK keeps
 * only the sampled bit in its span contexts, so outgoing headers read the other bit here.
 */
export const RANDOM_TRACE_ID_KEY = createContextKey("cruddur.trace.random");
