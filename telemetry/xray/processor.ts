/**
 * A SpanProcessor that groups finished spans under the segment begin() opened for their SERVER
 * span. Only bookkeeping happens here: the segment is found from the span's own SpanContext
 * object (the one the SDK hands a child as its parentSpanContext), so no id is hashed per span;
 * documents are built and sent in the sender's turn.
 */
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { SpanContext } from "@opentelemetry/api";
import type { SegmentInfo, SpanNode } from "./document.ts";

/** A segment begin() opened, shared by every span of its subtree. */
export interface SegmentState {
  /** Span id of the SERVER span; also the segment id. */
  rootId: string;
  info: SegmentInfo;
  status: "open" | "sent" | "unsampled" | "evicted";
  /** Finished spans waiting for their parent, by parent span id (sampled segments only). */
  children: Map<string, ReadableSpan[]> | undefined;
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
  /** Bound on open sampled segments (segments that never end are evicted, oldest first). */
  maxTracked: number;
  forceFlush: () => Promise<void>;
  shutdown: () => Promise<void>;
}

/** The tracker: begin() registers segments, the processor feeds spans. */
export interface SegmentTracker {
  /** Remembers the segment of a SERVER span, by that span's context. */
  register(context: SpanContext, state: SegmentState): void;
  /** The segment an unfinished span belongs to (outgoing calls name it in headers). */
  stateOf(context: SpanContext): SegmentState | undefined;
  readonly processor: SpanProcessor;
}

/** Creates the span bookkeeping for the X-Ray sink. */
export function createSegmentTracker(options: SegmentTrackerOptions): SegmentTracker {
  const { enqueue, counters } = options;
  /**
   * Unfinished span → its segment. Weak: a span nobody holds any more (never ended) takes its
   * entry with it, so only open sampled segments, which hold buffered children, need a bound.
   */
  const owners = new WeakMap<SpanContext, SegmentState>();
  /** Open sampled segments by root id; insertion order gives oldest-first eviction. */
  const open = new Map<string, SegmentState>();
  let bufferedTotal = 0;

  function evictOldest(): void {
    const oldest = open.values().next();
    if (oldest.done) return;
    const state = oldest.value;
    open.delete(state.rootId);
    counters.spans_evicted++;
    counters.segments_evicted++;
    state.status = "evicted";
    bufferedTotal -= state.buffered;
    counters.buffered_spans_dropped += state.buffered;
    state.buffered = 0;
    state.children?.clear();
  }

  /** Drops what waits for a parent that will never be sent. */
  function release(state: SegmentState, parentId: string): void {
    if (state.children?.get(parentId) === undefined) return;
    counters.buffered_spans_dropped += countSubtree(state, parentId);
    take(state, parentId);
  }

  function countSubtree(state: SegmentState, parentId: string): number {
    let count = 0;
    for (const child of state.children?.get(parentId) ?? []) {
      count += 1 + countSubtree(state, child.spanContext().spanId);
    }
    return count;
  }

  /** Removes and returns the finished subtree under `parentId`. */
  function take(state: SegmentState, parentId: string): SpanNode[] {
    const waiting = state.children?.get(parentId);
    if (waiting === undefined) return [];
    state.children!.delete(parentId);
    state.buffered -= waiting.length;
    bufferedTotal -= waiting.length;
    const nodes: SpanNode[] = new Array(waiting.length);
    for (let i = 0; i < waiting.length; i++) {
      const span = waiting[i]!;
      nodes[i] = { span, children: take(state, span.spanContext().spanId) };
    }
    return nodes;
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
        const children = state.children ??= new Map();
        const list = children.get(parentId);
        if (list === undefined) children.set(parentId, [span]);
        else list.push(span);
        state.buffered++;
        bufferedTotal++;
      }
    }
  }

  const processor: SpanProcessor = {
    onStart(span: Span): void {
      const parent = span.parentSpanContext;
      if (parent === undefined) return;
      const state = owners.get(parent);
      if (state !== undefined) owners.set(span.spanContext(), state);
    },
    onEnd(span: ReadableSpan): void {
      const context = span.spanContext();
      const state = owners.get(context);
      if (state === undefined) return;
      owners.delete(context);
      const spanId = context.spanId;
      if (spanId !== state.rootId) {
        onChildEnd(span, spanId, state);
        return;
      }
      // Unsampled or evicted: the children still buffered went with it.
      if (state.status !== "open") return;
      open.delete(spanId);
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
    register(context: SpanContext, state: SegmentState): void {
      owners.set(context, state);
      if (state.status !== "open") return;
      if (open.size >= options.maxTracked) evictOldest();
      open.set(state.rootId, state);
    },
    stateOf(context: SpanContext): SegmentState | undefined {
      return owners.get(context);
    },
    processor,
  };
}
