/**
 * `traced(name, fn)`: one child span around a service call (the X-Ray subsegment is derived
 * from it when the span ends). The lifecycle is the one OpenTelemetry instrumentations use:
 * start, run inside the span's context, record a thrown error with ERROR status, end.
 */
import type { Attributes, Span, SpanKind, Tracer } from "@opentelemetry/api";
import { SpanStatusCode, trace } from "./otel_api.ts";
import { activeSecrets, type ContextStore, RANDOM_TRACE_ID_KEY } from "./context.ts";
import { scrubText } from "./scrub.ts";

/** The attribute naming the X-Ray subsegment when it differs from the span name. */
export const XRAY_NAME_ATTRIBUTE = "aws.xray.name";

/** Records `error` on `span` as an exception event with secrets scrubbed, and sets ERROR. */
export function recordError(span: Span, error: unknown, secrets?: ReadonlySet<string>): void {
  const err = error instanceof Error ? error : new Error(String(error));
  const message = scrubText(err.message, secrets);
  span.recordException({
    name: err.name,
    message,
    ...(err.stack ? { stack: scrubText(err.stack, secrets) } : {}),
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * Creates `traced` bound to a tracer and a context store. `randomRoots`: a span started outside
 * any trace gets a random trace id (telemetry/ids.ts), which outgoing headers then flag.
 */
export function createTraced(tracer: Tracer, store: ContextStore, randomRoots = false) {
  return function traced<T>(
    name: string,
    fn: (span: Span) => T | Promise<T>,
    options?: { xrayName?: string; kind?: SpanKind; attributes?: Attributes },
  ): Promise<T> {
    const parent = store.active();
    // Remote calls (database queries) say so with kind CLIENT and their attributes up front.
    const attributes = options?.xrayName
      ? { ...options.attributes, [XRAY_NAME_ATTRIBUTE]: options.xrayName }
      : options?.attributes;
    const span = tracer.startSpan(
      name,
      options?.kind !== undefined || attributes !== undefined
        ? {
          ...(options?.kind !== undefined ? { kind: options.kind } : {}),
          ...(attributes ? { attributes } : {}),
        }
        : undefined,
      parent,
    );
    const fail = (error: unknown): never => {
      recordError(span, error, activeSecrets(store));
      span.end();
      throw error;
    };
    try {
      let ctx = trace.setSpan(parent, span);
      if (randomRoots && trace.getSpan(parent) === undefined) {
        ctx = ctx.setValue(RANDOM_TRACE_ID_KEY, true);
      }
      const result = store.with(ctx, fn, undefined, span);
      if (result instanceof Promise) {
        return result.then((value) => {
          span.end();
          return value;
        }, fail);
      }
      span.end();
      return Promise.resolve(result);
    } catch (error) {
      try {
        fail(error);
      } catch {
        // fail() rethrows by design; turn it into a rejection below.
      }
      return Promise.reject(error);
    }
  };
}
