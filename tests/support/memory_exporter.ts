/**
 * A synchronous in-memory span exporter. The stock InMemorySpanExporter reports through
 * setTimeout, which Deno's leak checker flags; this one calls back at once.
 */
import { ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";

/** Collects finished spans in memory. */
export class SyncMemoryExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    this.spans.push(...spans);
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  reset(): void {
    this.spans.length = 0;
  }
  /** The span named `name`; throws when absent so a test fails with a clear message. */
  byName(name: string): ReadableSpan {
    const span = this.spans.find((s) => s.name === name);
    if (!span) {
      throw new Error(`No span named ${name}; have: ${this.spans.map((s) => s.name).join(", ")}`);
    }
    return span;
  }
}
