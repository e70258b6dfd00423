/**
 * The OpenTelemetry API values the request path uses (enums, span-context checks, the span key
 * of a context, non-recording spans, baggage in a context, the global diag logger and context
 * manager), written here to the API's own definitions so `@opentelemetry/api` is not loaded
 * before the server answers: it is CommonJS, and loading it starts Deno's CommonJS loader
 * (node:module, node:path), ~40-60 ms of CPU at every cold start. Only its types are imported.
 *
 * Everything stays interchangeable with the API: context keys are `Symbol.for` their
 * description as `createContextKey` makes them, so `trace.getSpan` / `propagation.getBaggage` of
 * the real API read what these functions set and the other way round, and the globals are
 * read from the API's own registry (`Symbol.for("opentelemetry.js.api.1")`). Native mode, whose
 * spans Deno makes through the real API, loads it (telemetry/mod.ts).
 */
import type * as api from "@opentelemetry/api";

/** `SpanKind` of the API. */
export const SpanKind = {
  INTERNAL: 0,
  SERVER: 1,
  CLIENT: 2,
  PRODUCER: 3,
  CONSUMER: 4,
} as unknown as typeof api.SpanKind;

/** `SpanStatusCode` of the API. */
export const SpanStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as unknown as typeof api.SpanStatusCode;

/** `TraceFlags` of the API. */
export const TraceFlags = { NONE: 0, SAMPLED: 1 } as unknown as typeof api.TraceFlags;

/** `createContextKey` of the API: the key is global by its description. */
export function createContextKey(description: string): symbol {
  return Symbol.for(description);
}

const INVALID_SPANID = "0000000000000000";
const INVALID_TRACEID = "00000000000000000000000000000000";

/** The API's invalid span context. */
export const INVALID_SPAN_CONTEXT: api.SpanContext = Object.freeze({
  traceId: INVALID_TRACEID,
  spanId: INVALID_SPANID,
  traceFlags: 0 as api.TraceFlags,
});

// 1 for the character codes of 0-9, A-F and a-f, as the API's table.
const IS_HEX = new Uint8Array(103);
for (const range of ["09", "AF", "af"]) {
  for (let c = range.charCodeAt(0); c <= range.charCodeAt(1); c++) IS_HEX[c] = 1;
}

function isValidHex(id: string, length: number): boolean {
  if (typeof id !== "string" || id.length !== length) return false;
  let hex = 0;
  for (let i = 0; i < length; i++) hex += IS_HEX[id.charCodeAt(i)] ?? 0;
  return hex === length;
}

/** `isValidTraceId` of the API: 32 hex digits, not all zero. */
export function isValidTraceId(traceId: string): boolean {
  return isValidHex(traceId, 32) && traceId !== INVALID_TRACEID;
}

/** `isValidSpanId` of the API: 16 hex digits, not all zero. */
export function isValidSpanId(spanId: string): boolean {
  return isValidHex(spanId, 16) && spanId !== INVALID_SPANID;
}

/** `isSpanContextValid` of the API. */
export function isSpanContextValid(spanContext: api.SpanContext): boolean {
  return isValidTraceId(spanContext.traceId) && isValidSpanId(spanContext.spanId);
}

