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
  /**
   * Finished children of the SERVER span waiting for it (sampled segments only): kept apart
   * from the deeper levels, so the usual request (every span a child of the SERVER span) needs
   * no map and no hashing of span ids.
   */
  direct: ReadableSpan[] | undefined;
  /** Finished deeper spans waiting for their parent, by parent span id. */
  children: Map<string, ReadableSpan[]> | undefined;
  buffered: number;
  /** Neighbours in the tracker's list of open sampled segments (oldest first). */
  older: SegmentState | undefined;
  newer: SegmentState | undefined;
}

/** A new segment's state: open when sampled, else only a marker its spans look up. */
export function segmentState(rootId: string, info: SegmentInfo, sampled: boolean): SegmentState {
  return {
    rootId,
    info,
    status: sampled ? "open" : "unsampled",
    direct: undefined,
    children: undefined,
    buffered: 0,
    older: undefined,
    newer: undefined,
  };
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
  /**
   * Open sampled segments, a list threaded through the states (oldest first, for eviction):
   * adding and removing one is a few field writes, no hashing of its id.
   */
  let oldest: SegmentState | undefined;
  let newest: SegmentState | undefined;
  let openCount = 0;
  let bufferedTotal = 0;

  function link(state: SegmentState): void {
    state.older = newest;
    state.newer = undefined;
    if (newest === undefined) oldest = state;
    else newest.newer = state;
    newest = state;
    openCount++;
  }

  function unlink(state: SegmentState): void {
    const { older, newer } = state;
    if (older === undefined) oldest = newer;
    else older.newer = newer;
    if (newer === undefined) newest = older;
    else newer.older = older;
    state.older = state.newer = undefined;
    openCount--;
  }

  function evictOldest(): void {
    const state = oldest;
    if (state === undefined) return;
    unlink(state);
    counters.spans_evicted++;
    counters.segments_evicted++;
    state.status = "evicted";
    bufferedTotal -= state.buffered;
    counters.buffered_spans_dropped += state.buffered;
    state.buffered = 0;
    state.direct = undefined;
    state.children?.clear();
  }

  /** The finished spans waiting for `parentId`, if any. */
  function waitingFor(state: SegmentState, parentId: string): ReadableSpan[] | undefined {
    return parentId === state.rootId ? state.direct : state.children?.get(parentId);
  }

  /** Drops what waits for a parent that will never be sent. */
  function release(state: SegmentState, parentId: string): void {
    if (waitingFor(state, parentId) === undefined) return;
    counters.buffered_spans_dropped += countSubtree(state, parentId);
    take(state, parentId);
  }

  function countSubtree(state: SegmentState, parentId: string): number {
    let count = 0;
    for (const child of waitingFor(state, parentId) ?? []) {
      count += 1 + countSubtree(state, child.spanContext().spanId);
    }
    return count;
  }

  /** Removes and returns the finished subtree under `parentId`. */
  function take(state: SegmentState, parentId: string): SpanNode[] {
    let waiting: ReadableSpan[] | undefined;
    if (parentId === state.rootId) {
      waiting = state.direct;
      if (waiting === undefined) return [];
      state.direct = undefined;
    } else {
      // Leaves are the rule: without deeper spans waiting there is nothing to look up.
      if (state.children === undefined) return [];
      waiting = state.children.get(parentId);
      if (waiting === undefined) return [];
      state.children.delete(parentId);
    }
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
        if (parentId === state.rootId) {
          if (state.direct === undefined) state.direct = [span];
          else state.direct.push(span);
        } else {
          const children = state.children ??= new Map();
          const list = children.get(parentId);
          if (list === undefined) children.set(parentId, [span]);
          else list.push(span);
        }
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
      unlink(state);
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
      if (openCount >= options.maxTracked) evictOldest();
      link(state);
    },
    stateOf(context: SpanContext): SegmentState | undefined {
      return owners.get(context);
    },
    processor,
  };
}
