/**
 * A SpanProcessor that groups finished spans under the segment begin() opened for their SERVER
 * span. Only bookkeeping happens here (map look-ups); documents are built when the batch flushes.
 */
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { SegmentInfo, SpanNode } from "./document.ts";

/** A segment begin() opened, shared by every span of its subtree. */
export interface SegmentState {
  /** Span id of the SERVER span; also the segment id. */
  rootId: string;
  otelTraceId: string;
  info: SegmentInfo;
  status: "open" | "sent" | "unsampled" | "evicted";
  /** Finished spans waiting for their parent, by parent span id. */
  children: Map<string, ReadableSpan[]>;
  buffered: number;
}

/** What the processor hands to the sender. */
export interface QueueItem {
  kind: "segment" | "subsegment";
  info: SegmentInfo;
  node: SpanNode;
}

/** Counters the tracker keeps for details(). */
export interface TrackerCounters {
  unsampled_spans_discarded: number;
  buffered_spans_dropped: number;
  spans_evicted: number;
  segments_evicted: number;
}

/** Options for {@link createSegmentTracker}. */
export interface SegmentTrackerOptions {
  enqueue: (item: QueueItem) => void;
  counters: TrackerCounters;
  /** Bound on finished child spans held while their segment is open. */
  maxBuffered: number;
  /** Bound on unfinished spans tracked (segments that never end are evicted, oldest first). */
  maxTracked: number;
  forceFlush: () => Promise<void>;
  shutdown: () => Promise<void>;
}

/** The tracker: begin() registers segments, the processor feeds spans. */
export interface SegmentTracker {
  register(state: SegmentState): void;
  /** The open segment an unfinished span belongs to (outgoing calls name it in headers). */
  stateOf(spanId: string): SegmentState | undefined;
  readonly processor: SpanProcessor;
}

/** Creates the span bookkeeping for the X-Ray sink. */
export function createSegmentTracker(options: SegmentTrackerOptions): SegmentTracker {
  const { enqueue, counters } = options;
  /** Unfinished span id → its segment; insertion order gives oldest-first eviction. */
  const owners = new Map<string, SegmentState>();
  let bufferedTotal = 0;

  function track(spanId: string, state: SegmentState): void {
    if (owners.size >= options.maxTracked) evictOldest();
    owners.set(spanId, state);
  }

  function evictOldest(): void {
    const oldest = owners.entries().next();
    if (oldest.done) return;
    const [spanId, state] = oldest.value;
    owners.delete(spanId);
    counters.spans_evicted++;
    if (spanId === state.rootId && state.status === "open") {
      state.status = "evicted";
      counters.segments_evicted++;
      bufferedTotal -= state.buffered;
      counters.buffered_spans_dropped += state.buffered;
      state.buffered = 0;
      state.children.clear();
      return;
    }
    release(state, spanId);
  }

  /** Drops what waits for a parent that will never end. */
  function release(state: SegmentState, parentId: string): void {
    const waiting = state.children.get(parentId);
    if (waiting === undefined) return;
    const count = countSubtree(state, parentId);
    counters.buffered_spans_dropped += count;
    take(state, parentId);
  }

  function countSubtree(state: SegmentState, parentId: string): number {
    let count = 0;
    for (const child of state.children.get(parentId) ?? []) {
      count += 1 + countSubtree(state, child.spanContext().spanId);
    }
    return count;
  }

  /** Removes and returns the finished subtree under `parentId`. */
  function take(state: SegmentState, parentId: string): SpanNode[] {
    const waiting = state.children.get(parentId);
    if (waiting === undefined) return [];
    state.children.delete(parentId);
    state.buffered -= waiting.length;
    bufferedTotal -= waiting.length;
    return waiting.map((span) => ({ span, children: take(state, span.spanContext().spanId) }));
  }

  function onChildEnd(span: ReadableSpan, spanId: string, state: SegmentState): void {
    switch (state.status) {
      case "unsampled":
        counters.unsampled_spans_discarded++;
        return;
      case "evicted":
        counters.buffered_spans_dropped++;
        return;
      case "sent":
        // Its segment is gone: send it, with its finished subtree, as its own document.
        enqueue({
          kind: "subsegment",
          info: state.info,
          node: { span, children: take(state, spanId) },
        });
        return;
      case "open": {
        const parentId = span.parentSpanContext?.spanId;
        if (parentId === undefined) return;
        if (bufferedTotal >= options.maxBuffered) {
          counters.buffered_spans_dropped += 1;
          release(state, spanId);
          return;
        }
        const list = state.children.get(parentId);
        if (list === undefined) state.children.set(parentId, [span]);
        else list.push(span);
        state.buffered++;
        bufferedTotal++;
      }
    }
  }

  const processor: SpanProcessor = {
    onStart(span: Span, _parentContext: Context): void {
      const parent = span.parentSpanContext;
      if (parent === undefined) return;
      const state = owners.get(parent.spanId);
      if (state === undefined || parent.traceId !== state.otelTraceId) return;
      track(span.spanContext().spanId, state);
    },
    onEnd(span: ReadableSpan): void {
      const spanId = span.spanContext().spanId;
      const state = owners.get(spanId);
      if (state === undefined) return;
      owners.delete(spanId);
      if (spanId !== state.rootId) {
        onChildEnd(span, spanId, state);
        return;
      }
      if (state.status !== "open") {
        // Unsampled: the children still buffered are discarded with it.
        return;
      }
      state.status = "sent";
      enqueue({ kind: "segment", info: state.info, node: { span, children: take(state, spanId) } });
    },
    forceFlush(): Promise<void> {
      return options.forceFlush();
    },
    shutdown(): Promise<void> {
      return options.shutdown();
    },
  };

  return {
    register(state: SegmentState): void {
      track(state.rootId, state);
    },
    stateOf(spanId: string): SegmentState | undefined {
      return owners.get(spanId);
    },
    processor,
  };
}