/** The API's NonRecordingSpan: a span context and nothing else. */
class NonRecordingSpan implements api.Span {
  readonly #spanContext: api.SpanContext;
  constructor(spanContext: api.SpanContext = INVALID_SPAN_CONTEXT) {
    this.#spanContext = spanContext;
  }
  spanContext(): api.SpanContext {
    return this.#spanContext;
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {}
  isRecording(): boolean {
    return false;
  }
  recordException(): void {}
}

const SPAN_KEY = createContextKey("OpenTelemetry Context Key SPAN");

/** The parts of the API's `trace` the app uses (the span of a context). */
export const trace = {
  getSpan(context: api.Context): api.Span | undefined {
    return (context.getValue(SPAN_KEY) as api.Span | undefined) || undefined;
  },
  setSpan(context: api.Context, span: api.Span): api.Context {
    return context.setValue(SPAN_KEY, span);
  },
  deleteSpan(context: api.Context): api.Context {
    return context.deleteValue(SPAN_KEY);
  },
  setSpanContext(context: api.Context, spanContext: api.SpanContext): api.Context {
    return context.setValue(SPAN_KEY, new NonRecordingSpan(spanContext));
  },
  getSpanContext(context: api.Context): api.SpanContext | undefined {
    return trace.getSpan(context)?.spanContext();
  },
  wrapSpanContext(spanContext: api.SpanContext): api.Span {
    return new NonRecordingSpan(spanContext);
  },
  isSpanContextValid,
};

/** What the API keeps in its global registry. */
interface ApiGlobals {
  version?: string;
  diag?: Partial<api.DiagLogger>;
  context?: api.ContextManager;
}

const GLOBAL_KEY = Symbol.for("opentelemetry.js.api.1");

/** The API's registered globals (major version 1), if anything registered one. */
function globals(): ApiGlobals | undefined {
  const registry = (globalThis as Record<symbol, ApiGlobals | undefined>)[GLOBAL_KEY];
  return registry?.version?.startsWith("1.") ? registry : undefined;
}

/** The API's `diag`: the globally registered diagnostic logger, silent without one. */
export const diag = {
  warn(message: string, ...args: unknown[]): void {
    globals()?.diag?.warn?.(message, ...args);
  },
  error(message: string, ...args: unknown[]): void {
    globals()?.diag?.error?.(message, ...args);
  },
  debug(message: string, ...args: unknown[]): void {
    globals()?.diag?.debug?.(message, ...args);
  },
};

/**
 * The API's global `context`: the registered context manager's, or (as the API's no-op
 * manager) `root` and a plain call.
 */
export const globalContext = {
  active(root: api.Context): api.Context {
    return globals()?.context?.active() ?? root;
  },
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: api.Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const manager = globals()?.context;
    return manager ? manager.with(context, fn, thisArg, ...args) : fn.call(thisArg, ...args);
  },
};

const BAGGAGE_KEY = createContextKey("OpenTelemetry Baggage Key");

/** The API's baggage: an immutable map of entries. */
class BaggageImpl implements api.Baggage {
  readonly #entries: Map<string, api.BaggageEntry>;
  constructor(entries?: Map<string, api.BaggageEntry>) {
    this.#entries = entries ? new Map(entries) : new Map();
  }
  getEntry(key: string): api.BaggageEntry | undefined {
    const entry = this.#entries.get(key);
    return entry ? Object.assign({}, entry) : undefined;
  }
  getAllEntries(): [string, api.BaggageEntry][] {
    return Array.from(this.#entries.entries());
  }
  setEntry(key: string, entry: api.BaggageEntry): BaggageImpl {
    const next = new BaggageImpl(this.#entries);
    next.#entries.set(key, entry);
    return next;
  }
  removeEntry(key: string): BaggageImpl {
    const next = new BaggageImpl(this.#entries);
    next.#entries.delete(key);
    return next;
  }
  removeEntries(...keys: string[]): BaggageImpl {
    const next = new BaggageImpl(this.#entries);
    for (const key of keys) next.#entries.delete(key);
    return next;
  }
  clear(): BaggageImpl {
    return new BaggageImpl();
  }
}

/** The baggage parts of the API's `propagation`. */
export const propagation = {
  getBaggage(context: api.Context): api.Baggage | undefined {
    return (context.getValue(BAGGAGE_KEY) as api.Baggage | undefined) || undefined;
  },
  setBaggage(context: api.Context, baggage: api.Baggage): api.Context {
    return context.setValue(BAGGAGE_KEY, baggage);
  },
  createBaggage(entries: Record<string, api.BaggageEntry> = {}): api.Baggage {
    return new BaggageImpl(new Map(Object.entries(entries)));
  },
};

/** `baggageEntryMetadataFromString` of the API. */
export function baggageEntryMetadataFromString(metadata: string): api.BaggageEntryMetadata {
  return { toString: () => metadata } as api.BaggageEntryMetadata;
}
